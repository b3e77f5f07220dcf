"""Greedy low-bit passes on CPU attend row by row (row_exact.py) so that every row
of a wider pass has the bits of the 1-row pass `ar` runs at that position, causal rows (verify,
lookup) and tree rows alike. Why bits and not a tolerance: with bf16 activations a last-bit
difference flips near-ties, and a drafting strategy then leaves its configuration's `ar` (it
did on the default model: tests/engine/test_lowbit_lossless.py has those prompts).
"""

from __future__ import annotations

import pytest
import torch

from sdsat_lsp.engine.forward import llama
from sdsat_lsp.engine.forward.llama import LlamaWeights
from sdsat_lsp.engine.forward.quantize import quantize_linear
from sdsat_lsp.engine.forward.row_exact import (
    RowExactPass,
    ShortlistArgmax,
    attend_rows,
    doubled,
    rms_norm,
    visible_rows,
)
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.model import LoadedModel


def test_visible_rows_reads_a_prefix_or_gathers_a_tree_rows_ancestors() -> None:
    causal = torch.ones(3, 6, dtype=torch.bool)
    causal[:, 3:] = torch.ones(3, 3, dtype=torch.bool).tril()
    assert [(read.count, read.index) for read in visible_rows(causal)] == [
        (4, None),
        (5, None),
        (6, None),
    ]
    tree = torch.tensor([[1, 1, 0, 1, 0], [1, 1, 0, 0, 1]], dtype=torch.bool)
    first, second = visible_rows(tree)
    assert first.count == 3 and first.index is not None and first.index.tolist() == [0, 1, 3]
    assert second.count == 3 and second.index is not None and second.index.tolist() == [0, 1, 4]


def test_attention_of_each_row_does_not_depend_on_the_other_rows_of_the_pass() -> None:
    """At the default model's attention shapes (3 KV heads of 3 query heads, 64 dimensions) and
    a 420-row cache: a row's output in a 5-row pass has the float32 bits of the same row alone.
    One matmul over all rows, the later rows masked, fails this: past ~380 cached rows BLAS
    blocks the sum over rows by the matrix's length, so zero weights on masked rows still move
    the rounding (measured: every length from 381 on)."""
    generator = torch.Generator().manual_seed(0)
    kv_heads, heads, head_dim, past, rows = 3, 9, 64, 420, 5
    keys = torch.randn(kv_heads, past + rows, head_dim, generator=generator)
    values = torch.randn(kv_heads, past + rows, head_dim, generator=generator)
    query = torch.randn(rows, heads, head_dim, generator=generator).to(torch.bfloat16)
    mask = torch.ones(rows, past + rows, dtype=torch.bool)
    mask[:, past:] = torch.ones(rows, rows, dtype=torch.bool).tril()

    together = attend_rows(query, keys, values, visible_rows(mask))
    for row in range(rows):
        alone = attend_rows(query[row : row + 1], keys, values, visible_rows(mask[row : row + 1]))
        assert torch.equal(together[row], alone[0]), f"row {row} differs"


@pytest.mark.parametrize("kind", ["int8", "int4"])
def test_a_fused_projection_group_computes_the_same_bits_as_its_members_alone(kind: str) -> None:
    """Converted weights are stored fused (q/k/v, gate/up: llama.py `LinearGroup`); that must
    change no output bit, at any row count, or the low-bit configurations' outputs would move.
    The default model's shapes, random weights."""
    torch.manual_seed(0)
    members = [torch.randn(576, 576), torch.randn(192, 576), torch.randn(192, 576)]
    fused = quantize_linear(torch.cat(members), kind, torch.bfloat16)
    alone = [quantize_linear(weight, kind, torch.bfloat16) for weight in members]
    x = torch.randn(5, 576).to(torch.bfloat16)
    with torch.inference_mode():
        parts = fused(x).split([576, 192, 192], dim=-1)
        for part, linear in zip(parts, alone, strict=True):
            assert torch.equal(part, linear(x))
        for row in range(5):  # and each row as its own 1-row pass computes it
            assert torch.equal(fused(x[row : row + 1])[0], fused(x)[row])


def test_low_bit_weights_are_fused_and_float_weights_stay_the_models_own(
    tiny_loaded: LoadedModel,
) -> None:
    model = tiny_loaded.model
    low_bit = LlamaWeights.from_model(model, dtype=torch.bfloat16, quantize="int4")
    layer = low_bit.layers[0]
    assert layer.linears["q_proj"] is layer.linears["v_proj"]
    assert layer.linears["gate_proj"].names == ("gate_proj", "up_proj")
    float_weights = LlamaWeights.from_model(model, dtype=tiny_loaded.dtype)
    group = float_weights.layers[0].linears["q_proj"]
    assert group.names == ("q_proj",)
    assert (
        group.linear.weight.data_ptr() == model.model.layers[0].self_attn.q_proj.weight.data_ptr()
    )


