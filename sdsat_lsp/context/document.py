"""Open documents: text, LSP positions and incrementally re-parsed tree-sitter trees.

Owns the three coordinate systems a completion request crosses: LSP positions (0-based line,
UTF-16 `character`), offsets into the Python `str` (code points) and UTF-8 byte offsets for
tree-sitter. Line ends are `\\n`, `\\r\\n` and `\\r`, as in LSP. Every change edits the old tree
(`Tree.edit`) and re-parses with it, so a keystroke in a 10,000-line file costs milliseconds.
It knows nothing of LSP transport types, prompts or models.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import tree_sitter

from sdsat_lsp.context.languages import LanguageSpec, language_for, parser_for, spec_for

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Position:
    """An LSP position: 0-based line and UTF-16 code-unit offset in that line."""

    line: int
    character: int


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


@dataclass(frozen=True)
class TextChange:
    """One LSP content change; `range=None` replaces the whole document."""

    range: Range | None
    text: str


class InvalidPosition(ValueError):
    """A position outside the document (a line past the last one, or a negative number)."""


PARSE_CHUNK_BYTES = 8 * 1024


def utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def utf16_to_index(line: str, character: int) -> int:
    """Code-point index in `line` of a UTF-16 offset, clamped to the line's length.

    An offset inside a surrogate pair rounds down to the start of that character.
    """
    if line.isascii():
        return min(character, len(line))
    units = 0
    for index, char in enumerate(line):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > character:
            return index
    return len(line)


def line_starts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets just past each line end in text[start:end] (line starts, without the first)."""
    if end is None:
        end = len(text)
    return [match.end() for match in _LINE_END.finditer(text, start, end)]


def _byte_point(data: bytes, offset: int) -> tuple[int, int]:
    """Tree-sitter's (row, byte column) of a byte offset; tree-sitter counts rows by `\\n`."""
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)


