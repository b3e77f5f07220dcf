"""The typing replay behind `sdsat-lsp demo`: where to pause in a file and what to type.

`replay` opens the file (cut before its first function) in a running `Session` and types on:
at each stop it types the start of a line one keystroke at a time, requesting a completion
after every keystroke as an editor without debounce would (each request supersedes the
previous one), then waits for the last one. What is shown is the caller's `DemoView`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from sdsat_lsp.server.client import Completion, Session

SAMPLE = Path(__file__).with_name("demo_sample.py")


def cut_point(line: str) -> int | None:
    """Where the demo pauses in `line` (after `(`, `= ` or `return `); None: typed whole."""
    body = line.lstrip()
    indent = len(line) - len(body)
    if not body or body.startswith(("#", "@", '"""', "import", "from")):
        return None
    for marker in ("return ", "(", "= "):
        index = body.find(marker)
        if index > 0 or (index == 0 and marker == "return "):
            return indent + index + len(marker)
    return None


def plan_stops(lines: list[str], first: int, stops: int) -> list[int]:
    """Line numbers to pause in, spread over the lines after `first`."""
    candidates = [n for n in range(first, len(lines)) if cut_point(lines[n]) is not None]
    if len(candidates) <= stops:
        return candidates
    step = len(candidates) / stops
    return [candidates[int(i * step)] for i in range(stops)]


def first_body_line(lines: list[str]) -> int:
    for number, line in enumerate(lines):
        if line.startswith(("def ", "class ", "async def ", "function ", "fn ", "func ")):
            return number
    return min(len(lines) // 3, len(lines))


class DemoView(Protocol):
    """What `replay` reports to: the line being typed, and each finished completion."""

    def typing(self, number: int, typed: str) -> None: ...

    def final(
        self, completion: Completion, record: dict[str, Any] | None, cancelled: int
    ) -> None: ...


async def replay(
    session: Session, path: Path, text: str, stops: int, typing_s: float, screen: DemoView
) -> list[Completion]:
    lines = text.split("\n")
    first = first_body_line(lines)
    pauses = set(plan_stops(lines, first, stops))
    session.open(path.resolve().as_uri(), "".join(line + "\n" for line in lines[:first]))
    finals: list[Completion] = []
    for number in range(first, len(lines)):
        line = lines[number]
        ending = "\n" if number + 1 < len(lines) else ""
        if number not in pauses:
            session.type(line + ending)
            continue
        cut = cut_point(line) or len(line)
        requests: list[Completion] = []
        for index, char in enumerate(line[:cut]):
            session.type(char)
            screen.typing(number, line[: index + 1])
            requests.append(session.request())
            await asyncio.sleep(typing_s)
        last = requests[-1]
        await last.done.wait()
        await asyncio.gather(*(request.done.wait() for request in requests))
        cancelled = sum(1 for request in requests[:-1] if request.error == "cancelled")
        record = next(
            (r for r in session.latency_records if r.get("request_id") == last.request_id),
            None,
        )
        screen.final(last, record, cancelled)
        finals.append(last)
        session.type(line[cut:] + ending)
    return finals
