"""Stop-rule evaluation on the default model: tokens saved, and whether completions end at
block boundaries, over completion points cut from real code that is not in the tests.

    sdsat-lsp bench stop-rules [--max-new-tokens 64] [--limit N] [--json FILE]

Points come from files already on this machine (installed Python packages, Go/Rust/TS/JS
sources shipped with tools; missing files are skipped). In each file, at a fixed spot per
kind, the code is cut back the way a user types it:

    opener   end of a block header (`def f(x):`, `... {`), the block's body removed
    blank    an indented statement inside a block replaced by its indentation (`    |`)
    assign   right after `= ` with the rest of the line removed
    call     right after the `(` of a call with the rest of the line removed
    comment  end of a whole-line comment that is followed by code

Each point goes through the completion pipeline (`sdsat_lsp.pipeline`, as in the editor)
twice, greedily: with its stop rules, which gives the completion and the tokens a stopped run
generates, and without them, to the token limit or EOS (reusing the first run's prompt cache).
Boundary judgement, by tree-sitter: the completion ends at a boundary when generation
stopped by itself (a stop rule or end of sequence, not the token limit) and the document
with the completion inserted has no more syntax errors (ERROR or MISSING nodes) on the
completion's lines than it had there before, a header left open for its body (`for x in y:`,
`if (x) {`) aside. An empty completion counts as neither.

It lives with the benchmarks, not in the context package: it loads the engine (torch), which
the context package never imports.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsat_lsp.config import Settings
from sdsat_lsp.context.document import Document, DocumentStore
from sdsat_lsp.context.languages import language_for
from sdsat_lsp.context.syntax import indent_width
from sdsat_lsp.pipeline import CompletionBackend, complete

_SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
_PACKAGES = _SITE / "site-packages"
SOURCES = [
    _PACKAGES / "click" / "utils.py",
    _PACKAGES / "click" / "parser.py",
    _PACKAGES / "jinja2" / "utils.py",
    _PACKAGES / "h11" / "_connection.py",
    _PACKAGES / "attr" / "validators.py",
    _PACKAGES / "idna" / "core.py",
    Path("/usr/share/doc/git/contrib/persistent-https/proxy.go"),
    Path("/usr/share/doc/git/contrib/persistent-https/client.go"),
    Path(
        "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/"
        "error_codes/main.rs"
    ),
    Path("/root/.npm/_npx/c463d28440264a05/node_modules/exponential-backoff/src/backoff.ts"),
    Path("/root/.npm/_npx/c463d28440264a05/node_modules/picomatch/lib/utils.js"),
]
KINDS = ("opener", "blank", "assign", "call", "comment")
_ASSIGN = re.compile(r"^\s*[\w.\[\]\"']+(\s*:\s*[\w\[\], .]+)?\s*(=|:=)\s+\S")
_CALL = re.compile(r"^\s*(return\s+|[\w.]+\s*(=|:=)\s*)?[\w.]+\(\S")
_MID_LINE = {"assign": _ASSIGN, "call": _CALL}


@dataclass(frozen=True)
class Point:
    source: str  # file name and 0-based line
    kind: str
    language: str
    text: str  # the document as the user has it
    cursor: int  # offset in `text`


@dataclass(frozen=True)
class Outcome:
    point: str
    kind: str
    language: str
    shape: str
    reason: str
    tokens_to_limit: int  # generated without stop rules (to EOS or the limit)
    tokens_with_stop: int
    finish: str  # with stop rules: stop | eos | length
    completion: str
    boundary: bool


# -- points ---------------------------------------------------------------------------------


def _candidates(lines: list[str], kind: str, indented: bool) -> Iterator[tuple[int, int, str]]:
    """(line, column, replacement text of the document from that line on) per candidate."""
    opener = ":" if indented else "{"
    for number, line in enumerate(lines[:-2]):
        code = line.rstrip()
        stripped = code.strip()
        if not stripped or stripped.startswith(("#", "//", "*", "/*", "@")):
            if kind == "comment" and stripped.startswith(("#", "//")) and number:
                following = lines[number + 1]
                if following.strip() and not following.strip().startswith(("#", "//")):
                    yield number, len(code), ""
            continue
        width = indent_width(line)
        if kind == "opener" and code.endswith(opener) and indent_width(lines[number + 1]) > width:
            end = number + 1
            while end < len(lines) and (not lines[end].strip() or indent_width(lines[end]) > width):
                end += 1
            if end - number >= 3:
                yield number, len(code), "\n" + "".join(lines[end:])
        elif kind == "blank" and width > 0 and number > 0:
            above = lines[number - 1]
            if (
                above.strip()
                and indent_width(above) == width
                and not above.rstrip().endswith((",", "(", "[", "{", "\\"))
            ):
                yield number, len(line) - len(line.lstrip()), "\n" + "".join(lines[number + 1 :])
        elif kind in ("assign", "call") and (match := _MID_LINE[kind].match(code)):
            yield number, match.end() - 1, "\n" + "".join(lines[number + 1 :])


def points_in(path: Path, per_kind: int) -> list[Point]:
    language = language_for(str(path))
    if language is None or not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    indented = language == "python"
    found = []
    for kind in KINDS:
        candidates = [c for c in _candidates(lines, kind, indented) if c[0] >= len(lines) // 5]
        # Spread the picks over the file, deterministically.
        step = max(len(candidates) // per_kind, 1)
        for line, column, rest in candidates[::step][:per_kind]:
            head = "".join(lines[:line]) + lines[line][:column]
            if kind == "comment":
                rest = lines[line][column:] + "".join(lines[line + 1 :])
            found.append(Point(f"{path.name}:{line}", kind, language, head + rest, len(head)))
    return found


# -- judgement ------------------------------------------------------------------------------


def _error_rows(document: Document, first: int, last: int) -> int:
    tree = document.tree
    if tree is None:
        return 0
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_point[0] < first or node.start_point[0] > last:
            continue
        if node.type == "ERROR" or node.is_missing:
            count += 1
        stack.extend(node.children)
    return count


def ends_at_boundary(point: Point, completion: str, finish: str) -> bool:
    if not completion.strip() or finish == "length":
        return False
    store = DocumentStore()
    store.open("file:///before", point.language, point.text, 0)
    inserted = point.text[: point.cursor] + completion + point.text[point.cursor :]
    store.open("file:///after", point.language, inserted, 0)
    before, after = store.get("file:///before"), store.get("file:///after")
    first = before.line_of(point.cursor)
    last = after.line_of(point.cursor + len(completion))
    if completion.rstrip().endswith((":", "{")):
        return True  # a header whose body comes next: the statement itself is complete
    return _error_rows(after, first, last) <= _error_rows(before, first, first)


# -- generation -----------------------------------------------------------------------------


def evaluate(
    points: list[Point],
    max_new_tokens: int,
    context_tokens: int,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every point on the default model; `progress` sees each outcome."""
    from sdsat_lsp.engine import Engine

    settings = Settings(
        device="cpu", strategy="ar", max_new_tokens=max_new_tokens, context_tokens=context_tokens
    )
    engine = Engine.load(settings)
    outcomes = []
    for point in points:
        outcome = evaluate_point(engine, point, settings)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def evaluate_point(backend: CompletionBackend, point: Point, settings: Settings) -> Outcome:
    """The point through the completion pipeline with its stop rules (what an editor gets) and
    without them (how far generation would have gone)."""
    store = DocumentStore()
    store.open(f"file:///eval/{point.source}", point.language, point.text, 0)
    document = store.get(f"file:///eval/{point.source}")
    position = document.position_at(point.cursor)
    stopped = complete(backend, document, position, settings)
    to_limit = complete(backend, document, position, settings, stop_rules=False)
    # No completion makes sense here: the stop rule ended it before the first token.
    finish = "stop" if stopped.finish_reason == "none" else stopped.finish_reason
    return Outcome(
        point=point.source,
        kind=point.kind,
        language=point.language,
        shape=stopped.prompt.shape.value,
        reason=stopped.prompt.reason,
        tokens_to_limit=to_limit.new_tokens,
        tokens_with_stop=stopped.new_tokens,
        finish=finish,
        completion=stopped.text,
        boundary=ends_at_boundary(point, stopped.text, finish),
    )