@dataclass
class Document:
    """One open document. `tree` is None for plain-text languages (and unparseable grammars).

    Edits update the text, the line table and the old tree (`Tree.edit`) at once; the
    incremental re-parse waits until `tree` is read, so a burst of keystrokes between two
    completion requests costs one parse.
    """

    uri: str
    language_id: str
    version: int
    text: str
    language: str | None = None
    data: bytes = b""
    _tree: tree_sitter.Tree | None = field(default=None, repr=False)
    _stale: bool = field(default=False, repr=False)  # edited since the last parse
    _line_starts: list[int] = field(default_factory=list, repr=False)
    _ascii: bool = field(default=True, repr=False)
    # A `\r` not followed by `\n` ends an LSP line but not a tree-sitter row.
    _lone_cr: bool = field(default=False, repr=False)
    # Derived data other modules attach (e.g. the snippet index), dropped on every change.
    derived: dict[str, Any] = field(default_factory=dict, repr=False)
    # Facts about text[:offset], keyed by offset, kept across edits made at or after it.
    derived_before: dict[int, Any] = field(default_factory=dict, repr=False)
    # Caches whose keys hold every input they depend on (texts, other documents' revisions),
    # so edits need not drop them: they outlive keystrokes that leave those inputs unchanged.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Counts changes; unlike `version` (the client's number) it changes on every edit.
    revision: int = field(default=0, repr=False, compare=False)

    @classmethod
    def create(cls, uri: str, language_id: str, text: str, version: int = 0) -> Document:
        language = language_for(language_id) or language_for(uri)
        document = cls(
            uri=uri, language_id=language_id, version=version, text="", language=language
        )
        document._replace_all(text)
        return document

    @property
    def tree(self) -> tree_sitter.Tree | None:
        if self._stale:
            self._tree = self._parse(self._tree)
            self._stale = False
        return self._tree

    @property
    def spec(self) -> LanguageSpec:
        return spec_for(self.language, self.language_id, self.uri)

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    # -- coordinates ------------------------------------------------------------------------

    def line_start(self, line: int) -> int:
        return self._line_starts[line]

    def line_end(self, line: int) -> int:
        """Offset of the line's end, before its line terminator."""
        start = self._line_starts[line]
        if line + 1 < len(self._line_starts):
            end = self._line_starts[line + 1] - 1
            if end > start and self.text[end] == "\n" and self.text[end - 1] == "\r":
                end -= 1
            return end
        return len(self.text)

    def line_text(self, line: int) -> str:
        return self.text[self.line_start(line) : self.line_end(line)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset) - 1

    def offset_at(self, position: Position) -> int:
        """The `text` offset of an LSP position; a character past the line end clamps to it."""
        if position.line < 0 or position.character < 0:
            raise InvalidPosition(f"negative position {position}")
        if position.line >= len(self._line_starts):
            raise InvalidPosition(
                f"line {position.line} is past the end of {self.uri} ({self.line_count} lines)"
            )
        start = self._line_starts[position.line]
        line = self.text[start : self.line_end(position.line)]
        return start + utf16_to_index(line, position.character)

    def position_at(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        start = self._line_starts[line]
        return Position(line, utf16_length(self.text[start:offset]))

    def byte_offset(self, offset: int) -> int:
        """UTF-8 byte offset of a `text` offset."""
        if self._ascii:
            return offset
        return len(self.text[:offset].encode("utf-8"))

    def char_offset(self, byte_offset: int) -> int:
        """`text` offset of a UTF-8 byte offset (rounds down inside a multi-byte character)."""
        if self._ascii:
            return byte_offset
        return len(self.data[:byte_offset].decode("utf-8", errors="ignore"))

    # -- edits ------------------------------------------------------------------------------

    def _replace_all(self, text: str) -> None:
        self.text = text
        self._ascii = text.isascii()
        self.data = text.encode("utf-8")
        self._line_starts = [0, *line_starts(text)]
        self._lone_cr = text.count("\r") != text.count("\r\n")
        self._tree = None
        self._stale = self.language is not None
        self.derived.clear()
        self.derived_before.clear()
        self.revision += 1

    def _point(self, offset: int, byte: int) -> tuple[int, int]:
        """Tree-sitter's (row, byte column) of a position, from the line table when rows and
        LSP lines agree (no lone `\r`)."""
        if self._lone_cr:
            return _byte_point(self.data, byte)
        row = self.line_of(offset)
        start = self._line_starts[row]
        if self._ascii:
            return row, offset - start
        return row, len(self.text[start:offset].encode("utf-8"))

    def _parse(self, old_tree: tree_sitter.Tree | None) -> tree_sitter.Tree | None:
        if self.language is None:
            return None
        try:
            parser = parser_for(self.language)
        except (ImportError, KeyError, ValueError):
            # A missing or incompatible grammar package degrades to plain-text context.
            return None
        data = self.data

        def read(offset: int, point: tuple[int, int]) -> bytes:
            return data[offset : offset + PARSE_CHUNK_BYTES]

        # Read in chunks: tree-sitter holds the GIL while it parses a bytestring (a 5 MB file
        # stalled the server's event loop ~1 s); each chunk callback lets other threads run.
        return parser.parse(read, old_tree) if old_tree else parser.parse(read)

    def _replace(self, start: int, end: int, new_text: str) -> None:
        """Replace text[start:end]: text, bytes, line table; edit (not re-parse) the tree."""
        old_text, old_data = self.text, self.data
        start_byte = self.byte_offset(start)
        old_end_byte = self.byte_offset(end)
        start_point = self._point(start, start_byte)
        old_end_point = self._point(end, old_end_byte)
        self._lone_cr = (
            self._lone_cr
            or "\r" in new_text
            or old_text[max(start - 1, 0) : end + 1].count("\r") > 0
        )

        text = old_text[:start] + new_text + old_text[end:]
        inserted = new_text.encode("utf-8")
        data = old_data[:start_byte] + inserted + old_data[old_end_byte:]
        new_end_byte = start_byte + len(inserted)

        # Line table: keep starts before the edit, rescan the edited span (one character
        # either side, for `\r\n` pairs the edit joins or splits), shift the rest.
        new_end = start + len(new_text)
        starts = self._line_starts
        delta = len(new_text) - (end - start)
        head = starts[: bisect.bisect_left(starts, start)]
        scan = [
            offset
            for offset in line_starts(text, max(0, start - 1), min(len(text), new_end + 2))
            if start <= offset <= new_end + 1
        ]
        tail = [offset + delta for offset in starts[bisect.bisect_right(starts, end + 1) :]]
        self._line_starts = [0, *scan, *tail] if not head else [*head, *scan, *tail]

        self.text, self.data = text, data
        self._ascii = self._ascii and new_text.isascii()
        self.revision += 1
        self.derived_before = {
            key: value for key, value in self.derived_before.items() if key <= start
        }
        if self._tree is not None:
            self._tree.edit(
                start_byte=start_byte,
                old_end_byte=old_end_byte,
                new_end_byte=new_end_byte,
                start_point=start_point,
                old_end_point=old_end_point,
                new_end_point=self._point(new_end, new_end_byte),
            )
        self._stale = self.language is not None

    def _offset_for_change(self, position: Position) -> int:
        # Some clients end a whole-document range at (line_count, 0): accept exactly that.
        if position.line == self.line_count and position.character == 0:
            return len(self.text)
        return self.offset_at(position)

    def apply(self, version: int, changes: Sequence[TextChange]) -> None:
        """Apply LSP content changes in order (the tree re-parses when next read).

        A change with a position past the end raises InvalidPosition; the changes before it
        in the batch stay applied, and the tree stays true to the text.
        """
        for change in changes:
            if change.range is None:
                self._replace_all(change.text)
                continue
            start = self._offset_for_change(change.range.start)
            end = self._offset_for_change(change.range.end)
            if end < start:
                start, end = end, start
            self._replace(start, end, change.text)
            self.derived.clear()
        self.version = version


class DocumentStore:
    """The open documents by URI; the server feeds it didOpen/didChange/didClose."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}

    def open(self, uri: str, language_id: str, text: str, version: int) -> None:
        self.put(Document.create(uri, language_id, text, version))

    def put(self, document: Document) -> None:
        """Add (or replace) a document built elsewhere, e.g. on another thread."""
        self._documents[document.uri] = document

    def change(self, uri: str, version: int, changes: Sequence[TextChange]) -> None:
        """Apply changes to an open document (raises KeyError if it is not open)."""
        self._documents[uri].apply(version, changes)

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)

    def get(self, uri: str) -> Document:
        return self._documents[uri]

    def documents(self) -> list[Document]:
        return list(self._documents.values())

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents
