"""Contract: speculative sampling is lossless. For every strategy, the first two tokens it
samples follow plain sampling's distribution with the same temperature/top-k/top-p.

The exact distribution P(t1, t2) = p(t1 | prompt) · p(t2 | prompt, t1) is computed from the
tiny real Llama's own logits; each strategy draws 20,000 samples (4 prompt/setting cases ×
5,000) and a chi-square goodness-of-fit test must not reject at α = 0.001 (seeded, so the
test is deterministic). The same test must reject a deliberately wrong rule (accept every
draft), so it can fail. The model's passes are memoized (`MemoizedRealPasses`): each distinct
pass runs the real model once and repeats return its logits, which makes 20,000 samples per
strategy affordable; the SAT drafts of the random tiny model are poor, so drafts are often
rejected and the residual branch is exercised too.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
import torch

from sdsat_lsp.config import SamplingParams, Settings, describe, settings_from_wire
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.engine.generation import Generation, GenerationRequest
from sdsat_lsp.engine.kv_cache import CachedIds
from sdsat_lsp.engine.sampling import Sampler, target_distribution
from sdsat_lsp.engine.sat_tree import SatTree
from sdsat_lsp.engine.speculative_sampling import SamplingDecoder
from sdsat_lsp.model import LoadedModel

SAMPLES_PER_CASE = 5_000
ALPHA = 1e-3
K = 2  # drafts per round: few distinct passes to memoize, and still a rejection per draft
SPECULATIVE = ("sdsat", "sdsat-tree", "lookup")


class _Ids(CachedIds):
    def _drop_after(self, length: int) -> None:
        pass


class MemoizedRealPasses:
    """The real static passes, memoized on (context, inputs): a repeated pass returns the
    logits the model computed for it the first time. On a miss the real cache is brought to
    the context (crop to the common prefix, fill the rest) and the real pass runs."""

    def __init__(self, real: StaticPasses) -> None:
        self.real = real
        self.cache: CachedIds = _Ids()
        self.prefill_chunk = real.prefill_chunk
        self.description = "memoized " + real.description
        self.memo: dict[tuple[object, ...], torch.Tensor] = {}

    def fill(self, token_ids: Sequence[int]) -> None:
        self.cache.extended_by(token_ids)

    def run(self, token_ids: Sequence[int], keep: int, tree: SatTree | None = None) -> list[int]:
        return self.run_logits(token_ids, keep, tree).argmax(dim=-1).tolist()

    def run_logits(
        self, token_ids: Sequence[int], keep: int, tree: SatTree | None = None
    ) -> torch.Tensor:
        context = tuple(self.cache.token_ids)
        key = (context, tuple(token_ids), keep, None if tree is None else tuple(tree.offsets))
        if key not in self.memo:
            real = self.real.cache
            real.crop_to(real.common_prefix_length(context))
            if len(real) < len(context):
                self.real.fill(context[len(real) :])
            self.memo[key] = self.real.run_logits(token_ids, keep, tree)
            real.crop_to(len(context))
        self.cache.extended_by(token_ids)
        return self.memo[key]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The tiny model's ops are microseconds: a second intra-op thread only adds waiting
    (20× on `tril` on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def memo_passes(tiny_loaded: LoadedModel) -> MemoizedRealPasses:
    real = StaticPasses(tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype, StaticOptions())
    return MemoizedRealPasses(real)


# (prompt ids, settings): repeated n-grams so lookup drafts exist; temperatures above 1
# because the tiny model's logits are sharp (its output layer is scaled up); top-k keeps the
# support small, so few distinct passes run for real and every chi-square cell is well filled.
CASES = [
    ([40, 51, 62, 73, 84, 40, 51], SamplingParams(1.5, top_k=4)),
    ([90, 91, 92, 93, 90, 91, 92], SamplingParams(4.0, top_k=4, top_p=0.85)),
    ([120, 33, 47, 120, 33], SamplingParams(3.0, top_k=3)),
    ([70, 80, 70, 80, 70], SamplingParams(2.5, top_k=4, top_p=0.9)),
]


def exact_pairs(
    passes: MemoizedRealPasses, prompt: list[int], params: SamplingParams
) -> dict[tuple[int, int], float]:
    """Plain sampling's exact distribution of the first two tokens."""
    passes.cache.reset()
    passes.fill(prompt[:-1])
    base = len(passes.cache)
    first = target_distribution(passes.run_logits([prompt[-1]], 1)[0], params)
    pairs = {}
    for t1 in torch.nonzero(first).flatten().tolist():
        passes.cache.crop_to(base)
        second = target_distribution(passes.run_logits([prompt[-1], t1], 2)[1], params)
        for t2 in torch.nonzero(second).flatten().tolist():
            pairs[(t1, t2)] = float(first[t1] * second[t2])
    passes.cache.crop_to(base)
    return pairs


