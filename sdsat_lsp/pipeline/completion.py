"""The completion pipeline: document + position + settings → one completion.

    prompt      `build_prompt` (tree-sitter context, within the token budget) → Prompt
    encode      the backend's token ids for the prompt (FIM layout is the backend's)
    generate    greedy (or sampled: settings.temperature), with the prompt's stop rule checked
                by the backend after every round
    show        `on_text(visible)` whenever the stop rule's view of the text so far changes
    finalize    the text to insert: `StopRule.finalize` of everything generated
    alternatives  (sampling, `alternatives` > 1) more samples for the same prompt: on a backend
                that batches them (the local engine) all n in one batch, one pass per step, the
                first streamed; else one after the other on the same prefix cache. De-duplicated,
                likeliest first, the streamed one first

The server, `sdsat-lsp complete`, the stop-rule evaluation and the tests all run this one
function, so a change to a stop rule or a new backend reaches every one of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sdsat_lsp.config import SamplingParams, Settings
from sdsat_lsp.context import (
    Document,
    Position,
    Prompt,
    PromptRecipe,
    Shape,
    StopRule,
    build_prompt,
)
from sdsat_lsp.pipeline.backend import (
    BatchSamplingBackend,
    CompletionBackend,
    SampleBatch,
    TextStream,
)


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
    # More completions for the same position (sampling with alternatives > 1): the streamed
    # `text` stays first, so ghost text does not jump; these follow, likeliest first.
    alternatives: tuple[str, ...] = ()


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
    """The prompt the pipeline sends for this position (also what `sdsat-lsp prompt` shows):
    the model's own pieces (its registry entry's `prompt_pieces`) unless `recipe` says."""
    return build_prompt(
        document,
        position,
        budget_tokens=settings.context_tokens,
        count_tokens=backend.count_tokens,
        fim=backend.info.fim,
        other_documents=list(other_documents),
        recipe=recipe or PromptRecipe.from_pieces(backend.info.prompt_pieces),
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
    alternatives: int = 1,
    batch_alternatives: bool = True,
    cursor_indentation: bool = True,
) -> CompletionOutcome:
    """Run one completion on `backend` and return it; `on_text` gets the visible text so far.

    `documents_lock` is held while the prompt reads the documents (milliseconds), for callers
    whose documents are edited on another thread. `stop_rules=False` generates to the token
    limit (or EOS) and returns the raw text, even where no completion makes sense.
    `recipe` turns prompt pieces off, and `prompt` replaces the built prompt altogether (the
    quality benchmark's ablations and peer strategies: the rest of the pipeline is the same).
    `alternatives` > 1 (with settings.temperature > 0) samples that many completions in all,
    batched where the backend can (`batch_alternatives=False`: one after the other, to compare).
    On a blank line the completion starts at the cursor's indentation (the backend holds its
    first tokens to it: engine/lead.py); `cursor_indentation=False` lets the model choose (the
    quality benchmark's ablation).
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
    sampling = SamplingParams.from_settings(settings)
    lead = prompt.stop.lead
    starts_with = lead if cursor_indentation and "\n" in lead else ""

    def generate(sample_stream: int) -> TextStream:
        return backend.generate(
            prompt_ids,
            max_new_tokens=settings.max_new_tokens,
            stop=None if stop is None else stop.check,
            cancelled=cancelled,
            strategy=None if settings.strategy == "auto" else settings.strategy,
            k=settings.k or None,
            reuse_prefix=settings.prefix_reuse,
            sampling=sampling,
            sample_stream=sample_stream,
            starts_with=starts_with,
        )

    batch: SampleBatch | None = None
    if (
        sampling is not None
        and alternatives > 1
        and batch_alternatives
        and isinstance(backend, BatchSamplingBackend)
    ):
        batch = backend.generate_samples(
            prompt_ids,
            alternatives,
            max_new_tokens=settings.max_new_tokens,
            sampling=sampling,
            stop=None if stop is None else stop.check,
            cancelled=cancelled,
            reuse_prefix=settings.prefix_reuse,
        )
    stream: TextStream = batch if batch is not None else generate(0)
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
    others: tuple[str, ...] = ()
    if batch is not None and final:
        scored = [(sample.text, sample.logprob) for sample in batch.samples[1:]]
        others = rank_samples(scored, stop, exclude=final)
    elif sampling is not None and alternatives > 1 and final:
        others = more_samples(generate, alternatives - 1, stop, cancelled, exclude=final)
        generate_ms = _ms_since(started)
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
        alternatives=others,
    )


def more_samples(
    generate: Callable[[int], TextStream],
    count: int,
    stop: StopRule | None,
    cancelled: Callable[[], bool],
    exclude: str,
) -> tuple[str, ...]:
    """`count` more sampled completions (streams 1…count), finalized, without empty ones or
    repeats of `exclude` or of each other, ordered by the model's log-probability."""
    samples: list[tuple[str, float]] = []
    for sample_stream in range(1, count + 1):
        if cancelled():
            return ()
        stream = generate(sample_stream)
        for _ in stream:
            pass
        if stream.finish_reason == "cancelled":
            return ()
        logprob = stream.stats.to_dict().get("logprob")
        samples.append((stream.text, float(logprob) if isinstance(logprob, int | float) else 0.0))
    return rank_samples(samples, stop, exclude)


def rank_samples(
    samples: Sequence[tuple[str, float]], stop: StopRule | None, exclude: str
) -> tuple[str, ...]:
    """Raw sampled texts with their log-probabilities → finalized, without empty ones or
    repeats of `exclude` or of each other, likeliest first."""
    scored: dict[str, float] = {}
    for raw, score in samples:
        text = raw if stop is None else stop.finalize(raw)
        if text and text != exclude:
            scored[text] = max(score, scored.get(text, score))
    return tuple(sorted(scored, key=lambda text: -scored[text]))
