"""Syntax facts at a point of a document: strings and comments, imports, enclosing signatures.

Uses the tree-sitter tree when the document has one and falls back to indentation and line
patterns for plain-text languages, so every function answers for every document. It knows
nothing of token budgets or prompt layout (see prompt.py) nor of completion shapes (shape.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter

from sdsat_lsp.context.document import Document

TAB_WIDTH = 4

# Node types that name a definition whose header is worth repeating before the prompt window.
_DEFINITION = re.compile(
    r"func|method|class|impl|trait|interface|struct|namespace|mod_item|constructor|enum|union"
)
_STRING_TYPES = re.compile(r"string|char_literal|character_literal|template")
_INTERPOLATION_TYPES = frozenset({"interpolation", "template_substitution", "escape_sequence"})
_PLAIN_IMPORT = re.compile(
    r"^(import|from|#\s*include|#\s*import|use|using|require|package|extern\s+crate|library)\b"
)
_MAX_SIGNATURE_LINES = 12
_PLAIN_IMPORT_LINES = 200
_PLAIN_SCOPE_LINES = 400


def indent_width(line: str) -> int:
    """Columns of leading whitespace, tabs counted as TAB_WIDTH."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += TAB_WIDTH - width % TAB_WIDTH
        else:
            break
    return width


@dataclass(frozen=True)
class Literal:
    """The string or comment literal the cursor is inside."""

    kind: str  # "string" or "comment"
    start: int  # `text` offsets
    end: int
    quote: str  # opening quote of a string ('"', "'''", '`', ...); '' for comments


def _node_at(document: Document, offset: int) -> tree_sitter.Node | None:
    if document.tree is None:
        return None
    byte = document.byte_offset(offset)
    return document.tree.root_node.descendant_for_byte_range(byte, byte)


def literal_at(document: Document, offset: int) -> Literal | None:
    """The string or comment that strictly contains `offset` (None for plain text).

    A line comment contains the offset at its end (the cursor typing on), a string or block
    comment does not (the cursor is past its closing delimiter).
    """
    byte = document.byte_offset(offset)
    node = _node_at(document, offset)
    if node is not None and byte > 0 and document.tree is not None:
        # A line comment ends where the cursor types on; the node at the cursor is its parent.
        before = document.tree.root_node.descendant_for_byte_range(byte - 1, byte - 1)
        if before is not None and "comment" in before.type and before.end_byte == byte:
            node = before
    while node is not None:
        kind = node.type
        if kind in _INTERPOLATION_TYPES:
            return None
        if "comment" in kind:
            closed = document.data[node.end_byte - 2 : node.end_byte] == b"*/"
            inside = node.start_byte < byte < node.end_byte or (
                byte == node.end_byte and not closed
            )
            if inside:
                return _literal(document, node, "comment")
            return None
        if _STRING_TYPES.search(kind) and node.start_byte < byte < node.end_byte:
            return _literal(document, node, "string")
        node = node.parent
    return None


def _literal(document: Document, node: tree_sitter.Node, kind: str) -> Literal:
    start = document.char_offset(node.start_byte)
    end = document.char_offset(node.end_byte)
    quote = ""
    if kind == "string":
        text = document.text[start:end].lstrip("rRbBuUfFtTL@$")
        for candidate in ('"""', "'''", '"', "'", "`"):
            if text.startswith(candidate):
                quote = candidate
                break
    return Literal(kind, start, end, quote)


def code_end_of_line(document: Document, line: int) -> str:
    """The line without a trailing comment (by the tree) and without trailing whitespace."""
    text = document.line_text(line).rstrip()
    if not text or document.tree is None:
        return text
    start = document.line_start(line)
    literal = literal_at(document, start + len(text))
    if literal is not None and literal.kind == "comment" and literal.start >= start:
        return document.text[start : literal.start].rstrip()
    return text


# -- imports -----------------------------------------------------------------------------------


def imports_before(document: Document, offset: int) -> list[str]:
    """Import statements that end before `offset`, in file order.

    Scans top-level statements only up to the first definition with a body: imports after
    that are rare, and the scan must stay cheap in 10,000-line files.
    """
    if document.tree is None:
        return _plain_imports_before(document, offset)
    import_types = document.spec.import_types
    limit = document.byte_offset(offset)
    found: list[str] = []
    child: tree_sitter.Node | None = document.tree.root_node.child(0)
    while child is not None and child.end_byte <= limit:
        if child.type in import_types:
            found.append(_node_text(document, child).rstrip())
        elif child.child_by_field_name("body") is not None:
            break
        child = child.next_sibling
    return found


