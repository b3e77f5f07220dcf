"""The completion pipeline: document + position + settings → one completion.

    prompt      `build_prompt` (tree-sitter context, within the token budget) → Prompt
    encode      the backend's token ids for the prompt (FIM layout is the backend's)
    generate    greedy, with the prompt's stop rule checked by the backend after every round
    show        `on_text(visible)` whenever the stop rule's view of the text so far changes
    finalize    the text to insert: `StopRule.finalize` of everything generated

The server, `sdsat-lsp complete`, the stop-rule evaluation and the tests all run this one
function, so a change to a stop rule or a new backend reaches every one of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document, Position, Prompt, PromptRecipe, Shape, build_prompt
from sdsat_lsp.pipeline.backend import CompletionBackend


@dataclass(frozen=True)
class CompletionOutcome:
    prompt: Prompt
    finish_reason: str  # eos | length | stop | cancelled | none (no completion at this position)
    text: str = ""  # to insert at the cursor; "" when cancelled or nothing fits here
    raw_text: str = ""  # what the model generated (cut by the stop rule), before finalizing
    stats: dict[str, Any] | None = None  # the backend's generation stats; None: it never ran
    new_tokens: int = 0
    prompt_ms: float = 0.0
    encode_ms: float = 0.0
    generate_ms: float = 0.0


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def completion_prompt(
    backend: CompletionBackend,
    document: Document,
    position: Position,
    settings: Settings,
    other_documents: Sequence[Document] = (),
    recipe: PromptRecipe | None = None,
) -> Prompt:
    """The prompt the pipeline sends for this position (also what `sdsat-lsp prompt` shows)."""
    return build_prompt(
        document,
        position,
        budget_tokens=settings.context_tokens,
        count_tokens=backend.count_tokens,
        fim=backend.info.fim,
        other_documents=list(other_documents),
        recipe=recipe,
    )


def complete(
    backend: CompletionBackend,
    document: Document,
    position: Position,
    settings: Settings,
    *,
    other_documents: Sequence[Document] = (),
    documents_lock: contextlib.AbstractContextManager[Any] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    on_text: Callable[[str], None] = lambda text: None,
    stop_rules: bool = True,
    recipe: PromptRecipe | None = None,
    prompt: Prompt | None = None,
) -> CompletionOutcome:
    """Run one completion on `backend` and return it; `on_text` gets the visible text so far.

    `documents_lock` is held while the prompt reads the documents (milliseconds), for callers
    whose documents are edited on another thread. `stop_rules=False` generates to the token
    limit (or EOS) and returns the raw text, even where no completion makes sense.
    `recipe` turns prompt pieces off, and `prompt` replaces the built prompt altogether (the
    quality benchmark's ablations and peer strategies: the rest of the pipeline is the same).
    """
    started = time.perf_counter()
    if prompt is None:
        with documents_lock or contextlib.nullcontext():
            prompt = completion_prompt(
                backend, document, position, settings, other_documents, recipe
            )
    prompt_ms = _ms_since(started)

    if stop_rules and prompt.shape is Shape.NONE:
        return CompletionOutcome(prompt, "none", prompt_ms=prompt_ms)
    if cancelled():
        return CompletionOutcome(prompt, "cancelled", prompt_ms=prompt_ms)

    started = time.perf_counter()
    prompt_ids = backend.encode_prompt(prompt.prefix, prompt.suffix)
    encode_ms = _ms_since(started)

    started = time.perf_counter()
    stop = prompt.stop if stop_rules else None
    stream = backend.generate(
        prompt_ids,
        max_new_tokens=settings.max_new_tokens,
        stop=None if stop is None else stop.check,
        cancelled=cancelled,
        strategy=None if settings.strategy == "auto" else settings.strategy,
        k=settings.k or None,
        reuse_prefix=settings.prefix_reuse,
    )
    shown = ""
    for _ in stream:
        # What an editor shows is the stop rule's view of the text so far (cursor whitespace
        # aligned, leading blank lines dropped), never the raw deltas.
        visible = stream.text if stop is None else stop.visible(stream.text)
        if visible != shown and not cancelled():
            shown = visible
            on_text(visible)
    generate_ms = _ms_since(started)
    raw = stream.text
    if stream.finish_reason == "cancelled":
        final = ""
    else:
        final = raw if stop is None else stop.finalize(raw)
    return CompletionOutcome(
        prompt,
        stream.finish_reason,
        text=final,
        raw_text=raw,
        stats=stream.stats.to_dict(),
        new_tokens=stream.stats.new_tokens,
        prompt_ms=prompt_ms,
        encode_ms=encode_ms,
        generate_ms=generate_ms,
    )
