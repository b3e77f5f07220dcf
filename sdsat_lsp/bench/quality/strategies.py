"""The prompt strategies the quality benchmark compares, all within the same token budget.

    prefix            the prefix window alone (no header, snippets, imports, signatures or
                      definitions): the plain window of llm-ls-style clients
    prefix-unaligned  `prefix`, its first tokens not held to the cursor's indentation on a
                      blank line (engine/lead.py's ablation: the model picks the indentation)
    header            the prefix window after the file's path header (the only piece a lone
                      file gets; HumanEval hinted it helps the default model)
    ours              the prompt as shipped before cross-file definitions: header, snippets,
                      imports and signatures, window
    ours-no-snippets  `ours` without the snippets from other open documents
    ours+definitions  `ours` plus definitions of the imported names the code uses
    trimmed-snippets  `ours+definitions` with snippets cut to fit their budget instead of
                      dropped (the ablation showed whole snippets rarely fit; not better)
    shipped           what the pipeline sends for this model: its registry entry's
                      `prompt_pieces` (the default model: the prefix window alone, measured
                      best for it; a model with every piece: `ours+definitions`)
    ring              llama.vscode's extra context, reimplemented (see `RingBuffer`)

Every strategy goes through the same pipeline afterwards (the same cursor-whitespace handling,
stop rules and finalize), so the comparison is about the context alone.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sdsat_lsp.bench.quality.config import STRATEGIES
from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document, Position, Prompt, PromptPiece, PromptRecipe
from sdsat_lsp.pipeline import CompletionBackend
from sdsat_lsp.pipeline.completion import completion_prompt

# None: the model's own pieces (completion_prompt reads them from the backend)
WINDOW_ALONE = PromptRecipe.from_pieces([])
RECIPES: dict[str, PromptRecipe | None] = {
    "prefix": WINDOW_ALONE,
    "prefix-unaligned": WINDOW_ALONE,  # decoded without the indentation constraint (UNALIGNED)
    "header": PromptRecipe.from_pieces(["header"]),
    "ours": PromptRecipe(definitions=False, trim_snippets=False),
    "ours-no-snippets": PromptRecipe(snippets=False, definitions=False),
    "ours+definitions": PromptRecipe(trim_snippets=False),
    "trimmed-snippets": PromptRecipe(trim_snippets=True),
    "shipped": None,
}
assert (*RECIPES, "ring") == STRATEGIES
# Strategies whose completions leave the indentation on a blank line to the model.
UNALIGNED = frozenset({"prefix-unaligned"})

# llama.vscode's defaults (src/configuration.ts; the same in llama.vim's autoload/llama.vim).
RING_N_CHUNKS = 16
RING_CHUNK_SIZE = 64  # lines; a picked chunk is half of it
RING_SCOPE = 1024  # lines above the cursor a FIM request may pick a chunk from
N_PREFIX = 256  # lines of local prefix
N_SUFFIX = 64
MAX_QUEUED_CHUNKS = 16
EVICT_SIMILARITY = 0.9
# llama.cpp's /infill (tools/server/utils.hpp `format_infill`) separates chunks with this when
# the model has no FIM_SEP token (SmolLM2 has none), and takes the prefix's last 3/4 of a batch.
CHUNK_SEPARATOR = "\n\n--- snippet ---\n\n"
PREFIX_SHARE = 0.75
# How many other files the simulated user visited before the completion (an editor switch
# picks a chunk around the cursor of the file entered).
VISITED_FILES = 8


@dataclass
class RingBuffer:
    """llama.vscode's ring buffer of chunks (ggml-org/llama.vscode `src/extra-context.ts`,
    ported from ggml-org/llama.vim `autoload/llama.vim`): `pick_chunk` takes a random
    half-size chunk of the given lines, drops it when the same text is held, evicts held and
    queued chunks whose line-set Jaccard similarity with it exceeds 0.9, and queues it (at
    most 16 queued); the periodic update moves queued chunks into the ring, which keeps the
    newest `RING_N_CHUNKS`. The chunks go, oldest first, before the local prefix."""

    rng: random.Random
    chunks: list[list[str]] = field(default_factory=list)
    queued: list[list[str]] = field(default_factory=list)

    def pick_chunk(self, lines: list[str], do_evict: bool) -> None:
        if len(lines) < 3:
            return
        if len(lines) + 1 < RING_CHUNK_SIZE:
            chunk = lines
        else:
            start = self.rng.randrange(max(0, len(lines) - RING_CHUNK_SIZE // 2 + 1))
            chunk = lines[start : min(start + RING_CHUNK_SIZE // 2, len(lines))]
        if do_evict and (chunk in self.chunks or chunk in self.queued):
            return
        if do_evict:
            self.chunks = [c for c in self.chunks if _jaccard(c, chunk) <= EVICT_SIMILARITY]
            self.queued = [c for c in self.queued if _jaccard(c, chunk) <= EVICT_SIMILARITY]
        if len(self.queued) >= MAX_QUEUED_CHUNKS:
            self.queued.pop(0)
        self.queued.append(chunk)

    def pick_around_cursor(self, lines: list[str], cursor_line: int) -> None:
        first = max(0, cursor_line - RING_CHUNK_SIZE // 2)
        last = min(cursor_line + RING_CHUNK_SIZE // 2, len(lines) - 1)
        self.pick_chunk(lines[first : last + 1], do_evict=True)

    def add_fim_context(self, lines: list[str], cursor_line: int) -> None:
        """What a FIM request far from the last pick queues: a chunk from above the local
        prefix and one from below the local suffix."""
        above = lines[max(0, cursor_line - RING_SCOPE) : max(0, cursor_line - N_PREFIX) + 1]
        self.pick_chunk(above, do_evict=False)
        below_start = min(len(lines) - 1, cursor_line + N_SUFFIX)
        below_end = min(len(lines) - 1, cursor_line + N_SUFFIX + RING_CHUNK_SIZE)
        self.pick_chunk(lines[below_start : below_end + 1], do_evict=False)

    def update_all(self) -> None:
        """The periodic update, run until the queue is empty (the user paused)."""
        while self.queued:
            self.chunks.append(self.queued.pop(0))
            while len(self.chunks) > RING_N_CHUNKS:
                self.chunks.pop(0)

    def texts(self) -> list[str]:
        return ["\n".join(chunk) + "\n" for chunk in self.chunks]


def _jaccard(a: list[str], b: list[str]) -> float:
    set_a, set_b = set(a), set(b)
    if not set_a and not set_b:
        return 1.0
    return len(set_a & set_b) / len(set_a | set_b)


def ring_history(
    document: Document, cursor_line: int, others: Sequence[Document], seed: str
) -> RingBuffer:
    """The ring as a session leaves it: the user visited some other files of the set (a chunk
    around the cursor of each), came back, and a FIM request at the cursor picked its chunks."""
    rng = random.Random(seed)
    ring = RingBuffer(rng)
    same_language = sorted(
        (other for other in others if other.language == document.language),
        key=lambda other: other.uri,
    )
    for other in rng.sample(same_language, min(VISITED_FILES, len(same_language))):
        lines = other.text.split("\n")
        ring.pick_around_cursor(lines, rng.randrange(len(lines)))
    ring.update_all()
    lines = document.text.split("\n")
    ring.pick_around_cursor(lines, cursor_line)  # entering the current file
    ring.add_fim_context(lines, cursor_line)
    ring.update_all()
    return ring


def ring_prompt(
    backend: CompletionBackend,
    document: Document,
    position: Position,
    others: Sequence[Document],
    settings: Settings,
    seed: str,
) -> Prompt:
    """The local prefix (its last 3/4 of the budget, as llama.cpp takes it) after the ring's
    chunks, which fill the rest from their end (the newest chunks are kept)."""
    budget = settings.context_tokens
    local_settings = dataclasses.replace(settings, context_tokens=int(budget * PREFIX_SHARE))
    local = completion_prompt(backend, document, position, local_settings, (), RECIPES["prefix"])
    ring = ring_history(document, position.line, others, seed)
    extra_lines = "".join(CHUNK_SEPARATOR + text for text in ring.texts()).split("\n")
    left = budget - backend.count_tokens(local.prefix)
    extra_lines = trim_front(extra_lines, lambda text: backend.count_tokens(text) <= left)
    if not extra_lines:
        return local
    extra = "\n".join(extra_lines)
    piece = PromptPiece("ring_chunks", extra, backend.count_tokens(extra))
    return dataclasses.replace(local, prefix=extra + local.prefix, pieces=(piece, *local.pieces))


def trim_front(lines: list[str], fits: Callable[[str], bool]) -> list[str]:
    """The longest tail of `lines` whose text `fits`, among the tails that dropping a 16th of
    the lines from the front (at least one) step by step leaves; [] when none fits.

    The steps are those of the loop this replaces, which counted the whole text after each:
    ~16 ln n counts, ~16 n lines tokenized in all. A binary search over the same steps counts
    ~log2 of that and finds the loop's tail as long as no tail has more tokens than a longer
    tail of the same lines (a BPE could in principle merge across the joint; the test checks
    real files on the default model's tokenizer against the loop)."""
    lengths = [len(lines)]
    while lengths[-1]:
        lengths.append(lengths[-1] - max(1, lengths[-1] // 16))
    low, high = 0, len(lengths) - 1  # the empty tail, at `high`, always "fits"
    while low < high:
        middle = (low + high) // 2
        if fits("\n".join(lines[len(lines) - lengths[middle] :])):
            high = middle
        else:
            low = middle + 1
    return lines[len(lines) - lengths[low] :]


def strategy_prompt(
    name: str,
    backend: CompletionBackend,
    document: Document,
    position: Position,
    others: Sequence[Document],
    settings: Settings,
    seed: str,
) -> Prompt:
    if name == "ring":
        return ring_prompt(backend, document, position, others, settings, seed)
    if name not in RECIPES:
        raise ValueError(f"unknown strategy {name!r} (one of {', '.join(STRATEGIES)})")
    return completion_prompt(backend, document, position, settings, others, RECIPES[name])