# -- report ---------------------------------------------------------------------------------


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    full = sum(o.tokens_to_limit for o in outcomes)
    stopped = sum(o.tokens_with_stop for o in outcomes)
    non_empty = [o for o in outcomes if o.completion.strip()]
    return {
        "points": len(outcomes),
        "tokens_to_limit": full,
        "tokens_with_stop": stopped,
        "tokens_saved": full - stopped,
        "saved_share": round((full - stopped) / full, 3) if full else 0.0,
        "non_empty": len(non_empty),
        "at_boundary": sum(o.boundary for o in outcomes),
        "at_boundary_share_of_non_empty": (
            round(sum(o.boundary for o in non_empty) / len(non_empty), 3) if non_empty else 0.0
        ),
        "finish": {
            reason: sum(o.finish == reason for o in outcomes)
            for reason in ("stop", "eos", "length")
        },
    }


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| point | kind | shape | tokens (no stop → stop) | finish | boundary | completion |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        shown = json.dumps(o.completion[:60])[1:-1].replace("|", "\\|")
        rows.append(
            f"| {o.point} | {o.kind} | {o.shape} | {o.tokens_to_limit} → {o.tokens_with_stop} "
            f"| {o.finish} | {'yes' if o.boundary else 'no'} | `{shown}` |"
        )
    return "\n".join(rows)
