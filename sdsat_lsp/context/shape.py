"""The completion's shape at the cursor: none, single-line or multi-line, and why.

Decided from the syntax tree (strings, comments, trailing comments) and the lines around the
cursor (block openers, empty bodies, text to the right). Also reports the indentation of the
line that opened the block, which the stop rules use to notice the completion leaving it.
It knows nothing of prompts, budgets or models.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sdsat_lsp.context.document import Document
from sdsat_lsp.context.syntax import Literal, code_end_of_line, indent_width, literal_at


class Shape(enum.Enum):
    NONE = "none"
    SINGLE_LINE = "single_line"
    MULTI_LINE = "multi_line"


CLOSER_OF = {"{": "}", "(": ")", "[": "]"}
# Text right of the cursor that still lets a completion be inserted before it.
_CLOSERS_ONLY = re.compile(r"""[\s)\]}>"'`;:,.]*""")
_WORD_CHAR = re.compile(r"\w")
_CLOSER_CHARS = frozenset(CLOSER_OF.values())
_HEADER_LINES = 24  # how far up a multi-line header is followed


@dataclass(frozen=True)
class ShapeDecision:
    shape: Shape
    reason: str
    # Indentation width of the line whose opener starts the block being completed; -1 when
    # the completion is at the top level of the file, None when not multi-line.
    block_indent: int | None = None
    # The opener's closer (`}`, `)`, `]`); '' for Python's `:` and for top-level blocks.
    block_closer: str = ""
    literal: Literal | None = None
    # Single-line mode may start with a line break and give the next line instead.
    next_line: bool = False


def decide_shape(document: Document, offset: int, *, fim: bool) -> ShapeDecision:
    text = document.text
    if not text.strip():
        return ShapeDecision(Shape.MULTI_LINE, "empty file", block_indent=-1)

    line = document.line_of(offset)
    line_start, line_end = document.line_start(line), document.line_end(line)
    left, right = text[line_start:offset], text[offset:line_end]

    literal = literal_at(document, offset)
    if literal is not None:
        rest = text[offset : min(line_end, literal.end)]
        if rest.strip(" \t" + literal.quote):
            return ShapeDecision(Shape.NONE, f"inside a {literal.kind}", literal=literal)
        if (
            literal.kind == "comment"
            and not right.strip()
            and not text[line_start : literal.start].strip()
        ):
            # `# list the files|`: the comment goes on, or the code it describes follows.
            return ShapeDecision(
                Shape.SINGLE_LINE, "end of a comment line", literal=literal, next_line=True
            )
        return ShapeDecision(Shape.SINGLE_LINE, f"end of a {literal.kind}", literal=literal)

    if right and _WORD_CHAR.match(right):
        return ShapeDecision(Shape.NONE, "middle of an identifier")
    if not _CLOSERS_ONLY.fullmatch(right):
        if fim:
            return ShapeDecision(Shape.SINGLE_LINE, "text after the cursor (fill in the middle)")
        return ShapeDecision(Shape.NONE, "text after the cursor")

    openers = ":{([" if document.spec.indented_blocks else "{(["
    if left.strip():
        # The cursor is not in a comment here, so the code left of it ends the statement.
        opener = left.rstrip()[-1]
        if opener in openers and _only_closer_after(right, opener):
            return _multi_line(document, line, opener, "after a block opener")
        return ShapeDecision(Shape.SINGLE_LINE, "end of a statement")

    previous = _previous_code_line(document, line)
    if previous is None:
        return ShapeDecision(Shape.MULTI_LINE, "blank line at the start of the file", -1)
    opener = code_end_of_line(document, previous)[-1:]
    if opener and opener in openers and _next_code_is_outside(document, line, previous, opener):
        return _multi_line(document, previous, opener, "empty block body")
    header = _header_above_docstring(document, previous)
    if header is not None and _next_code_is_outside(document, line, header, ":"):
        return _multi_line(document, header, ":", "body with only a docstring")
    if not left and _next_code_is_outside(document, line, None, ""):
        return ShapeDecision(Shape.MULTI_LINE, "blank line at the top level", -1)
    return ShapeDecision(Shape.SINGLE_LINE, "blank line in a block")


def _multi_line(document: Document, header_line: int, opener: str, reason: str) -> ShapeDecision:
    return ShapeDecision(
        Shape.MULTI_LINE,
        reason,
        block_indent=indent_width(document.line_text(_statement_start(document, header_line))),
        block_closer=CLOSER_OF.get(opener, ""),
    )


def _header_above_docstring(document: Document, line: int) -> int | None:
    """The header's first line when `line` ends a docstring that is the only statement so far
    of a `def`/`class` body (Python); None otherwise."""
    if not document.spec.indented_blocks or document.tree is None:
        return None
    code = code_end_of_line(document, line)
    if not code.endswith(('"""', "'''")):
        return None
    byte = document.byte_offset(document.line_start(line) + len(code) - 1)
    node = document.tree.root_node.descendant_for_byte_range(byte, byte)
    while node is not None and node.type != "expression_statement":
        node = node.parent
    block = node.parent if node is not None else None
    if block is None or block.type != "block" or block.named_children[0] != node:
        return None
    if node.named_child_count != 1 or node.named_children[0].type != "string":
        return None
    definition = block.parent
    if definition is None or definition.type not in ("function_definition", "class_definition"):
        return None
    return document.line_of(document.char_offset(definition.start_byte))


def _statement_start(document: Document, line: int) -> int:
    """The first line of the statement that ends on `line`: a header whose brackets opened on
    lines above (`def f(a,` / `      b):`) takes its indentation from where it starts."""
    unopened = 0  # closers on `line` whose openers lie above it
    depth = 0
    for char in code_end_of_line(document, line):
        if char in CLOSER_OF:
            depth += 1
        elif char in _CLOSER_CHARS:
            if depth:
                depth -= 1
            else:
                unopened += 1
    if not unopened:
        return line
    for above in range(line - 1, max(line - _HEADER_LINES, -1), -1):
        depth = 0
        for char in reversed(code_end_of_line(document, above)):
            if char in _CLOSER_CHARS:
                depth += 1
            elif char in CLOSER_OF:
                if depth:
                    depth -= 1
                else:
                    unopened -= 1
        if unopened <= 0:
            return above
    return line


def _only_closer_after(right: str, opener: str) -> bool:
    rest = right.strip()
    return not rest or rest[0] == CLOSER_OF.get(opener)


def _previous_code_line(document: Document, line: int) -> int | None:
    for above in range(line - 1, -1, -1):
        if document.line_text(above).strip():
            return above
    return None


def _next_code_is_outside(document: Document, line: int, header: int | None, opener: str) -> bool:
    """True when the next code line below `line` is outside the block opened on `header`
    (the top level when `header` is None): the block has no code after the cursor."""
    header_indent = -1 if header is None else indent_width(document.line_text(header))
    for below in range(line + 1, document.line_count):
        text = document.line_text(below)
        if not text.strip():
            continue
        if opener and text.lstrip()[0] == CLOSER_OF.get(opener):
            return True
        return indent_width(text) <= max(header_indent, 0)
    return True
