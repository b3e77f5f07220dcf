"""Server-sent events of an OpenAI-compatible `/v1/completions` stream, line by line.

Only `data:` lines matter (each one JSON chunk, or `[DONE]`); comments (`:` keep-alives),
`event:`/`id:`/`retry:` fields and blank lines are skipped, as the SSE spec says. A `data:`
line that is not a JSON object is malformed: the caller ends the completion with that reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


class MalformedStream(ValueError):
    """A `data:` line that is neither `[DONE]` nor a completion chunk."""


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None  # the engine's: stop | length | None while running
    usage: dict[str, Any] = field(default_factory=dict)
    done: bool = False  # `data: [DONE]`


def parse_line(line: str) -> Chunk | None:
    """The chunk a line carries, or None for a line that carries none."""
    if not line.startswith("data:"):
        return None  # blank line, comment, or another field
    data = line[5:].strip()
    if data == DONE:
        return Chunk(done=True)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as error:
        raise MalformedStream(f"a data line is not JSON ({error.msg}): {data[:80]!r}") from error
    if not isinstance(payload, dict):
        raise MalformedStream(f"a data line is not a JSON object: {data[:80]!r}")
    if isinstance(payload.get("error"), dict | str):  # an engine's error mid-stream
        reported = payload["error"]
        message = reported.get("message", reported) if isinstance(reported, dict) else reported
        raise MalformedStream(f"the engine reported an error mid-stream: {message}")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise MalformedStream(f"a chunk without choices: {data[:80]!r}")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    if not choices:  # vLLM's usage-only chunk (stream_options.include_usage)
        return Chunk(usage=usage or {})
    choice = choices[0]
    if not isinstance(choice, dict) or not isinstance(choice.get("text", ""), str):
        raise MalformedStream(f"a choice without text: {data[:80]!r}")
    reason = choice.get("finish_reason")
    return Chunk(
        text=choice.get("text") or "",
        finish_reason=str(reason) if reason else None,
        usage=usage or {},
    )
