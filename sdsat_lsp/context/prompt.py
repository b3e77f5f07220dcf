"""Build the prompt for a completion at a cursor: pieces within a token budget, shape and stops.

Layout of `Prompt.prefix`, each piece only when it fits:

    header      `# Path: pkg/module.py` in the language's comment syntax
    snippets    commented-out windows of other open documents similar to the code above
    definitions commented-out headers and docstrings, from other open documents, of the
                imported names the code at the cursor uses (definitions.py)
    imports     the file's imports that lie before the prefix window
    signatures  headers of the definitions that enclose the window start (class, function)
    window      the text before the cursor, from a line boundary up to the cursor, without
                the whitespace right before the cursor (see below)

`Prompt.suffix` is the text after the cursor (FIM models only). Budget split, in model tokens
of `budget_tokens` (see `BudgetSplit`): header ≤ min(32, 25 %); suffix ≤ 25 % (0 without
FIM); snippets ≤ 15 %; definitions ≤ 15 %; imports and signatures ≤ 15 %; the window gets
the rest, including whatever the others leave unused. `PromptRecipe` turns pieces off (the
quality benchmark's ablations); the window is always there. Everything before the window is
a function of text that typing at the cursor does not change (signatures must still enclose
the cursor, judged from complete lines above it; snippets and definitions follow an 8-line
band above it), and the window starts on a 16-line boundary that only moves forward when the
window outgrows its budget: typing one character normally extends the old prefix by
exactly that character, so the engine's prefix-KV cache stays valid.

`count_tokens` is called on pieces (16-line chunks, the window, headers), never on the whole
file, and never on text longer than MAX_CHARS_PER_TOKEN characters per token of budget.
No FIM tokens appear in the text: the engine formats FIM from (prefix, suffix) itself.

The prefix never ends in whitespace: the spaces, tabs and line breaks right before the cursor
(the indentation of a blank line and the newline before it, the space after `x =`) are left
out and handed to the stop rule as `StopRule.lead`, which expects the model to write them and
aligns its output with the cursor. BPE models tokenize "\n" with the next line's indentation,
so a prompt ending in "\n" or in "\n    " reads as "the next line starts at column 0" or "a
blank line follows". Typing at the cursor still extends the old prefix.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from sdsat_lsp.config import PROMPT_PIECES
from sdsat_lsp.context.definitions import used_definitions
from sdsat_lsp.context.document import Document, Position
from sdsat_lsp.context.shape import Shape, ShapeDecision, decide_shape
from sdsat_lsp.context.snippets import similar_snippets
from sdsat_lsp.context.stop import StopRule
from sdsat_lsp.context.syntax import block_reaches, indent_width, scope_before

CHUNK_LINES = 16  # the prefix window starts on a multiple of this many lines
MIN_SNIPPET_LINES = 4  # a snippet cut to fit its budget keeps at least this many lines
LONG_LINE_STEP = 64  # when one line overflows the window, cut it on multiples of this
NEXT_LINES = 3  # lines after the cursor the stop rule compares against
# Text longer than this many characters per token of budget is over budget without counting:
# it keeps `count_tokens` off megabyte lines (minified code) whatever the tokenizer.
MAX_CHARS_PER_TOKEN = 24

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class BudgetSplit:
    """Token budget caps per piece; the window takes what the others do not use."""

    total: int
    header: int
    suffix: int
    snippets: int
    scope: int
    definitions: int = 0

    @classmethod
    def for_budget(
        cls, total: int, *, fim: bool, recipe: PromptRecipe | None = None
    ) -> BudgetSplit:
        total = max(total, 0)
        recipe = recipe or PromptRecipe()
        return cls(
            total=total,
            header=min(32, total // 4) if recipe.header else 0,
            suffix=total // 4 if fim else 0,
            snippets=total * 15 // 100 if recipe.snippets else 0,
            scope=total * 15 // 100 if recipe.scope else 0,
            definitions=total * 15 // 100 if recipe.definitions else 0,
        )


@dataclass(frozen=True)
class PromptRecipe:
    """Which pieces a prompt may have besides the window (all of them by default)."""

    header: bool = True
    snippets: bool = True
    scope: bool = True  # imports and enclosing signatures
    definitions: bool = True  # cross-file definitions of the names the code uses
    # Cut a snippet over what is left of its budget to its first lines that fit (at least
    # MIN_SNIPPET_LINES) instead of dropping it. Whole 20-line windows (~170 tokens) rarely fit
    # 15 % of a 512- or 1024-token budget, but cut ones measured worse on the quality benchmark
    # (JavaScript EM -0.026, ES -0.032 against whole ones; docs/quality.md): off by default.
    trim_snippets: bool = False

    @classmethod
    def from_pieces(cls, pieces: Sequence[str]) -> PromptRecipe:
        """The recipe with exactly these optional pieces (config.PROMPT_PIECES names)."""
        unknown = set(pieces) - set(PROMPT_PIECES)
        if unknown:
            raise ValueError(f"unknown prompt pieces {sorted(unknown)} (of {PROMPT_PIECES})")
        return cls(**{piece: piece in pieces for piece in PROMPT_PIECES})


@dataclass(frozen=True)
class PromptPiece:
    name: str  # header, snippet, definitions, imports, signatures, prefix_window, suffix_window
    text: str
    tokens: int
    source: str = ""  # where the text comes from (a URI for snippets)


@dataclass(frozen=True)
class Prompt:
    prefix: str
    suffix: str
    shape: Shape
    stop: StopRule
    pieces: tuple[PromptPiece, ...]
    reason: str = ""  # why this shape
    budget: BudgetSplit = BudgetSplit(0, 0, 0, 0, 0)
    window_start: int = 0  # `text` offset where the prefix window starts

    @property
    def tokens(self) -> int:
        return sum(piece.tokens for piece in self.pieces)


def build_prompt(
    document: Document,
    position: Position,
    *,
    budget_tokens: int,
    count_tokens: CountTokens,
    fim: bool,
    other_documents: Sequence[Document] = (),
    recipe: PromptRecipe | None = None,
) -> Prompt:
    """The prompt for a completion at `position` (raises InvalidPosition past the end)."""
    cursor = document.offset_at(position)
    budget = BudgetSplit.for_budget(budget_tokens, fim=fim, recipe=recipe)
    count = _Counter(count_tokens)
    decision = decide_shape(document, cursor, fim=fim)
    stop = _stop_rule(document, cursor, decision)

    header = _fit(_header(document), budget.header, count)
    suffix = _suffix_window(document, cursor, budget.suffix, count) if fim else ""
    snippets = _snippets(
        document,
        position.line,
        other_documents,
        budget.snippets,
        count,
        trim=(recipe or PromptRecipe()).trim_snippets,
    )
    definitions = _definitions(document, position.line, other_documents, budget.definitions, count)

    fixed = (
        count(header)
        + count(suffix)
        + sum(piece.tokens for piece in snippets)
        + sum(piece.tokens for piece in definitions)
    )
    window_budget = max(budget.total - fixed - budget.scope, 0)
    window_start = _window_start(document, cursor, window_budget, count)
    scope = _scope(document, window_start, cursor, budget.scope, count)
    spare = budget.scope - sum(piece.tokens for piece in scope)
    if spare > 0:
        wider_start = _window_start(document, cursor, window_budget + spare, count)
        if wider_start < window_start:
            wider_scope = _scope(document, wider_start, cursor, budget.scope, count)
            if sum(p.tokens for p in wider_scope) <= budget.scope - spare:
                window_start, scope = wider_start, wider_scope

    window = document.text[window_start : _window_end(document, window_start, cursor)]
    pieces = [
        *([PromptPiece("header", header, count(header))] if header else []),
        *snippets,
        *definitions,
        *scope,
        PromptPiece("prefix_window", window, count(window)),
        *([PromptPiece("suffix_window", suffix, count(suffix))] if suffix else []),
    ]
    prompt = Prompt(
        prefix="".join(piece.text for piece in pieces if piece.name != "suffix_window"),
        suffix=suffix,
        shape=decision.shape,
        stop=stop,
        pieces=tuple(pieces),
        reason=decision.reason,
        budget=budget,
        window_start=window_start,
    )
    prompt = _enforce_budget(prompt, document, cursor, count)
    end = _window_end(document, prompt.window_start, cursor)
    lead = dataclasses.replace(
        stop, lead=document.text[end:cursor], before_lead=document.text[max(end - 1, 0) : end]
    )
    return dataclasses.replace(prompt, stop=lead)


def describe_prompt(prompt: Prompt) -> dict[str, Any]:
    """A JSON-able account of the prompt: pieces with token counts, shape and budget split."""
    return {
        "shape": prompt.shape.value,
        "reason": prompt.reason,
        "budget": dataclasses.asdict(prompt.budget),
        "tokens": prompt.tokens,
        "pieces": [
            {
                "name": piece.name,
                "source": piece.source,
                "tokens": piece.tokens,
                "chars": len(piece.text),
                "text": piece.text,
            }
            for piece in prompt.pieces
        ],
        "stop": {
            "block_indent": prompt.stop.block_indent,
            "block_closer": prompt.stop.block_closer,
            "rest_of_line": prompt.stop.rest_of_line,
            "next_lines": list(prompt.stop.next_lines),
            "lead": prompt.stop.lead,
        },
    }


# -- token counting ----------------------------------------------------------------------------


class _Counter:
    """`count_tokens` with empty text free and repeated pieces counted once per prompt."""

    def __init__(self, count_tokens: CountTokens) -> None:
        self._count_tokens = count_tokens
        self._seen: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        tokens = self._seen.get(text)
        if tokens is None:
            tokens = max(int(self._count_tokens(text)), 0)
            self._seen[text] = tokens
        return tokens

    def within(self, text: str, budget: int) -> bool:
        """count(text) <= budget, without counting text far too long to fit."""
        if len(text) > max(budget, 0) * MAX_CHARS_PER_TOKEN:
            return False
        return self(text) <= budget


def _fit(text: str, budget: int, count: _Counter) -> str:
    return text if text and count(text) <= budget else ""


# -- pieces ------------------------------------------------------------------------------------


def _display_path(uri: str) -> str:
    path = unquote(urlparse(uri).path) if "://" in uri else uri
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    return posixpath.join(*parts[-3:]) if parts else uri


def _header(document: Document) -> str:
    return f"{document.spec.comment} Path: {_display_path(document.uri)}\n"


def _commented(document: Document, text: str) -> str:
    marker = document.spec.comment
    return "".join(f"{marker} {line}".rstrip() + "\n" for line in text.split("\n"))


def _snippets(
    document: Document,
    cursor_line: int,
    others: Sequence[Document],
    budget: int,
    count: _Counter,
    *,
    trim: bool = True,
) -> list[PromptPiece]:
    if budget <= 0 or not others:
        return []
    pieces: list[PromptPiece] = []
    left = budget
    for snippet in similar_snippets(document, cursor_line, others):
        title = f"Compare this snippet from {_display_path(snippet.uri)}:"
        lines = snippet.text.split("\n")
        text = _commented(document, title + "\n" + snippet.text)
        while trim and not count.within(text, left) and len(lines) > MIN_SNIPPET_LINES:
            lines = lines[:-1]
            text = _commented(document, title + "\n" + "\n".join(lines))
        if count.within(text, left):
            pieces.append(PromptPiece("snippet", text, count(text), snippet.uri))
            left -= count(text)
    pieces.reverse()  # the most similar snippet sits closest to the code
    return pieces


def _definitions(
    document: Document,
    cursor_line: int,
    others: Sequence[Document],
    budget: int,
    count: _Counter,
) -> list[PromptPiece]:
    """One commented piece per source document, the definitions the code uses most recently
    first while they fit; the pieces ordered so the most recent sits closest to the code."""
    if budget <= 0 or not others:
        return []
    by_source: dict[str, list[str]] = {}
    pieces: dict[str, PromptPiece] = {}
    for definition in used_definitions(document, cursor_line, others):
        texts = [*by_source.get(definition.uri, []), definition.text]
        title = f"Definitions from {_display_path(definition.uri)}:"
        text = _commented(document, title + "\n" + "\n".join(texts))
        others_tokens = sum(p.tokens for uri, p in pieces.items() if uri != definition.uri)
        if not count.within(text, budget - others_tokens):
            continue
        by_source[definition.uri] = texts
        pieces[definition.uri] = PromptPiece("definitions", text, count(text), definition.uri)
    return list(reversed(pieces.values()))


def _scope(
    document: Document, window_start: int, cursor: int, budget: int, count: _Counter
) -> list[PromptPiece]:
    """Imports and enclosing signatures that lie before the window, within `budget`.

    Signatures go first (innermost kept when they do not all fit), imports take the rest in
    file order.
    """
    if budget <= 0 or window_start == 0:
        return []
    all_imports, all_signatures = scope_before(document, window_start)
    first_line, cursor_line = document.line_of(window_start), document.line_of(cursor)
    signatures = [
        header
        for header in all_signatures
        if block_reaches(document, header, first_line, cursor_line)
    ]
    kept: list[str] = []
    left = budget
    for header in reversed(signatures):
        if not count.within(header + "\n", left):
            break
        kept.insert(0, header)
        left -= count(header + "\n")
    imports: list[str] = []
    for statement in all_imports:
        if not count.within(statement + "\n", left):
            break
        imports.append(statement)
        left -= count(statement + "\n")
    pieces = []
    if imports:
        text = "\n".join(imports) + "\n\n"
        pieces.append(PromptPiece("imports", text, count(text)))
    if kept:
        text = "\n".join(kept) + "\n"
        pieces.append(PromptPiece("signatures", text, count(text)))
    return pieces


def _suffix_window(document: Document, cursor: int, budget: int, count: _Counter) -> str:
    """Text after the cursor up to a line end, in 16-line chunks, within `budget`."""
    if budget <= 0 or cursor >= len(document.text):
        return ""
    line = document.line_of(cursor)
    first_end = document.line_end(line)
    if not count.within(document.text[cursor:first_end], budget):
        return _cut_tail(document.text[cursor:first_end], budget, count)
    end = first_end
    boundary = (line // CHUNK_LINES + 1) * CHUNK_LINES
    while True:
        last = min(boundary, document.line_count) - 1
        candidate = document.line_end(last)
        if candidate <= end:
            break
        if not count.within(document.text[cursor:candidate], budget):
            break
        end = candidate
        if last >= document.line_count - 1:
            break
        boundary += CHUNK_LINES
    if end == first_end:
        # Not even the first chunk fits: take whole lines one at a time.
        for next_line in range(line + 1, min(line + CHUNK_LINES, document.line_count)):
            candidate = document.line_end(next_line)
            if not count.within(document.text[cursor:candidate], budget):
                break
            end = candidate
    return document.text[cursor:end]


def _cut_tail(text: str, budget: int, count: _Counter) -> str:
    """The longest `text[:n]`, n a multiple of LONG_LINE_STEP, within budget (binary search)."""
    low, high = 0, len(text) // LONG_LINE_STEP
    while low < high:
        middle = (low + high + 1) // 2
        if count.within(text[: middle * LONG_LINE_STEP], budget):
            low = middle
        else:
            high = middle - 1
    return text[: low * LONG_LINE_STEP]


def _window_end(document: Document, window_start: int, cursor: int) -> int:
    """The cursor, moved back over the whitespace right before it (not before `window_start`)."""
    text = document.text
    end = cursor
    while end > window_start and text[end - 1] in " \t\r\n\f\v":
        end -= 1
    return end


def _window_start(document: Document, cursor: int, budget: int, count: _Counter) -> int:
    """Where the prefix window starts: the earliest 16-line boundary whose text up to the
    cursor fits `budget`, counted chunk by chunk; finer cuts only when one chunk overflows."""
    line = document.line_of(cursor)
    boundary = line // CHUNK_LINES * CHUNK_LINES
    start = document.line_start(boundary)
    if not count.within(document.text[start:cursor], budget):
        return _start_within_chunk(document, cursor, boundary, budget, count)
    used = count(document.text[start:cursor])
    while boundary > 0:
        previous = boundary - CHUNK_LINES
        chunk_start = document.line_start(previous)
        chunk = document.text[chunk_start:start]
        if not count.within(chunk, budget - used):
            break
        used += count(chunk)
        boundary, start = previous, chunk_start
    # Chunk counts are an estimate of the whole; drop chunks until the whole truly fits.
    while start < cursor and not count.within(document.text[start:cursor], budget):
        boundary += CHUNK_LINES
        if boundary > line:
            return _start_within_chunk(
                document, cursor, line // CHUNK_LINES * CHUNK_LINES, budget, count
            )
        start = document.line_start(boundary)
    return start


def _start_within_chunk(
    document: Document, cursor: int, boundary: int, budget: int, count: _Counter
) -> int:
    line = document.line_of(cursor)
    for start_line in range(boundary, line + 1):
        start = document.line_start(start_line)
        if count.within(document.text[start:cursor], budget):
            return start
    # The cursor's own line overflows: start inside it, on a multiple of LONG_LINE_STEP.
    line_start = document.line_start(line)
    steps = (cursor - line_start) // LONG_LINE_STEP
    low, high = 1, steps + 1
    while low < high:
        middle = (low + high) // 2
        start = min(line_start + middle * LONG_LINE_STEP, cursor)
        if count.within(document.text[start:cursor], budget):
            high = middle
        else:
            low = middle + 1
    start = min(line_start + low * LONG_LINE_STEP, cursor)
    return start if count.within(document.text[start:cursor], budget) else cursor


def _stop_rule(document: Document, cursor: int, decision: ShapeDecision) -> StopRule:
    text = document.text
    line = document.line_of(cursor)
    line_start, line_end = document.line_start(line), document.line_end(line)
    next_lines: list[str] = []
    for below in range(line + 1, document.line_count):
        stripped = document.line_text(below).strip()
        if stripped:
            next_lines.append(stripped)
            if len(next_lines) == NEXT_LINES:
                break
    ahead = text[cursor : cursor + 4096]
    after = ahead.lstrip()
    after_cursor_indent = None
    if after and cursor + len(ahead) - len(after) > line_end:
        after_line = document.line_of(cursor + len(ahead) - len(after))
        after_cursor_indent = indent_width(document.line_text(after_line))
    spec = document.spec
    return StopRule(
        shape=decision.shape,
        indented_blocks=spec.indented_blocks,
        block_indent=decision.block_indent,
        block_closer=decision.block_closer,
        rest_of_line=text[cursor:line_end],
        next_lines=tuple(next_lines),
        after_cursor=after[:1],
        after_cursor_indent=after_cursor_indent,
        comment=spec.comment,
        open_quote=decision.literal.quote if decision.literal else "",
        quotes=('"',) if document.language == "rust" else ('"""', "'''", '"', "'", "`"),
        line_is_blank_before_cursor=not text[line_start:cursor].strip(),
        next_line=decision.next_line,
        line_indent=indent_width(text[line_start:line_end]),
    )


def _enforce_budget(prompt: Prompt, document: Document, cursor: int, count: _Counter) -> Prompt:
    """Guarantee count(prefix) + count(suffix) <= budget, whatever the tokenizer's merges:
    drop snippets, then scope, then shrink the window."""
    pieces = list(prompt.pieces)
    total = prompt.budget.total

    def whole(items: list[PromptPiece]) -> int:
        prefix = "".join(p.text for p in items if p.name != "suffix_window")
        return count(prefix) + count(prompt.suffix) if prefix or prompt.suffix else 0

    if whole(pieces) <= total and sum(p.tokens for p in pieces) <= total:
        return prompt
    for name in ("snippet", "definitions", "imports", "signatures", "header"):
        pieces = [p for p in pieces if p.name != name]
        if whole(pieces) <= total and sum(p.tokens for p in pieces) <= total:
            return _rebuilt(prompt, pieces, prompt.window_start)
    suffix_tokens = count(prompt.suffix)
    window_start = _window_start(document, cursor, max(total - suffix_tokens, 0), count)
    while True:
        window = document.text[window_start : _window_end(document, window_start, cursor)]
        pieces = [
            PromptPiece("prefix_window", window, count(window)),
            *(
                [PromptPiece("suffix_window", prompt.suffix, suffix_tokens)]
                if prompt.suffix
                else []
            ),
        ]
        if (whole(pieces) <= total and sum(p.tokens for p in pieces) <= total) or not window:
            if not window and suffix_tokens > total:
                pieces = [PromptPiece("prefix_window", "", 0)]
                return dataclasses.replace(_rebuilt(prompt, pieces, cursor), suffix="")
            return _rebuilt(prompt, pieces, window_start)
        window_start = min(window_start + max(len(window) // 8, 1), cursor)


def _rebuilt(prompt: Prompt, pieces: list[PromptPiece], window_start: int) -> Prompt:
    return dataclasses.replace(
        prompt,
        prefix="".join(p.text for p in pieces if p.name != "suffix_window"),
        pieces=tuple(pieces),
        window_start=window_start,
    )
