"""Where a completion is asked for inside a function body, cut with tree-sitter: the kinds the
quality benchmark measures (bench/quality/points.py) and training distils at
(training/distill.py, `--distill-points editor`).

    next_line     a statement line replaced by its indentation: the cursor where the editor
                  puts it after Enter; the reference is that line
    body          the end of a `def …:` / `function …(…) {` line with the body removed (the
                  closing `}` stays, as editors insert it); the reference is the body
    rest_of_line  a statement line cut after a non-word character (`x = `, `f(`, `a.`) with
                  the rest of the line removed; the reference is the rest of the line
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import tree_sitter

from sdsat_lsp.context.document import Document
from sdsat_lsp.context.syntax import indent_width

KINDS = ("next_line", "body", "rest_of_line")
MIN_LINE_CHARS = 6
MAX_BODY_LINES = 12  # longer bodies are not asked for: the block cap is 96 tokens
_FUNCTION = re.compile(
    r"function_definition|function_declaration|function_expression|method_definition"
    r"|generator_function|^function$"
)
_SKIP_LINE = re.compile(r"""^\s*(#|//|/\*|\*|"|'|`|@|\)|]|}|else\b|elif\b|except\b|finally\b)""")
_WORD = re.compile(r"\w")


def _functions(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        if _FUNCTION.search(current.type) and current.child_by_field_name("body") is not None:
            yield current
        stack.extend(reversed(current.children))


def _statement_lines(document: Document, body: tree_sitter.Node) -> list[int]:
    """Lines of the body that hold one whole simple statement at the body's indentation."""
    lines = []
    first, last = body.start_point[0], body.end_point[0]
    for line in range(first, last + 1):
        text = document.line_text(line)
        stripped = text.strip()
        if len(stripped) < MIN_LINE_CHARS or _SKIP_LINE.match(text) or indent_width(text) == 0:
            continue
        if stripped.endswith((",", "(", "[", "{", "\\", ":", "=>")) or stripped.count("(") != (
            stripped.count(")")
        ):
            continue
        lines.append(line)
    return lines


def _cut_line(document: Document, line: int) -> tuple[str, int, str]:
    """(document text with `line` reduced to its indentation, cursor, reference line)."""
    start, end = document.line_start(line), document.line_end(line)
    text = document.text[start:end]
    indent = text[: len(text) - len(text.lstrip())]
    head = document.text[:start] + indent
    return head + document.text[end:], len(head), text.strip()


def _cut_rest(document: Document, line: int, rng: random.Random) -> tuple[str, int, str] | None:
    start, end = document.line_start(line), document.line_end(line)
    text = document.text[start:end].rstrip()
    code_start = len(text) - len(text.lstrip())
    columns = [
        column
        for column in range(code_start + 2, len(text) - 3)
        if not _WORD.match(text[column - 1]) and text[column - 1] not in " \t"
        and not (text[column] == " " and text[column - 1] in "([.")
    ]  # fmt: skip
    if not columns:
        return None
    column = rng.choice(columns)
    head = document.text[: start + column]
    return head + document.text[end:], len(head), text[column:].strip()


def _cut_body(document: Document, function: tree_sitter.Node) -> tuple[str, int, str] | None:
    """The end of the header line with the body removed (a brace body keeps its `}`)."""
    body = function.child_by_field_name("body")
    if body is None:
        return None
    python = document.language == "python"
    opener = body.prev_sibling if python else body
    if opener is None:
        return None
    header_last = opener.end_point[0] if python else body.start_point[0]
    header_text = document.line_text(header_last).rstrip()
    if not header_text.endswith(":" if python else "{"):
        return None
    width = indent_width(document.line_text(function.start_point[0]))
    last = body.end_point[0]
    end_line = last if python else last - 1
    if not 1 <= end_line - header_last <= MAX_BODY_LINES:
        return None
    if not python and not (
        document.line_text(last).strip().startswith("}")
        and indent_width(document.line_text(last)) == width
    ):
        return None  # the closer is not on a line of its own at the header's indentation
    reference = "\n".join(document.line_text(line) for line in range(header_last + 1, end_line + 1))
    if len(reference.strip()) < MIN_LINE_CHARS:
        return None
    cursor = document.line_start(header_last) + len(header_text)
    text = document.text[:cursor] + document.text[document.line_end(end_line) :]
    return text, cursor, reference.rstrip()


def candidates(
    document: Document, kind: str, rng: random.Random
) -> list[tuple[str, int, str, int]]:
    """(text, cursor, reference, line) per candidate point of `kind` in `document`."""
    if document.tree is None:
        return []
    found: list[tuple[str, int, str, int]] = []
    for function in _functions(document.tree.root_node):
        body = function.child_by_field_name("body")
        if body is None:
            continue
        if kind == "body":
            cut = _cut_body(document, function)
            if cut is not None:
                found.append((*cut, function.start_point[0]))
            continue
        for line in _statement_lines(document, body):
            if kind == "next_line":
                found.append((*_cut_line(document, line), line))
            else:
                rest = _cut_rest(document, line, rng)
                if rest is not None:
                    found.append((*rest, line))
    # Nested functions are visited twice (as functions and as lines of the outer body).
    unique = {(line, cursor): (text, cursor, ref, line) for text, cursor, ref, line in found}
    return [unique[key] for key in sorted(unique)]