def sample_pairs(
    passes: MemoizedRealPasses,
    prompt: list[int],
    strategy: str,
    sampler: Sampler,
    sat_id: int,
    count: int,
) -> Counter[tuple[int, int]]:
    """`count` samples of the first two tokens, each a fresh generation's rounds."""
    passes.cache.reset()
    passes.fill(prompt[:-1])
    base = len(passes.cache)
    seen: Counter[tuple[int, int]] = Counter()
    for _ in range(count):
        passes.cache.crop_to(base)
        decoder = SamplingDecoder(passes, sampler, cancelled=lambda: False)
        tokens: list[int] = []
        drafts: list[int] = []
        while len(tokens) < 2:
            pending = tokens[-1] if tokens else prompt[-1]
            if strategy == "sdsat":
                round_ = decoder.sdsat_round(pending, sat_id, K)
            elif strategy == "sdsat-tree":
                round_, drafts = decoder.sdsat_tree_round(pending, drafts, sat_id, K)
            elif strategy == "lookup":
                round_ = decoder.lookup_round(pending, [*prompt, *tokens], K)
            else:
                round_ = decoder.ar_round(pending)
            tokens += round_.committed
        seen[(tokens[0], tokens[1])] += 1
    return seen


def chi_square_p_value(
    seen: Counter[tuple[int, int]], exact: dict[tuple[int, int], float]
) -> float:
    """Goodness of fit; cells expected fewer than 5 times are pooled into one. 0 when a sample
    lies outside the target's support (plain sampling never draws it)."""
    total = sum(seen.values())
    if not set(seen) <= set(exact):
        return 0.0
    observed, expected = [], []
    pooled_observed, pooled_expected = 0, 0.0
    for cell, probability in exact.items():
        if probability * total >= 5:
            observed.append(seen[cell])
            expected.append(probability * total)
        else:
            pooled_observed += seen[cell]
            pooled_expected += probability * total
    if pooled_expected > 0:
        observed.append(pooled_observed)
        expected.append(pooled_expected)
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(observed) - 1
    assert df >= 2, "a degenerate case: too few outcomes to test"
    return float(torch.special.gammaincc(torch.tensor(df / 2.0), torch.tensor(statistic / 2.0)))


class AcceptEverything(Sampler):
    """A deliberately wrong rule: every draft accepted (what a lossy sampler might do)."""

    def verify(self, p: torch.Tensor, q: torch.Tensor | None, draft: int) -> tuple[bool, int]:
        return True, draft


def run_cases(
    passes: MemoizedRealPasses,
    loaded: LoadedModel,
    strategy: str,
    wrong: bool = False,
    cases: int = len(CASES),
    samples: int = SAMPLES_PER_CASE,
) -> list[float]:
    assert loaded.spec.sat_id is not None
    p_values = []
    for index, (prompt, params) in enumerate(CASES[:cases]):
        seeded = dataclasses.replace(params, seed=1000 + index)
        sampler = AcceptEverything(seeded) if wrong else Sampler(seeded)
        exact = exact_pairs(passes, prompt, params)
        seen = sample_pairs(passes, prompt, strategy, sampler, loaded.spec.sat_id, samples)
        p_values.append(chi_square_p_value(seen, exact))
    return p_values


@pytest.mark.parametrize("strategy", ["ar", *SPECULATIVE])
def test_first_tokens_follow_plain_sampling(
    memo_passes: MemoizedRealPasses, tiny_loaded: LoadedModel, strategy: str
) -> None:
    p_values = run_cases(memo_passes, tiny_loaded, strategy)
    assert min(p_values) > ALPHA, p_values


