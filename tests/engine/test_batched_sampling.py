"""Batched alternatives: n samples run as one batch (one pass per step for all rows, the
prompt's KV shared) are exactly the n plain samples drawn one after the other with the same
seed, on both forward paths, and the batch leaves the prefix cache as a generation would."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sdsat_lsp.config import SamplingParams
from sdsat_lsp.engine.batched_sampling import BatchedSamples
from sdsat_lsp.engine.forward.passes import ForwardPasses, TransformersPasses
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.engine.generation import Generation, GenerationRequest
from sdsat_lsp.engine.pass_layout import ParallelRows
from sdsat_lsp.model import LoadedModel

PROMPT = (5, 17, 33, 40, 41, 60, 61)
ROWS = 4
MAX_NEW_TOKENS = 10


def make_passes(loaded: LoadedModel, path: str) -> ForwardPasses:
    if path == "transformers":
        return TransformersPasses(loaded.model, loaded.device)
    return StaticPasses(loaded.model, loaded.device, torch.float32, StaticOptions(capacity=256))


def make_request(loaded: LoadedModel, seed: int | None = 5) -> GenerationRequest:
    # temperature 2: the tiny random model's logits are sharp; EOS ends some rows early
    eos = loaded.tokenizer.eos_token_id
    return GenerationRequest(
        prompt_ids=PROMPT,
        strategy="ar",
        k=0,
        max_new_tokens=MAX_NEW_TOKENS,
        stop_token_ids=frozenset({eos}),
        sampling=SamplingParams(temperature=2.0, seed=seed),
    )


def test_parallel_rows_see_the_prompt_and_their_own_tokens_only() -> None:
    # prompt in cache rows 0-2; step 1 of two rows wrote rows 3 (row 0) and 4 (row 1)
    layout = ParallelRows(shared=3, own=[[3], [4]], position=4)
    assert layout.positions(5) == [4, 4]
    assert layout.visible(5).int().tolist() == [
        [1, 1, 1, 1, 0, 1, 0],
        [1, 1, 1, 0, 1, 0, 1],
    ]


@pytest.mark.parametrize("path", ["transformers", "static"])
def test_batched_samples_equal_plain_samples_one_after_the_other(
    tiny_loaded: LoadedModel, path: str
) -> None:
    passes = make_passes(tiny_loaded, path)
    request = make_request(tiny_loaded)
    batch = BatchedSamples(
        request, ROWS, passes=passes, tokenizer=tiny_loaded.tokenizer, cancelled=lambda: False
    )
    streamed = "".join(batch)
    assert passes.cache.token_ids == list(PROMPT), "only the prompt stays cached"
    sequential = []
    for stream in range(ROWS):
        generation = Generation(
            dataclasses.replace(request, sample_stream=stream),
            passes=passes,
            tokenizer=tiny_loaded.tokenizer,
            cancelled=lambda: False,
        )
        generation.collect()
        sequential.append(generation)
    assert [row.tokens for row in batch.rows] == [g.tokens for g in sequential]
    assert [s.text for s in batch.samples] == [g.text for g in sequential]
    assert [s.finish_reason for s in batch.samples] == [g.finish_reason for g in sequential]
    for sample, generation in zip(batch.samples, sequential, strict=True):
        assert sample.logprob == pytest.approx(generation.logprob, abs=1e-3)
    assert streamed == batch.text == sequential[0].text, "iterating streams row 0"
    assert len({tuple(row.tokens) for row in batch.rows}) > 1, "independent rows, not copies"
    # one pass for the prompt's last token, then one per step for all unfinished rows
    draws = [len(row.tokens) + (row.finish_reason == "eos") for row in batch.rows]
    assert batch.forward_passes == max(draws)
    assert batch.forward_passes < sum(g.stats.forward_passes for g in sequential)
    assert batch.stats.forward_passes == batch.forward_passes


def test_a_seed_reproduces_the_batch_and_cancelling_stops_it(tiny_loaded: LoadedModel) -> None:
    passes = make_passes(tiny_loaded, "static")
    tokenizer = tiny_loaded.tokenizer
    runs = []
    for _ in range(2):
        batch = BatchedSamples(
            make_request(tiny_loaded),
            ROWS,
            passes=passes,
            tokenizer=tokenizer,
            cancelled=lambda: False,
        )
        list(batch)
        runs.append([s.text for s in batch.samples])
    assert runs[0] == runs[1]
    deltas: list[str] = []
    cancelled = BatchedSamples(
        make_request(tiny_loaded),
        ROWS,
        passes=passes,
        tokenizer=tokenizer,
        cancelled=lambda: bool(deltas),
    )
    for delta in cancelled:
        deltas.append(delta)
    assert cancelled.finish_reason == "cancelled" and cancelled.samples == []
    assert len(deltas) == 1
    assert passes.cache.token_ids == list(PROMPT), "cancelled mid-batch: the prompt stays cached"
