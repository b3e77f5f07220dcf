"""A request's alternatives as one batch: n independent plain samples of one prompt, one
forward pass per step for all n rows.

The prompt is put into the shared KV cache once (prefix reuse as for any generation); its
last token is fed once and every row draws its first token from that one distribution. From
then on each pass feeds every unfinished row's latest token as a `ParallelRows` layout: all at
the same position, each row attending the prompt and its own earlier tokens, which lie in the
cache n to a step. Row i draws with `Sampler(params, stream=i)`, exactly the draws a plain
(`ar`) sampled generation with `sample_stream=i` makes, so a seed gives the same samples
batched or one after the other. Afterwards the cache is cropped back to the prompt.

Iterating yields row 0's text deltas (the streamed first item); `samples` has every row once
the batch has ended. Row 0 samples plainly here: no drafting, since a pass of n rows already
costs about what a pass of one does on a memory-bound CPU or GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from sdsat_lsp.engine.decoding import Cancelled, Decoder
from sdsat_lsp.engine.detokenize import IncrementalDetokenizer
from sdsat_lsp.engine.forward.passes import ForwardPasses
from sdsat_lsp.engine.generation import (
    FinishReason,
    GenerationRequest,
    GenerationStats,
    VisibleText,
)
from sdsat_lsp.engine.pass_layout import ParallelRows, PassLayout
from sdsat_lsp.engine.sampling import Sampler
from sdsat_lsp.engine.speculative_sampling import logprob


@dataclass(frozen=True)
class Sample:
    text: str
    finish_reason: str
    logprob: float  # the model's log-probability of the sample's tokens


class _Row(VisibleText):
    """One continuation: its draws, tokens, text and where its tokens lie in the cache."""

    def __init__(self, request: GenerationRequest, stream: int, tokenizer: object) -> None:
        assert request.sampling is not None
        self.request = request
        self.sampler = Sampler(request.sampling, stream)
        self.detokenizer = IncrementalDetokenizer(tokenizer, request.prompt_ids)
        self.tokens: list[int] = []
        self.slots: list[int] = []  # cache rows holding this row's fed tokens
        self.text = ""
        self.logprob = 0.0
        self.finish_reason: FinishReason = "running"

    def draw(self, logits: torch.Tensor) -> str:
        """Sample the next token from this row's logits; return the new visible text. Stop
        rules as `Generation`'s: a stop token, the token limit, the caller's stop check."""
        token = self.sampler.draw(self.sampler.distribution(logits))
        if token in self.request.stop_token_ids:
            self.finish_reason = "eos"
            return ""
        self.tokens.append(token)
        self.logprob += logprob(logits, token)
        if len(self.tokens) >= self.request.max_new_tokens:
            self.finish_reason = "length"
        return self._update_text([token])


class BatchedSamples:
    """Lazy, as a `Generation`: iterating runs the batch. Use from the model's thread."""

    def __init__(
        self,
        request: GenerationRequest,
        count: int,
        *,
        passes: ForwardPasses,
        tokenizer: object,
        cancelled: Callable[[], bool],
    ) -> None:
        if request.sampling is None:
            raise ValueError("batched samples need sampling parameters")
        if not request.prompt_ids:
            raise ValueError("empty prompt: at least one token is needed")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.request = request
        self.passes = passes
        self.cancelled = cancelled
        self.rows = [_Row(request, stream, tokenizer) for stream in range(count)]
        self.finish_reason: FinishReason = "running"
        self.forward_passes = 0
        self._stats: GenerationStats | None = None
        self._started = False

    @property
    def text(self) -> str:
        return self.rows[0].text

    @property
    def stats(self) -> GenerationStats:
        if self._stats is None:
            raise RuntimeError("stats are ready once the batch has finished")
        return self._stats

    @property
    def samples(self) -> list[Sample]:
        """Every row, in stream order (row 0 first); empty if cancelled."""
        if self.finish_reason == "cancelled":
            return []
        return [Sample(row.text, row.finish_reason, row.logprob) for row in self.rows]

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a batch runs once")
        self._started = True
        request, cache = self.request, self.passes.cache
        prompt = request.prompt_ids
        start = time.perf_counter()
        prefill_end = start
        first_delta: float | None = None
        reused = 0
        try:
            if not request.reuse_prefix:
                cache.reset()
            reused = cache.common_prefix_length(prompt[:-1])
            cache.crop_to(reused)
            Decoder(self.passes, cancelled=self.cancelled).prefill(prompt[reused:-1])
            prefill_end = time.perf_counter()
            # The prompt's last token once; every row draws its first token from it.
            (shared_logits,) = self._forward([prompt[-1]], None)
            shared = len(prompt)
            deltas = [row.draw(shared_logits) for row in self.rows]
            step = 0
            while True:
                if deltas[0]:
                    first_delta = first_delta or time.perf_counter()
                    yield deltas[0]
                active = [row for row in self.rows if row.finish_reason == "running"]
                if not active:
                    break
                past = len(self.passes.cache)
                layout = ParallelRows(shared, [row.slots for row in active], shared + step)
                logits = self._forward([row.tokens[-1] for row in active], layout)
                for index, row in enumerate(active):
                    row.slots.append(past + index)
                deltas = [
                    row.draw(logits[active.index(row)]) if row in active else ""
                    for row in self.rows
                ]
                step += 1
            self.finish_reason = self.rows[0].finish_reason
        except Cancelled:
            self.finish_reason = "cancelled"
        finally:
            if prefill_end == start:
                prefill_end = time.perf_counter()
            # The scattered rows are no prefix of anything: keep only the prompt for reuse.
            self.passes.cache.crop_to(min(len(self.passes.cache), len(prompt)))
            self._stats = self._make_stats(start, prefill_end, first_delta, reused)

    def _forward(self, token_ids: list[int], layout: PassLayout | None) -> torch.Tensor:
        if self.cancelled():
            raise Cancelled
        logits = self.passes.run_logits(token_ids, keep=len(token_ids), tree=layout)
        self.forward_passes += 1
        return logits

    def _make_stats(
        self, start: float, prefill_end: float, first_delta: float | None, reused: int
    ) -> GenerationStats:
        """Row 0's stats (the streamed item), with the batch's passes."""
        end = time.perf_counter()
        row = self.rows[0]
        new_tokens = len(row.tokens)
        passes = self.forward_passes
        assert self.request.sampling is not None
        return GenerationStats(
            strategy="ar",
            k=0,
            prompt_tokens=len(self.request.prompt_ids),
            reused_prefix_tokens=reused,
            prefill_ms=round((prefill_end - start) * 1000, 3),
            first_delta_ms=None if first_delta is None else round((first_delta - start) * 1000, 3),
            total_ms=round((end - start) * 1000, 3),
            new_tokens=new_tokens,
            forward_passes=passes,
            rounds=passes,
            drafted_tokens=0,
            accepted_tokens=0,
            accepted_per_round=0.0,
            tokens_per_pass=round(new_tokens / passes, 4) if passes else 0.0,
            tokens_per_second=round(new_tokens / max(end - prefill_end, 1e-9), 3),
            finish_reason=self.finish_reason,
            temperature=self.request.sampling.temperature,
            logprob=round(row.logprob, 4),
        )