@pytest.mark.parametrize("strategy", SPECULATIVE)
def test_the_test_rejects_accepting_every_draft(
    memo_passes: MemoizedRealPasses, tiny_loaded: LoadedModel, strategy: str
) -> None:
    p_values = run_cases(memo_passes, tiny_loaded, strategy, wrong=True, cases=2, samples=2_000)
    assert max(p_values) < 1e-6, p_values


def generate(
    loaded: LoadedModel, passes: StaticPasses, strategy: str, sampling: SamplingParams | None
) -> tuple[list[int], Generation]:
    request = GenerationRequest(
        prompt_ids=(40, 51, 62, 73, 84, 40, 51),
        strategy=strategy,  # type: ignore[arg-type]
        k=K,
        max_new_tokens=12,
        stop_token_ids=frozenset(),
        sat_id=loaded.spec.sat_id,
        reuse_prefix=False,
        sampling=sampling,
    )
    generation = Generation(
        request, passes=passes, tokenizer=loaded.tokenizer, cancelled=lambda: False
    )
    generation.collect()
    return generation.tokens, generation


@pytest.mark.parametrize("strategy", ["ar", *SPECULATIVE])
def test_a_seed_reproduces_a_sample(tiny_loaded: LoadedModel, strategy: str) -> None:
    passes = StaticPasses(tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype, StaticOptions())
    params = SamplingParams(2.0, seed=7)
    first, generation = generate(tiny_loaded, passes, strategy, params)
    again, _ = generate(tiny_loaded, passes, strategy, params)
    other, _ = generate(tiny_loaded, passes, strategy, dataclasses.replace(params, seed=8))
    assert first == again
    assert len(first) == 12 and other != first
    assert generation.stats.temperature == 2.0 and generation.stats.logprob is not None
    assert generation.stats.logprob < 0


def test_greedy_is_unchanged_and_equals_ar(tiny_loaded: LoadedModel) -> None:
    """Temperature 0 never reaches the sampler: every strategy gives ar's greedy tokens."""
    passes = StaticPasses(tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype, StaticOptions())
    ar, generation = generate(tiny_loaded, passes, "ar", None)
    assert generation.stats.temperature == 0 and generation.stats.logprob is None
    for strategy in SPECULATIVE:
        assert generate(tiny_loaded, passes, strategy, None)[0] == ar
    assert SamplingParams.from_settings(Settings()) is None  # the default is greedy
    assert SamplingParams.from_settings(Settings(temperature=0.2, seed=3)) == SamplingParams(
        0.2, seed=3
    )


def test_sampling_logits_argmax_is_the_greedy_pass(tiny_loaded: LoadedModel) -> None:
    """The eager logits pass computes what the greedy pass does (uncompiled static)."""
    passes = StaticPasses(tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype, StaticOptions())
    passes.fill([40, 51, 62])
    base = len(passes.cache)
    greedy = passes.run([73, 84, 40], 3)
    passes.cache.crop_to(base)
    assert passes.run_logits([73, 84, 40], 3).argmax(dim=-1).tolist() == greedy
    assert len(passes.cache) == base + 3


def test_sampling_settings_are_validated_and_described() -> None:
    settings, problems = settings_from_wire(
        {"temperature": 0.7, "topP": 0.9, "topK": 40, "seed": 3, "alternatives": 3}
    )
    assert problems == []
    assert SamplingParams.from_settings(settings) == SamplingParams(0.7, 0.9, 40, 3)
    bad = {"temperature": -1, "topP": 0, "topK": -2, "seed": -5, "alternatives": 9}
    settings, problems = settings_from_wire(bad | {"temperature": "hot"})
    assert settings == Settings() and len(problems) == 5, problems
    assert any("temperature='hot' is not a number" in p for p in problems)
    assert settings_from_wire({"temperature": float("nan")})[1]
    kinds = {entry["name"]: entry["type"] for entry in describe()}
    assert kinds["temperature"] == kinds["topP"] == "number" and kinds["alternatives"] == "integer"
