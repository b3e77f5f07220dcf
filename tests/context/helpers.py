"""Helpers for the context tests: deterministic token counters and cursor fixtures."""

from __future__ import annotations

import re
from pathlib import Path

from sdsat_lsp.context import Document, DocumentStore, Position

FIXTURES = Path(__file__).parent / "fixtures"
CURSOR = "<CURSOR>"
_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")

LANGUAGE_IDS = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
}


def count_words(text: str) -> int:
    """One token per word and per punctuation mark; whitespace is free."""
    return len(_WORD_OR_PUNCT.findall(text))


def count_bytes(text: str) -> int:
    """About three UTF-8 bytes per token, at least one per call (like a BPE with a BOS)."""
    return len(text.encode("utf-8")) // 3 + 1


def open_text(
    text: str, language_id: str = "python", uri: str = "file:///repo/src/example.py"
) -> Document:
    store = DocumentStore()
    store.open(uri, language_id, text, 1)
    return store.get(uri)


def split_cursor(raw: str) -> tuple[str, int]:
    index = raw.index(CURSOR)
    return raw.replace(CURSOR, "", 1), index


def open_with_cursor(
    raw: str, language_id: str = "python", uri: str = "file:///repo/src/example.py"
) -> tuple[Document, Position]:
    text, index = split_cursor(raw)
    document = open_text(text, language_id, uri)
    return document, document.position_at(index)


def open_fixture(name: str) -> tuple[Document, Position]:
    """Open fixtures/NAME.txt (stored with .txt so linters leave the half-typed code alone)."""
    path = FIXTURES / f"{name}.txt"
    return open_with_cursor(
        path.read_text(encoding="utf-8"),
        LANGUAGE_IDS[Path(name).suffix],
        f"file:///repo/src/{name}",
    )
