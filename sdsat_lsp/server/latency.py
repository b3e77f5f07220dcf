"""Latency log: one JSON object per completion, for window/logMessage and an optional file.

Owns the record's field names (documented in docs/protocol.md, read back by `sdsat-lsp profile`)
and the file writer. Knows nothing of LSP or the engine's internals: the server fills a
`LatencyRecord` from its own clocks and the engine's `GenerationStats.to_dict()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOG_PREFIX = "sdsat-latency "
OUTCOMES = ("done", "cancelled", "stale", "error")

# Engine stats copied into the record, under the same names (see GenerationStats.to_dict()).
ENGINE_FIELDS = (
    "prompt_tokens",
    "reused_prefix_tokens",
    "prefill_ms",
    "new_tokens",
    "forward_passes",
    "drafted_tokens",
    "accepted_tokens",
    "accepted_per_round",
    "tokens_per_pass",
    "tokens_per_second",
    # a remote engine (sdsat_lsp/remote): network and engine clocks, what the engine reported
    "backend",
    "connect_ms",
    "first_byte_ms",
    "first_token_ms",
    "usage_prompt_tokens",
    "usage_completion_tokens",
)


@dataclass
class LatencyRecord:
    """One completion request, from arrival at the server to its answer.

    Server clocks (milliseconds since the request arrived): `queue_wait_ms` until the worker
    started the job, `context_ms` building the prompt, `first_delta_ms` until the first
    streamed text was handed to the event loop, `total_ms` until the answer. Engine fields are
    zero when the job never reached the engine (dropped from the queue, model not loaded).
    """

    request_id: int | str | None
    uri: str
    version: int
    outcome: str = "done"
    strategy: str = ""
    k: int = 0
    queue_wait_ms: float = 0.0
    context_ms: float = 0.0
    encode_ms: float = 0.0
    generate_ms: float = 0.0
    first_delta_ms: float | None = None
    total_ms: float = 0.0
    finish_reason: str = ""
    shape: str = ""
    prompt_tokens: int = 0
    reused_prefix_tokens: int = 0
    prefill_ms: float = 0.0
    new_tokens: int = 0
    forward_passes: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    accepted_per_round: float = 0.0
    tokens_per_pass: float = 0.0
    tokens_per_second: float = 0.0
    backend: str = "local"
    # Remote engine only (null for the local one), milliseconds from sending the request:
    # a new connection (0 when one was reused), the response headers, the first token.
    connect_ms: float | None = None
    first_byte_ms: float | None = None
    first_token_ms: float | None = None
    usage_prompt_tokens: int | None = None  # the engine's own count (`usage`), when it sent one
    usage_completion_tokens: int | None = None
    error: str = ""
    # Document text: only filled (and only written) when logLevel is debug.
    debug: dict[str, Any] = field(default_factory=dict)

    def add_engine_stats(self, stats: dict[str, Any]) -> None:
        for name in ENGINE_FIELDS:
            if stats.get(name) is not None:
                setattr(self, name, stats[name])
        self.strategy = str(stats.get("strategy") or self.strategy)
        self.k = int(stats.get("k") or self.k)

    def to_dict(self, *, include_text: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"event": "completion"}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "debug":
                if include_text and value:
                    data.update(value)
                continue
            data[item.name] = round(value, 2) if isinstance(value, float) else value
        return data


def format_record(record: LatencyRecord, *, include_text: bool = False) -> str:
    """The JSON line (no prefix, no newline)."""
    return json.dumps(record.to_dict(include_text=include_text), ensure_ascii=False)


def not_a_log_file(target: Path) -> str | None:
    """Why `target` must not be a log (a terminal, a pipe, this process's stdio), or None."""
    try:
        found = target.stat()
    except OSError:
        return None  # a new file
    if not stat.S_ISREG(found.st_mode):
        return "not a regular file (a terminal, a pipe or a device)"
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            own = os.fstat(fd)
            if (own.st_dev, own.st_ino) == (found.st_dev, found.st_ino):
                return "it is this server's standard input, output or error"
    return None


class LatencyLog:
    """Appends JSON lines to a file; a file that cannot be written is reported once, then off."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path | None:
        return self._path

    def open(self, path: str) -> str | None:
        """Point the log at `path` ("" turns it off). Returns a problem message, or None."""
        with self._lock:
            self._path = None
            if not path:
                return None
            target = Path(path).expanduser()
            if (problem := not_a_log_file(target)) is not None:
                return f"latency log {target} refused: {problem}"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("a", encoding="utf-8"):
                    pass
            except OSError as error:
                return f"cannot write the latency log {target}: {error}"
            self._path = target
            return None

    def write(self, line: str) -> None:
        with self._lock:
            if self._path is None:
                return
            try:
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as error:
                logger.warning("latency log %s turned off: %s", self._path, error)
                self._path = None


def parse_line(line: str) -> dict[str, Any] | None:
    """A latency record from a log-file line or a logMessage text; None for anything else."""
    text = line.strip()
    if text.startswith(LOG_PREFIX):
        text = text[len(LOG_PREFIX) :]
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("event") != "completion":
        return None
    return data
