"""The decoders a benchmark compares, behind one small interface.

A runner decodes one prompt (token ids) greedily and returns a `Measurement`. Runners here:
our engine's strategies (`ar`, `sdsat`, `lookup`) and the in-process peers on the very same
model object: transformers' `generate(do_sample=False)` and its assisted generation with
`prompt_lookup_num_tokens`. llama.cpp lives in `llamacpp.py` (a separate library and weights
file). Every runner stops on the model's stop ids and at `max_new_tokens`, and never keeps KV
state from one prompt to the next, so all of them do the same work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sdsat_lsp.bench.measure import Measurement, PeakMemory
from sdsat_lsp.config import STRATEGIES
from sdsat_lsp.engine import Engine

ENGINE_STRATEGIES = STRATEGIES
HF_PEERS = ("hf-greedy", "hf-lookup")


class Runner(Protocol):
    name: str  # unique in a run: "ar", "sdsat k=4", "hf-lookup k=4"
    family: str  # what the plot groups by: "sdsat", "lookup", "hf-lookup", …
    k: int  # drafts per round; 0 for runners without drafts
    lossless: bool  # must reproduce `ar` token for token (same weights, same precision)

    def run(self, prompt_name: str, prompt_ids: Sequence[int]) -> Measurement: ...


def runner_name(family: str, k: int) -> str:
    return f"{family} k={k}" if k else family


@dataclass
class EngineRunner:
    """One of our strategies, through the public `Engine.generate` streaming path."""

    engine: Engine
    family: str
    k: int
    max_new_tokens: int
    lossless: bool = True
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = runner_name(self.family, self.k)

    def run(self, prompt_name: str, prompt_ids: Sequence[int]) -> Measurement:
        memory = PeakMemory(self.engine.loaded.device.type)
        generation = self.engine.generate(
            prompt_ids,
            max_new_tokens=self.max_new_tokens,
            strategy=self.family,
            k=self.k or None,
            reuse_prefix=False,
        )
        with memory.watch():
            generation.collect()
        stats = generation.stats
        return Measurement(
            runner=self.name,
            prompt=prompt_name,
            tokens=tuple(generation.tokens),
            total_ms=stats.total_ms,
            first_token_ms=stats.first_delta_ms,
            forward_passes=stats.forward_passes,
            accepted_per_round=stats.accepted_per_round if self.family != "ar" else None,
            peak_memory_mib=memory.peak_mib,
            extra_memory_mib=memory.extra_mib,
            details={
                "prefill_ms": stats.prefill_ms,
                "decode_tokens_per_second": stats.tokens_per_second,
                "drafted_tokens": stats.drafted_tokens,
                "accepted_tokens": stats.accepted_tokens,
                "finish_reason": stats.finish_reason,
            },
        )


class _FirstTokenClock:
    """A transformers streamer that only notes when the first new token arrived."""

    def __init__(self) -> None:
        self.puts = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.puts += 1  # the first put is the prompt itself
        if self.puts == 2 and self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


@dataclass
class HFRunner:
    """transformers `generate()`: plain greedy (k=0) or prompt-lookup assisted (k>0)."""

    engine: Engine
    k: int
    max_new_tokens: int
    lossless: bool = True
    family: str = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.family = "hf-lookup" if self.k else "hf-greedy"
        self.name = runner_name(self.family, self.k)

    def run(self, prompt_name: str, prompt_ids: Sequence[int]) -> Measurement:
        import torch
        from transformers import GenerationConfig

        loaded = self.engine.loaded
        stop_ids = sorted(loaded.spec.stop_ids())
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            eos_token_id=stop_ids or None,
            pad_token_id=stop_ids[0] if stop_ids else 0,
            prompt_lookup_num_tokens=self.k or None,
        )
        model = loaded.model
        passes = 0

        def count_pass(module: Any, args: Any) -> None:
            nonlocal passes
            passes += 1

        hook = model.register_forward_pre_hook(count_pass)
        inputs = torch.tensor([list(prompt_ids)], dtype=torch.long, device=loaded.device)
        clock = _FirstTokenClock()
        memory = PeakMemory(loaded.device.type)
        try:
            with memory.watch(), torch.inference_mode():
                start = time.perf_counter()
                output = model.generate(
                    inputs,
                    attention_mask=torch.ones_like(inputs),
                    generation_config=config,
                    streamer=clock,
                )
                end = time.perf_counter()
        finally:
            hook.remove()
        tokens = cut_at_stop(output[0, inputs.shape[1] :].tolist(), stop_ids)
        first_ms = None if clock.first is None else (clock.first - start) * 1000
        return Measurement(
            runner=self.name,
            prompt=prompt_name,
            tokens=tuple(tokens),
            total_ms=round((end - start) * 1000, 3),
            first_token_ms=None if first_ms is None else round(first_ms, 3),
            forward_passes=passes,
            # each pass commits its accepted drafts plus one token of its own
            accepted_per_round=(len(tokens) - passes) / passes if self.k and passes else None,
            peak_memory_mib=memory.peak_mib,
            extra_memory_mib=memory.extra_mib,
        )


def cut_at_stop(tokens: Sequence[int], stop_ids: Sequence[int]) -> list[int]:
    """Tokens before the first stop id (our engine never returns the stop token itself)."""
    stops = set(stop_ids)
    for index, token in enumerate(tokens):
        if token in stops:
            return list(tokens[:index])
    return list(tokens)