def _plain_imports_before(document: Document, offset: int) -> list[str]:
    last_line = min(document.line_of(offset), _PLAIN_IMPORT_LINES)
    found = []
    for line in range(last_line):
        text = document.line_text(line)
        if _PLAIN_IMPORT.match(text):
            found.append(text.rstrip())
    return found


def _node_text(document: Document, node: tree_sitter.Node) -> str:
    return document.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


# -- enclosing definitions ---------------------------------------------------------------------


def scope_before(document: Document, offset: int) -> tuple[list[str], list[str]]:
    """(imports, signatures) for a prompt window starting at `offset`, cached per offset.

    The cache entry lives while edits happen at or after `offset` (`Document.derived_before`):
    while the user types below the window start, half-typed code that throws the parser's
    error recovery off cannot change what sits before the window in the cached prompt prefix.
    """
    cached = document.derived_before.get(offset)
    if cached is None:
        cached = (imports_before(document, offset), signatures_around(document, offset))
        document.derived_before[offset] = cached
    return cached


def block_reaches(document: Document, header: str, first_line: int, cursor_line: int) -> bool:
    """No line in [first_line, cursor_line) closes the block opened by `header`: none is
    indented at or left of the header's first line. Judged from complete lines above the
    cursor's only, so typing on the cursor line does not change the answer."""
    header_indent = indent_width(header)
    for line in range(first_line, cursor_line):
        text = document.line_text(line)
        if text.strip() and indent_width(text) <= header_indent:
            return False
    return True


def signatures_around(document: Document, offset: int) -> list[str]:
    """Headers of the definitions whose body holds `offset` and that start before it,
    outermost first.

    Each header runs from the start of its first line to the body's opening (`{` included;
    Python's `:` included), keeping its indentation, so headers followed by the code at
    `offset` read like the file itself.
    """
    if document.tree is None:
        return _plain_signatures_around(document, offset)
    anchor = _first_code_at_or_after(document, offset)
    if anchor is None:
        return []
    byte = document.byte_offset(anchor)
    limit = document.byte_offset(offset)
    node: tree_sitter.Node | None = document.tree.root_node.descendant_for_byte_range(byte, byte)
    headers: list[str] = []
    while node is not None:
        body = node.child_by_field_name("body")
        if (
            body is not None
            and _DEFINITION.search(node.type)
            and body.start_byte < byte
            and node.start_byte < limit
        ):
            header = _header(document, node, body)
            if header:
                headers.append(header)
        node = node.parent
    headers.reverse()
    return headers


def _first_code_at_or_after(document: Document, offset: int) -> int | None:
    match = re.compile(r"\S").search(document.text, offset)
    return match.start() if match else None


def _header(document: Document, node: tree_sitter.Node, body: tree_sitter.Node) -> str:
    start_line = document.line_of(document.char_offset(node.start_byte))
    line_start_byte = document.byte_offset(document.line_start(start_line))
    end_byte = body.start_byte
    if document.data[body.start_byte : body.start_byte + 1] == b"{":
        end_byte += 1
    header = document.data[line_start_byte:end_byte].decode("utf-8", errors="replace").rstrip()
    if header.count("\n") >= _MAX_SIGNATURE_LINES:
        return ""
    return header


def _plain_signatures_around(document: Document, offset: int) -> list[str]:
    """Indentation fallback: the nearest less-indented line above, then its parent, and so on."""
    anchor = _first_code_at_or_after(document, offset)
    line = document.line_of(anchor if anchor is not None else offset)
    current = indent_width(document.line_text(line)) if anchor is not None else 0
    headers: list[str] = []
    first = max(0, line - _PLAIN_SCOPE_LINES)
    for above in range(line - 1, first - 1, -1):
        if current == 0:
            break
        text = document.line_text(above)
        if not text.strip():
            continue
        width = indent_width(text)
        if width < current and document.line_end(above) <= offset:
            headers.append(text.rstrip())
            current = width
    headers.reverse()
    return headers
