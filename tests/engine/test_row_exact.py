"""Greedy low-bit passes on CPU attend row by row (llama.row_exact_attention) so that every row
of a wider pass has the bits of the 1-row pass `ar` runs at that position, causal rows (verify,
lookup) and tree rows alike. Why bits and not a tolerance: with bf16 activations a last-bit
difference flips near-ties, and a drafting strategy then leaves its configuration's `ar` (it
did on the default model: tests/engine/test_lowbit_lossless.py has those prompts).
"""

from __future__ import annotations

import pytest
import torch

from sdsat_lsp.engine.forward.llama import LlamaWeights, visible_rows
from sdsat_lsp.engine.forward.quantize import quantize_linear
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
    from sdsat_lsp.engine.forward.llama import row_exact_attention

    generator = torch.Generator().manual_seed(0)
    kv_heads, heads, head_dim, past, rows = 3, 9, 64, 420, 5
    keys = torch.randn(kv_heads, past + rows, head_dim, generator=generator)
    values = torch.randn(kv_heads, past + rows, head_dim, generator=generator)
    query = torch.randn(heads, rows, head_dim, generator=generator)
    mask = torch.ones(rows, past + rows, dtype=torch.bool)
    mask[:, past:] = torch.ones(rows, rows, dtype=torch.bool).tril()

    together = row_exact_attention(query, keys, values, visible_rows(mask), head_dim**-0.5)
    for row in range(rows):
        alone = row_exact_attention(
            query[:, row : row + 1], keys, values, visible_rows(mask[row : row + 1]), head_dim**-0.5
        )
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
