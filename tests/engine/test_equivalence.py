"""Contract: every strategy's greedy output equals plain greedy decoding, token for token."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import torch

from sdsat_lsp.engine import Engine
from sdsat_lsp.engine.decoding import Decoder
from sdsat_lsp.engine.forward.passes import ForwardPasses, TransformersPasses
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.engine.generation import Generation, GenerationRequest
from sdsat_lsp.model import LoadedModel, load_model

# The forward configurations the engine offers on CPU (compiled: the last test below).
FORWARD_CONFIGS = {
    "transformers": None,
    "static": StaticOptions(),
    "static-int8": StaticOptions(quantize="int8"),
    "static-int4": StaticOptions(quantize="int4"),
}
_PASSES: dict[tuple[int, str], ForwardPasses] = {}


def passes_for(loaded: LoadedModel, config: str = "static") -> ForwardPasses:
    """One passes object per model and configuration (generations reset its cache)."""
    key = (id(loaded.model), config)
    if key not in _PASSES:
        options = FORWARD_CONFIGS[config]
        _PASSES[key] = (
            TransformersPasses(loaded.model, loaded.device)
            if options is None
            else StaticPasses(loaded.model, loaded.device, loaded.dtype, options)
        )
    return _PASSES[key]


def generate_ids(
    loaded: LoadedModel,
    prompt: list[int],
    strategy: str,
    k: int,
    max_new_tokens: int,
    stop_ids: frozenset[int] | None = None,
    config: str = "static",
) -> tuple[list[int], Generation]:
    request = GenerationRequest(
        prompt_ids=tuple(prompt),
        strategy=strategy,  # type: ignore[arg-type]
        k=k,
        max_new_tokens=max_new_tokens,
        stop_token_ids=loaded.spec.stop_ids() if stop_ids is None else stop_ids,
        sat_id=loaded.spec.sat_id,
        reuse_prefix=False,
    )
    generation = Generation(
        request,
        passes=passes_for(loaded, config),
        tokenizer=loaded.tokenizer,
        cancelled=lambda: False,
    )
    generation.collect()
    return generation.tokens, generation


def random_prompts(loaded: LoadedModel, count: int, seed: int) -> list[list[int]]:
    """Random byte-token prompts, half of them with repeats so that lookup drafts exist."""
    rng = random.Random(seed)
    special = loaded.spec.stop_ids() | {loaded.spec.sat_id}
    ordinary = [i for i in range(loaded.vocab_size) if i not in special]
    prompts = []
    for index in range(count):
        body = [rng.choice(ordinary) for _ in range(rng.randint(1, 30))]
        if index % 2:
            body = body + body[: rng.randint(1, len(body))]
        prompts.append(body)
    return prompts


@pytest.mark.parametrize("config", ["transformers", "static"])
def test_ar_equals_transformers_generate(tiny_loaded: LoadedModel, config: str) -> None:
    model = tiny_loaded.model
    for prompt in random_prompts(tiny_loaded, 12, seed=1):
        ours, _ = generate_ids(tiny_loaded, prompt, "ar", 0, 24, config=config)
        with torch.inference_mode():
            output = model.generate(
                torch.tensor([prompt]),
                do_sample=False,
                max_new_tokens=24,
                eos_token_id=sorted(tiny_loaded.spec.stop_ids()),
                pad_token_id=0,
            )
        reference = output[0, len(prompt) :].tolist()
        stops = tiny_loaded.spec.stop_ids()
        cut = next((i for i, t in enumerate(reference) if t in stops), len(reference))
        assert ours == reference[:cut]


@pytest.mark.parametrize("config", list(FORWARD_CONFIGS))
@pytest.mark.parametrize(
    ("strategy", "k"),
    [
        ("lookup", 1),
        ("lookup", 4),
        ("sdsat", 1),
        ("sdsat", 3),
        ("sdsat-tree", 1),
        ("sdsat-tree", 3),
    ],
)
def test_strategy_equals_ar_on_random_model(
    tiny_loaded: LoadedModel, strategy: str, k: int, config: str
) -> None:
    """Each forward configuration's strategies equal that configuration's own `ar`."""
    for prompt in random_prompts(tiny_loaded, 50, seed=k):
        expected, _ = generate_ids(tiny_loaded, prompt, "ar", 0, 20, config=config)
        actual, generation = generate_ids(tiny_loaded, prompt, strategy, k, 20, config=config)
        assert actual == expected, f"prompt {prompt}"
        stats = generation.stats
        assert stats.new_tokens == len(expected)
        assert stats.accepted_tokens <= stats.drafted_tokens


@pytest.mark.gpu
def test_strategies_equal_ar_on_cuda_in_float32(tiny_model_dir: Path) -> None:
    loaded = load_model(str(tiny_model_dir), device="cuda", dtype="float32")
    for prompt in random_prompts(loaded, 50, seed=0):
        expected, _ = generate_ids(loaded, prompt, "ar", 0, 20)
        for strategy in ("sdsat", "sdsat-tree", "lookup"):
            actual, _ = generate_ids(loaded, prompt, strategy, 4, 20)
            assert actual == expected, (strategy, prompt)


def test_sdsat_drafts_are_accepted_after_training(
    sat_trained: tuple[LoadedModel, list[int]],
) -> None:
    loaded, cycle = sat_trained
    accepted = dict.fromkeys(("sdsat", "sdsat-tree"), 0)
    drafted = dict.fromkeys(("sdsat", "sdsat-tree"), 0)
    passes = dict.fromkeys(("sdsat", "sdsat-tree"), 0)
    for offset in range(0, len(cycle), 3):
        prompt = [cycle[(offset + i) % len(cycle)] for i in range(6)]
        expected, _ = generate_ids(loaded, prompt, "ar", 0, 30)
        for strategy in accepted:
            actual, generation = generate_ids(loaded, prompt, strategy, 4, 30)
            assert actual == expected
            accepted[strategy] += generation.stats.accepted_tokens
            drafted[strategy] += generation.stats.drafted_tokens
            passes[strategy] += generation.stats.forward_passes
            assert generation.stats.tokens_per_pass >= 1.0
    for strategy in accepted:
        assert accepted[strategy] > 0.3 * drafted[strategy], (strategy, accepted, drafted)
    # the tree drafts the next round inside the verify pass: one pass per round, not two
    assert passes["sdsat-tree"] < 0.7 * passes["sdsat"], passes


def test_stop_token_and_limit_inside_an_accepted_block(
    sat_trained: tuple[LoadedModel, list[int]],
) -> None:
    loaded, cycle = sat_trained
    prompt = cycle[:5]
    baseline, _ = generate_ids(loaded, prompt, "ar", 0, 40)
    # A stop token that greedy decoding reaches mid-way: every strategy must end right there.
    stop_token = baseline[9]
    stops = loaded.spec.stop_ids() | {stop_token}
    expected, _ = generate_ids(loaded, prompt, "ar", 0, 40, stops)
    assert expected == baseline[: baseline.index(stop_token)]
    for strategy in ("sdsat", "sdsat-tree", "lookup"):
        for k in (1, 2, 4):
            actual, generation = generate_ids(loaded, prompt, strategy, k, 40, stops)
            assert actual == expected
            assert generation.finish_reason == "eos"
        for limit in (1, 6, 7, 13):
            actual, generation = generate_ids(loaded, prompt, strategy, 4, limit)
            assert actual == baseline[:limit]
            assert generation.finish_reason == "length"


@pytest.mark.parametrize("config", ["transformers", "static"])
@pytest.mark.parametrize("strategy", ["ar", "sdsat", "sdsat-tree", "lookup"])
def test_cache_holds_exactly_the_committed_tokens_after_every_round(
    sat_trained: tuple[LoadedModel, list[int]], strategy: str, config: str
) -> None:
    loaded, cycle = sat_trained
    k = 4
    prompt = cycle[3:10]
    # the reference first: generate_ids resets the shared passes' cache
    continuation, _ = generate_ids(loaded, prompt, "ar", 0, 80, frozenset())
    passes = passes_for(loaded, config)
    passes.cache.reset()
    cache = passes.cache
    decoder = Decoder(passes, cancelled=lambda: False)
    decoder.prefill(prompt[:-1])
    committed = list(prompt)
    partial_rounds = 0
    drafts: list[int] = []
    greedy = prompt + continuation
    for number in range(12):
        pending = committed[-1]
        # Every other round, drafts whose first token is right and the rest wrong: a partial
        # rejection, so the crop back to the accepted prefix runs (sdsat shares `verify` with
        # lookup; its own drafts come from the model and are not steered here).
        right = greedy[len(committed)]
        steered = [right] + [(right + 1) % loaded.model.config.vocab_size] * (k - 1)
        steer = number % 2 == 1
        if strategy == "sdsat-tree":
            assert loaded.spec.sat_id is not None
            drafts = steered if steer else drafts
            round_, drafts = decoder.sdsat_tree_round(pending, drafts, loaded.spec.sat_id, k)
            assert len(drafts) == k
            assert 1 <= len(round_.committed) <= k + 1
        elif strategy == "sdsat":
            assert loaded.spec.sat_id is not None
            round_ = decoder.sdsat_round(pending, loaded.spec.sat_id, k)
            assert 2 <= len(round_.committed) <= k + 2
        elif strategy == "lookup":
            # the latest earlier occurrence of the last 3 tokens is followed by `steered`
            tail = committed[-3:]
            history = [*tail, *steered, *tail] if steer else committed
            round_ = decoder.lookup_round(pending, history, k)
            assert 1 <= len(round_.committed) <= k + 1
        else:
            round_ = decoder.ar_round(pending)
            assert len(round_.committed) == 1
        partial_rounds += 0 < round_.accepted < round_.drafted
        committed.extend(round_.committed)
        assert committed == greedy[: len(committed)]
        assert cache.token_ids == committed[:-1]
        if isinstance(passes, TransformersPasses):
            assert passes.cache.storage.get_seq_length() == len(committed) - 1
        assert loaded.spec.sat_id not in cache.token_ids
    if strategy in ("sdsat-tree", "lookup"):
        assert partial_rounds >= 6, partial_rounds


def test_engine_reuses_the_cached_prefix(tiny_engine: Engine) -> None:
    first = tiny_engine.encode_prompt("def add(a, b):\n    return")
    generation = tiny_engine.generate(first, max_new_tokens=5, reuse_prefix=True)
    generation.collect()
    typed = tiny_engine.encode_prompt("def add(a, b):\n    return ")
    second = tiny_engine.generate(typed, max_new_tokens=5, reuse_prefix=True)
    second.collect()
    # SPM layout: the typed character extends the prompt, so all but the last token is reused.
    assert typed[: len(first)] == first
    assert second.stats.reused_prefix_tokens == len(first)
    fresh = tiny_engine.generate(typed, max_new_tokens=5, reuse_prefix=False)
    fresh.collect()
    assert fresh.stats.reused_prefix_tokens == 0
    assert fresh.tokens == second.tokens


def test_cancellation_stops_before_the_next_forward_pass(tiny_engine: Engine) -> None:
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    prompt = tiny_engine.encode_prompt("x = 1\n")
    generation = tiny_engine.generate(prompt, max_new_tokens=50, cancelled=cancelled, strategy="ar")
    generation.collect()
    assert generation.finish_reason == "cancelled"
    assert generation.stats.forward_passes == 3 - 1  # one check went to the prefill pass


def test_sdsat_without_sat_token_is_refused(tiny_loaded: LoadedModel) -> None:
    from sdsat_lsp.engine import StrategyError, resolve_strategy

    spec = dataclasses.replace(tiny_loaded.spec, sat_id=None)
    with pytest.raises(StrategyError, match="SAT token"):
        resolve_strategy("sdsat", 0, spec, "cpu")
    assert resolve_strategy("auto", 0, spec, "cpu")[0] == spec.cpu_strategy
    assert resolve_strategy("auto", 0, dataclasses.replace(spec, sat_id=5, trained_k=4), "cuda")[
        :2
    ] == ("sdsat-tree", 4)


def test_special_tokens_end_a_completion_and_never_reach_the_text(tiny_engine: Engine) -> None:
    vocab = tiny_engine.loaded.tokenizer.get_vocab()
    assert {vocab["<MID>"], vocab["<PRE>"], vocab["</s>"]} <= tiny_engine.stop_token_ids
    for seed in range(20):
        prompt = tiny_engine.encode_prompt(f"value_{seed} = compute({seed})\n")
        generation = tiny_engine.generate(prompt, max_new_tokens=24, reuse_prefix=False)
        text = generation.collect()
        assert not set(generation.tokens) & tiny_engine.stop_token_ids
        assert "<MID>" not in text and "<PRE>" not in text and "</s>" not in text


@pytest.mark.slow
def test_compiled_int4_strategies_equal_their_own_ar_and_a_restart_loads_the_saved_passes(
    tiny_loaded: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled static path (inductor, int4 weights; tens of seconds a pass shape) keeps
    the contract: every strategy equals this configuration's own `ar`, token for token. The
    compiled passes are saved under the user cache; a second StaticPasses (a restart, with
    another cache capacity and fewer threads) loads them instead of compiling, and gives the
    same tokens."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("SDSAT_LSP_CACHE", str(tmp_path / "cache"))  # not the user's cache
    k = 1
    options = StaticOptions(quantize="int4", compile=True, capacity=256, row_shapes=(1, 1 + k))

    def generate(passes: StaticPasses, prompt: list[int], strategy: str) -> Generation:
        request = GenerationRequest(
            prompt_ids=tuple(prompt),
            strategy=strategy,  # type: ignore[arg-type]
            k=k,
            max_new_tokens=16,
            stop_token_ids=tiny_loaded.spec.stop_ids(),
            sat_id=tiny_loaded.spec.sat_id,
            reuse_prefix=False,
        )
        generation = Generation(
            request, passes=passes, tokenizer=tiny_loaded.tokenizer, cancelled=lambda: False
        )
        generation.collect()
        return generation

    model, device, dtype = tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype
    passes = StaticPasses(model, device, dtype, options)
    passes.warm_up()
    prompts = random_prompts(tiny_loaded, 10, seed=3)
    outputs = []
    for prompt in prompts:
        expected = generate(passes, prompt, "ar").tokens
        outputs.append(expected)
        for strategy in ("sdsat", "lookup"):
            assert generate(passes, prompt, strategy).tokens == expected, (strategy, prompt)
    assert passes.row_shapes == [1, 1 + k]  # no pass needed a shape it was not prepared for
    saved = sorted(path.name for path in (tmp_path / "cache" / "compiled").iterdir())
    assert [name.split("-")[1] for name in saved] == ["1", "2"]

    # a restart with settings that size the cache differently reuses the same saved passes
    restarted = StaticPasses(model, device, dtype, dataclasses.replace(options, capacity=512))
    restarted.warm_up()
    assert all(decode.loaded_from_cache for decode in restarted._precompiled.values())
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads - 1))  # what adaptive threads do on a busy machine
    try:
        for prompt, expected in zip(prompts, outputs, strict=True):
            assert generate(restarted, prompt, "sdsat").tokens == expected
    finally:
        torch.set_num_threads(threads)
