"""Snippets from other open documents that look like the code around the cursor.

Each other document is cut into overlapping line windows; a window's score is the Jaccard
similarity of its identifier set with the identifiers of a query region. The index is built
once per document version and kept in `Document.derived`. The query region is a band of lines
above the cursor that ends on a fixed line multiple, so typing on the cursor line never changes
the snippets (and the cached prompt prefix stays valid). Knows nothing of token budgets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sdsat_lsp.context.document import Document

WINDOW_LINES = 20
WINDOW_STRIDE = 10
QUERY_LINES = 40
QUERY_BAND = 8
MIN_SCORE = 0.1
MAX_SNIPPETS = 3

_IDENTIFIER = re.compile(r"[^\W\d]\w+")
# Words in nearly every file of their language: they make unrelated code look similar.
_COMMON = frozenset(
    """
    and as assert async await break case catch class const continue def default del do elif
    else enum except export extends false final finally fn for from func function go if impl
    import in int interface is let match mod new nil none not null or package pass pub public
    private protected raise return self static str string struct super switch this throw true
    try type use var void while with yield
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Snippet:
    uri: str
    start_line: int
    end_line: int  # exclusive
    text: str
    score: float


@dataclass(frozen=True)
class _Window:
    start_line: int
    end_line: int
    identifiers: frozenset[str]


def identifiers(text: str) -> frozenset[str]:
    return frozenset(word for word in _IDENTIFIER.findall(text) if word.lower() not in _COMMON)


def query_lines(cursor_line: int) -> tuple[int, int]:
    """The line range [start, end) whose identifiers select snippets for a cursor line."""
    band = cursor_line // QUERY_BAND * QUERY_BAND
    if band == 0:
        return 0, cursor_line
    return max(0, band - QUERY_LINES), band


def _index(document: Document) -> list[_Window]:
    cached = document.derived.get("snippet_index")
    if cached is not None:
        return cached
    windows = []
    last_start = max(document.line_count - WINDOW_LINES, 0)
    for start in range(0, last_start + WINDOW_STRIDE, WINDOW_STRIDE):
        start = min(start, last_start)
        end = min(start + WINDOW_LINES, document.line_count)
        text = document.text[document.line_start(start) : document.line_end(end - 1)]
        found = identifiers(text)
        if found:
            windows.append(_Window(start, end, found))
        if end >= document.line_count:
            break
    document.derived["snippet_index"] = windows
    return windows


def similar_snippets(
    document: Document,
    cursor_line: int,
    others: Sequence[Document],
    *,
    limit: int = MAX_SNIPPETS,
) -> list[Snippet]:
    """The best non-overlapping windows of `others` (same language only), best first,
    without repeats and without code the current document already contains."""
    start, end = query_lines(cursor_line)
    if end <= start:
        return []
    query = identifiers(document.text[document.line_start(start) : document.line_end(end - 1)])
    if not query:
        return []
    scored: list[tuple[float, str, int, Document, _Window]] = []
    for other in others:
        if other.uri == document.uri or other.language != document.language:
            continue
        if other.language is None and other.language_id != document.language_id:
            continue
        for window in _index(other):
            shared = len(query & window.identifiers)
            if not shared:
                continue
            score = shared / len(query | window.identifiers)
            if score >= MIN_SCORE:
                scored.append((score, other.uri, window.start_line, other, window))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))

    chosen: list[Snippet] = []
    seen_text: set[str] = set()
    for score, uri, _, other, window in scored:
        if len(chosen) >= limit:
            break
        if any(
            snippet.uri == uri
            and snippet.start_line < window.end_line
            and window.start_line < snippet.end_line
            for snippet in chosen
        ):
            continue
        text = other.text[other.line_start(window.start_line) : other.line_end(window.end_line - 1)]
        key = text.strip()
        if key in seen_text or key in document.text:
            continue  # the same code twice, or code the current file already has
        seen_text.add(key)
        chosen.append(Snippet(uri, window.start_line, window.end_line, text, score))
    return chosen
