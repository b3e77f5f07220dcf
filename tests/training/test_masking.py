"""SAT layout, 4D mask and position ids; mask invariance of ordinary-position logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sdsat_lsp.model.sat_adapter import attach_sat_adapter
from sdsat_lsp.training.adapter import MODES, new_adapter
from sdsat_lsp.training.masking import (
    SatLayout,
    build_sat_batch,
    data_targets,
    greedy_target_positions,
    sample_group_ends,
)

SAT_ID = 6  # tests/tiny_model.py's <SAT>; the `sat_id` fixture checks it


def test_layout_positions_mask_and_targets() -> None:
    layout = SatLayout(torch.tensor([[2, 5]]), k=3, real_length=10)
    assert layout.sat_position_ids().tolist() == [[3, 4, 5, 6, 7, 8]]
    mask = layout.sat_rows_mask()[0, 0].int()
    # SAT 2 of group 0 (after t=2): real 0..2, its own SATs 1..2, nothing of group 1
    assert mask[1].tolist() == [*([1] * 3), *([0] * 7), 1, 1, 0, 0, 0, 0]
    # SAT 3 of group 1 (after t=5): real 0..5, all three SATs of group 1
    assert mask[5].tolist() == [1] * 6 + [0] * 4 + [0, 0, 0, 1, 1, 1]
    real = torch.arange(100, 110).unsqueeze(0)
    # SAT i after t predicts x[t+1+i]; the base's guess for it is the argmax at t+i
    assert data_targets(real, layout).tolist() == [[[104, 105, 106], [107, 108, 109]]]
    assert greedy_target_positions(layout).tolist() == [[[3, 4, 5], [6, 7, 8]]]


def test_ordinary_rows_never_see_sats() -> None:
    layout = SatLayout(torch.tensor([[1, 4]]), k=2, real_length=8)
    batch = build_sat_batch(torch.arange(8).unsqueeze(0), layout, sat_id=99)
    mask = batch.attention_mask[0, 0]
    assert not mask[:8, 8:].any()
    assert torch.equal(mask[:8, :8], torch.ones(8, 8, dtype=torch.bool).tril())
    assert batch.input_ids[0, 8:].tolist() == [99] * 4


@settings(max_examples=50, deadline=None)
@given(
    length=st.integers(6, 80),
    groups=st.integers(1, 40),
    k=st.integers(1, 4),
    seed=st.integers(0, 99),
)
def test_sampled_points_keep_every_target_inside(
    length: int, groups: int, k: int, seed: int
) -> None:
    if length - 2 - k < 0:
        return
    ends = sample_group_ends(2, length, groups, k, torch.Generator().manual_seed(seed))
    assert ends.shape[1] == min(groups, length - 1 - k)
    assert int(ends.min()) >= 0 and int(ends.max()) + 1 + k <= length - 1
    assert all(len(set(row.tolist())) == len(row) for row in ends)


def test_too_short_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        sample_group_ends(1, 4, 2, 3, torch.Generator())


def _randomised_adapter_model(directory: Path, mode: str):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    adapter = new_adapter(model, mode, SAT_ID, rank=4, alpha=8.0)  # type: ignore[arg-type]
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
        if mode == "full":  # a fine-tuned model: every weight moved
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.01)
    attach_sat_adapter(model, adapter)
    return model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_mask_invariance(tiny_dir: Path, sat_id: int, mode: str, attn: str) -> None:
    """Ordinary-position logits with SAT groups inserted equal those without them."""
    from sdsat_lsp.training.masking import as_model_mask

    model = _randomised_adapter_model(tiny_dir, mode)
    model.config._attn_implementation = attn
    generator = torch.Generator().manual_seed(0)
    real = torch.randint(10, 200, (2, 48), generator=generator)
    layout = SatLayout(sample_group_ends(2, 48, 9, 3, generator), 3, 48)
    batch = build_sat_batch(real, layout, SAT_ID)
    with torch.no_grad():
        plain = model(input_ids=real).logits
        with_sats = model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=as_model_mask(batch.attention_mask, attn, torch.float32),
        ).logits
        # SAT rows equal what decoding computes: [x_0 … x_t, SAT×k] as a plain causal call
        t = int(layout.group_ends[1, 4])
        decoded = model(input_ids=torch.cat([real[1, : t + 1], torch.full((3,), SAT_ID)])[None])
    torch.testing.assert_close(with_sats[:, :48], plain, rtol=0, atol=1e-5)
    sat_rows = with_sats[1, 48 + 4 * 3 : 48 + 5 * 3]
    torch.testing.assert_close(sat_rows, decoded.logits[0, -3:], rtol=0, atol=1e-4)