def test_rms_norm_as_one_layer_norm_is_the_definition_and_row_invariant() -> None:
    """[x, -x] has mean 0 and variance mean(x^2), so layer_norm over it is RMS norm: within a
    bf16 rounding of the float64 definition (closer than normalizing, rounding, then scaling as
    llama.rms_norm does), and each row of a batch has the bits it has alone."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 576, generator=generator) * 3).to(torch.bfloat16)
    weight = (torch.rand(576, generator=generator) + 0.5).to(torch.bfloat16)
    exact = x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + 1e-5)
    exact = exact * weight.double()
    ours = rms_norm(x, doubled(weight), 1e-5)
    assert ours.dtype == torch.bfloat16 and ours.is_contiguous()
    error = (ours.double() - exact).abs()
    assert (error <= exact.abs() * 2**-8 + 1e-6).all()  # one bf16 rounding
    assert error.mean() < (llama.rms_norm(x, weight, 1e-5).double() - exact).abs().mean()
    for row in range(6):
        assert torch.equal(rms_norm(x[row : row + 1], doubled(weight), 1e-5)[0], ours[row])


@pytest.mark.parametrize("quantize", ["int8", "int4"])
def test_a_wide_row_exact_pass_has_the_bits_of_one_row_passes(
    tiny_loaded: LoadedModel, quantize: str
) -> None:
    """The logits of each row of a 5-row pass equal, bit for bit, those of the 1-row pass at its
    position (what `ar` runs there), and stay within bf16/low-bit error of llama_pass's."""
    passes = StaticPasses(
        tiny_loaded.model, tiny_loaded.device, tiny_loaded.dtype, StaticOptions(quantize=quantize)
    )
    assert passes.row_exact
    row_pass = RowExactPass(passes.weights)
    cache = passes.cache
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 200, (40,), generator=generator).tolist()
    passes.fill(prompt)
    past, rows = len(prompt), 5
    ids = torch.randint(0, 200, (rows,), generator=generator)

    def inputs(start: int, count: int) -> tuple[torch.Tensor, ...]:
        mask = torch.zeros(count, start + count, dtype=torch.bool)
        mask[:, :start] = True
        mask[:, start:] = torch.ones(count, count, dtype=torch.bool).tril()
        at = torch.arange(start, start + count)
        return ids[start - past : start - past + count], at, at, mask

    with torch.inference_mode():
        wide = row_pass.logits(cache.keys, cache.values, *inputs(past, rows))
        reference = llama.llama_pass(
            passes.weights, cache.keys, cache.values, *inputs(past, rows), raw_logits=True
        )
        for row in range(rows):
            alone = row_pass.logits(cache.keys, cache.values, *inputs(past + row, 1))
            assert torch.equal(alone[0], wide[row]), f"row {row}"
    scale = reference.float().abs().max()
    assert (wide.float() - reference.float()).abs().max() < 0.05 * scale


def test_the_shortlist_argmax_is_the_exact_heads_and_row_invariant() -> None:
    """The int4 shortlist rescored exactly picks the argmax of the unquantized head where the
    int4 head alone does not, and a row's pick does not depend on the other rows."""
    generator = torch.Generator().manual_seed(0)
    rows = (torch.randn(512, 64, generator=generator) * 0.05).bfloat16()
    # near-ties at the top: each hidden state is a sum of rows, the first a little ahead
    picks = torch.randint(0, 512, (64, 2), generator=generator)
    hidden = (rows[picks[:, 0]].float() * 1.02 + rows[picks[:, 1]].float()).bfloat16() * 40
    exact = (hidden.double() @ rows.double().T).argmax(-1)
    int4_alone = quantize_linear(rows.float(), "int4", torch.bfloat16)(hidden).float().argmax(-1)
    shortlist = ShortlistArgmax(rows)
    wide = shortlist(hidden)
    assert torch.equal(wide, exact)
    assert not torch.equal(int4_alone, exact)  # the case the rescoring is there for
    for row in range(hidden.shape[0]):
        assert int(shortlist(hidden[row : row + 1])[0]) == int(wide[row]), f"row {row}"


def test_int4_passes_pick_by_the_shortlist_and_int8_by_the_head(
    tiny_loaded: LoadedModel,
) -> None:
    for quantize, uses_shortlist in (("int4", True), ("int8", False)):
        passes = StaticPasses(
            tiny_loaded.model,
            tiny_loaded.device,
            tiny_loaded.dtype,
            StaticOptions(quantize=quantize),
        )
        row_pass = RowExactPass(passes.weights)
        assert (row_pass.shortlist is not None) == uses_shortlist, quantize
        assert ("int4-shortlist head" in passes.description) == uses_shortlist


def test_a_full_cache_grows_with_its_transposed_keys_and_decoding_goes_on_alike(
    tiny_loaded: LoadedModel,
) -> None:
    """The row-exact configuration stores keys transposed (kv_cache.py); a cache that fills up
    is grown (a copy into larger tensors) and the decode continues as it would have in a cache
    that never filled: the same greedy tokens."""
    generator = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, 200, (240,), generator=generator).tolist()
    outputs = []
    for capacity in (256, 1024):
        passes = StaticPasses(
            tiny_loaded.model,
            tiny_loaded.device,
            tiny_loaded.dtype,
            StaticOptions(quantize="int4", capacity=capacity),
        )
        assert passes.cache.keys_transposed
        passes.fill(prompt[:-1])
        tokens, last = [], prompt[-1]
        for _ in range(40):
            [last] = passes.run([last], keep=1)
            tokens.append(last)
        outputs.append(tokens)
        assert passes.cache.capacity >= 280 and len(passes.cache) == 279
        assert passes.cache.keys_transposed
    assert outputs[0] == outputs[1]
