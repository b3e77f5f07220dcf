"""Speculative sampling against plain sampling: tokens per pass and tokens/s per strategy and
temperature on one engine (`sdsat-lsp bench sampling`).

Every configuration generates the same prompts with the same seed; `ar` at a temperature is
plain sampling, the baseline of that temperature. Sampling passes run eager (see
engine/speculative_sampling.py), so the greedy row (temperature 0) of the same engine is shown
for reference with its own passes. Tokens per pass does not depend on machine load; tokens/s
does (medians over the prompts). `measure_alternatives` times a manual trigger's n samples
batched (one pass per step for all n) against one after the other.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sdsat_lsp.config import SamplingParams
from sdsat_lsp.engine import Engine


@dataclass(frozen=True)
class SamplingRow:
    strategy: str
    k: int
    temperature: float
    prompts: int
    new_tokens: int
    tokens_per_pass: float  # all new tokens / all passes
    tokens_per_second: float  # median over prompts (decoding only)
    accepted_per_round: float
    speedup: float = 0.0  # tokens/s over plain sampling (ar) at the same temperature

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    engine: Engine,
    prompts: Sequence[str],
    strategies: Sequence[str],
    temperatures: Sequence[float],
    k: int,
    max_new_tokens: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda line: None,
) -> list[SamplingRow]:
    rows: list[SamplingRow] = []
    encoded = [engine.encode_prompt(prompt) for prompt in prompts]
    for temperature in temperatures:
        sampling = None if temperature <= 0 else SamplingParams(temperature, seed=seed)
        for strategy in strategies:
            passes = tokens = rounds = accepted = 0
            speeds = []
            for ids in encoded:
                generation = engine.generate(
                    ids,
                    max_new_tokens=max_new_tokens,
                    strategy=strategy,
                    k=k,
                    reuse_prefix=False,
                    sampling=sampling,
                )
                generation.collect()
                stats = generation.stats
                passes += stats.forward_passes
                tokens += stats.new_tokens
                rounds += stats.rounds
                accepted += stats.accepted_tokens
                speeds.append(stats.tokens_per_second)
            row = SamplingRow(
                strategy=strategy,
                k=0 if strategy == "ar" else k,
                temperature=temperature,
                prompts=len(encoded),
                new_tokens=tokens,
                tokens_per_pass=round(tokens / max(passes, 1), 3),
                tokens_per_second=round(statistics.median(speeds), 2),
                accepted_per_round=round(accepted / max(rounds, 1), 3),
            )
            rows.append(row)
            progress(str(row.to_dict()))
    baseline = {r.temperature: r.tokens_per_second for r in rows if r.strategy == "ar"}
    return [
        SamplingRow(**{**r.to_dict(), "speedup": round(r.tokens_per_second / b, 2)})
        if (b := baseline.get(r.temperature))
        else r
        for r in rows
    ]


def table(rows: Sequence[SamplingRow]) -> str:
    lines = [
        "| temperature | strategy | k | new tokens | tokens/pass | tokens/s (median) "
        "| accepted/round | vs plain sampling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.temperature:g} | {r.strategy} | {r.k} | {r.new_tokens} | {r.tokens_per_pass} "
            f"| {r.tokens_per_second} | {r.accepted_per_round} | {r.speedup or '-'}× |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class AlternativesRow:
    mode: str  # batched | sequential
    count: int  # samples per prompt
    temperature: float
    prompts: int
    new_tokens: int  # all samples' tokens
    forward_passes: int
    wall_ms: float  # median over prompts: prefill and all n samples
    speedup: float = 0.0  # sequential wall time over this row's (same temperature)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_alternatives(
    engine: Engine,
    prompts: Sequence[str],
    count: int,
    temperatures: Sequence[float],
    max_new_tokens: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda line: None,
) -> list[AlternativesRow]:
    """n plain samples per prompt: as one batch (`Engine.generate_samples`) and one after the
    other (`ar` with sample streams 0…n-1, the prompt prefilled once): the same draws, so the
    same samples; only the passes differ."""
    rows: list[AlternativesRow] = []
    encoded = [engine.encode_prompt(prompt) for prompt in prompts]
    for temperature in [t for t in temperatures if t > 0]:
        sampling = SamplingParams(temperature, seed=seed)
        for mode in ("sequential", "batched"):
            walls, tokens, passes = [], 0, 0
            for ids in encoded:
                started = time.perf_counter()
                if mode == "batched":
                    batch = engine.generate_samples(
                        ids,
                        count,
                        max_new_tokens=max_new_tokens,
                        sampling=sampling,
                        reuse_prefix=False,
                    )
                    for _ in batch:
                        pass
                    passes += batch.stats.forward_passes
                    tokens += sum(len(row.tokens) for row in batch.rows)
                else:
                    for stream in range(count):
                        generation = engine.generate(
                            ids,
                            max_new_tokens=max_new_tokens,
                            strategy="ar",
                            reuse_prefix=stream > 0,
                            sampling=sampling,
                            sample_stream=stream,
                        )
                        generation.collect()
                        passes += generation.stats.forward_passes
                        tokens += generation.stats.new_tokens
                walls.append((time.perf_counter() - started) * 1000)
            row = AlternativesRow(
                mode=mode,
                count=count,
                temperature=temperature,
                prompts=len(encoded),
                new_tokens=tokens,
                forward_passes=passes,
                wall_ms=round(statistics.median(walls), 1),
            )
            rows.append(row)
            progress(str(row.to_dict()))
    baseline = {r.temperature: r.wall_ms for r in rows if r.mode == "sequential"}
    return [
        AlternativesRow(**{**r.to_dict(), "speedup": round(b / r.wall_ms, 2)})
        if (b := baseline.get(r.temperature)) and r.wall_ms > 0
        else r
        for r in rows
    ]


def alternatives_table(rows: Sequence[AlternativesRow]) -> str:
    lines = [
        "| temperature | alternatives | mode | new tokens | forward passes "
        "| wall ms (median) | vs sequential |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.temperature:g} | {r.count} | {r.mode} | {r.new_tokens} | {r.forward_passes} "
            f"| {r.wall_ms} | {r.speedup or '-'}× |"
        )
    return "\n".join(lines)
