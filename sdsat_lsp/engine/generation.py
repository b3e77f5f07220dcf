"""One generation, streaming first: iterate it for text deltas, then read text and stats.

Non-streaming callers simply exhaust the iterator (`Generation.collect()`). With
`starts_with`, the first tokens keep to the cursor's indentation (lead.py) before the
strategy's rounds take over. Stopping rules, in the order checked after every round: a stop
token (EOS/EOT), the token limit, the caller's stop rule on the text so far; cancellation is
checked before every forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sdsat_lsp.config import SAT_STRATEGIES, SamplingParams, StrategyName
from sdsat_lsp.engine.decoding import Cancelled, Decoder, Round
from sdsat_lsp.engine.detokenize import IncrementalDetokenizer
from sdsat_lsp.engine.forward.passes import ForwardPasses
from sdsat_lsp.engine.lead import LeadConstraint
from sdsat_lsp.engine.sampling import Sampler
from sdsat_lsp.engine.speculative_sampling import SamplingDecoder

FinishReason = Literal["eos", "length", "stop", "cancelled", "running"]
# The caller's stop check on the text so far: where to cut it, or None to go on
# (context.StopRule.check is one).
StopCheck = Callable[[str], int | None]


@dataclass(frozen=True)
class GenerationStats:
    strategy: str
    k: int
    prompt_tokens: int
    reused_prefix_tokens: int
    prefill_ms: float
    first_delta_ms: float | None  # from the start of the generation, prefill included
    total_ms: float
    new_tokens: int
    forward_passes: int
    rounds: int
    drafted_tokens: int
    accepted_tokens: int
    accepted_per_round: float
    tokens_per_pass: float
    tokens_per_second: float  # decoding only: new tokens / (total - prefill)
    finish_reason: str
    temperature: float = 0.0  # 0: greedy
    logprob: float | None = None  # sampling: the model's log-probability of the new tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: tuple[int, ...]
    strategy: StrategyName
    k: int
    max_new_tokens: int
    stop_token_ids: frozenset[int]
    sat_id: int | None = None
    stop: StopCheck | None = None
    reuse_prefix: bool = True
    sampling: SamplingParams | None = None  # None: greedy
    sample_stream: int = 0  # which of a request's alternatives (seeds each its own draws)
    # The cursor's line break(s) and indentation: the text starts with them, then code
    # (lead.py); "" for no constraint.
    starts_with: str = ""


class VisibleText:
    """The text a generation shows so far: its tokens detokenized, cut at the caller's stop
    check (a cut ends it with finish reason "stop"). Shared by `Generation` and the rows of a
    sampled batch (batched_sampling.py)."""

    request: GenerationRequest
    detokenizer: IncrementalDetokenizer
    text: str
    finish_reason: FinishReason

    def _update_text(self, kept: Sequence[int]) -> str:
        """Add `kept` tokens; return the newly visible text."""
        self.detokenizer.push(kept)
        text = self.detokenizer.text()
        if self.request.stop is not None:
            cut = self.request.stop(text)
            if cut is not None:
                text = text[:cut]
                if self.finish_reason == "running":
                    self.finish_reason = "stop"
        previous = self.text
        self.text = text
        return text[len(previous) :] if text.startswith(previous) else ""


class Generation(VisibleText):
    """Lazy: iterating runs the model. Use from the thread that owns the model."""

    def __init__(
        self,
        request: GenerationRequest,
        *,
        passes: ForwardPasses,
        tokenizer: Any,
        cancelled: Callable[[], bool],
    ) -> None:
        if not request.prompt_ids:
            raise ValueError("empty prompt: at least one token is needed")
        if request.strategy in SAT_STRATEGIES and request.sat_id is None:
            raise ValueError(f"the {request.strategy} strategy needs a SAT token id")
        if request.strategy != "ar" and request.k < 1:
            raise ValueError(f"k must be at least 1 for {request.strategy}, got {request.k}")
        self.request = request
        self.decoder = (
            Decoder(passes, cancelled=cancelled)
            if request.sampling is None
            else SamplingDecoder(
                passes, Sampler(request.sampling, request.sample_stream), cancelled=cancelled
            )
        )
        self.logprob = 0.0  # sampling: sum over the kept tokens
        self.detokenizer = IncrementalDetokenizer(tokenizer, request.prompt_ids)
        self.tokens: list[int] = []
        self.text = ""
        self.finish_reason: FinishReason = "running"
        self._stats: GenerationStats | None = None
        self._started = False
        self._drafts: list[int] = []  # sdsat-tree: drafted by the previous pass
        self.lead = (
            LeadConstraint(
                request.starts_with, tokenizer, request.prompt_ids, request.stop_token_ids
            )
            if request.starts_with
            else None
        )

    @property
    def stats(self) -> GenerationStats:
        if self._stats is None:
            raise RuntimeError("stats are ready once the generation has finished")
        return self._stats

    def collect(self) -> str:
        for _ in self:
            pass
        return self.text

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a Generation runs once")
        self._started = True
        request = self.request
        start = time.perf_counter()
        prefill_end = start
        first_delta: float | None = None
        rounds: list[Round] = []
        reused = 0
        pending = request.prompt_ids[-1]
        history = list(request.prompt_ids)
        try:
            if not request.reuse_prefix:
                self.decoder.cache.reset()
            reused = self.decoder.cache.common_prefix_length(request.prompt_ids[:-1])
            self.decoder.cache.crop_to(reused)
            self.decoder.prefill(request.prompt_ids[reused:-1])
            prefill_end = time.perf_counter()
            while self.finish_reason == "running":
                if self.lead is not None and not self.lead.active(self.detokenizer.text()):
                    self.lead = None  # done: later rounds decode nothing extra
                if self.lead is not None:
                    round_ = self.decoder.lead_round(pending, self.lead, self.tokens)
                else:
                    round_ = self._run_round(pending, history)
                rounds.append(round_)
                kept = self._commit(round_.committed)
                self.logprob += sum(round_.logprobs[: len(kept)])
                if kept:
                    history.extend(kept)
                    pending = kept[-1]
                delta = self._update_text(kept)
                if delta:
                    first_delta = first_delta or time.perf_counter()
                    yield delta
        except Cancelled:
            self.finish_reason = "cancelled"
        finally:
            if prefill_end == start:
                prefill_end = time.perf_counter()
            self._stats = self._make_stats(start, prefill_end, first_delta, rounds, reused)

    def _run_round(self, pending: int, history: Sequence[int]) -> Round:
        request = self.request
        if request.strategy == "sdsat":
            assert request.sat_id is not None
            return self.decoder.sdsat_round(pending, request.sat_id, request.k)
        if request.strategy == "sdsat-tree":
            assert request.sat_id is not None
            round_, self._drafts = self.decoder.sdsat_tree_round(
                pending, self._drafts, request.sat_id, request.k
            )
            return round_
        if request.strategy == "lookup":
            return self.decoder.lookup_round(pending, history, request.k)
        return self.decoder.ar_round(pending)

    def _commit(self, committed: Sequence[int]) -> list[int]:
        """Apply stop tokens and the token limit inside an accepted block."""
        kept: list[int] = []
        for token in committed:
            if token in self.request.stop_token_ids:
                self.finish_reason = "eos"
                break
            kept.append(token)
            if len(self.tokens) + len(kept) >= self.request.max_new_tokens:
                self.finish_reason = "length"
                break
        self.tokens.extend(kept)
        return kept

    def _make_stats(
        self,
        start: float,
        prefill_end: float,
        first_delta: float | None,
        rounds: Sequence[Round],
        reused: int,
    ) -> GenerationStats:
        end = time.perf_counter()
        passes = sum(r.passes for r in rounds)
        drafted = sum(r.drafted for r in rounds)
        accepted = sum(r.accepted for r in rounds)
        new_tokens = len(self.tokens)
        decode_seconds = max(end - prefill_end, 1e-9)
        return GenerationStats(
            strategy=self.request.strategy,
            k=self.request.k if self.request.strategy != "ar" else 0,
            prompt_tokens=len(self.request.prompt_ids),
            reused_prefix_tokens=reused,
            prefill_ms=round((prefill_end - start) * 1000, 3),
            first_delta_ms=None if first_delta is None else round((first_delta - start) * 1000, 3),
            total_ms=round((end - start) * 1000, 3),
            new_tokens=new_tokens,
            forward_passes=passes,
            rounds=len(rounds),
            drafted_tokens=drafted,
            accepted_tokens=accepted,
            accepted_per_round=round(accepted / len(rounds), 4) if rounds else 0.0,
            tokens_per_pass=round(new_tokens / passes, 4) if passes else 0.0,
            tokens_per_second=round(new_tokens / decode_seconds, 3),
            finish_reason=self.finish_reason,
            temperature=0.0 if self.request.sampling is None else self.request.sampling.temperature,
            logprob=None if self.request.sampling is None else round(self.logprob, 4),
        )
