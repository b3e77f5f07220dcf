"""The fused SDSAT pass: one tree pass computes what a verify pass and the next step 1 compute."""

from __future__ import annotations

import torch

from sdsat_lsp.engine.forward.passes import TransformersPasses
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.engine.sat_tree import as_model_mask, build_sat_tree
from sdsat_lsp.model import LoadedModel


def logits(loaded: LoadedModel, ids: list[int], **extra: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(input_ids=torch.tensor([ids]), **extra).logits[0]


def test_tree_mask_shape_and_rules() -> None:
    tree = build_sat_tree(7, [8, 9], sat_id=99, k=2)
    assert tree.input_ids == [7, 8, 9, 99, 99, 99, 99, 99, 99]
    assert tree.position_ids(3, torch.device("cpu")).tolist() == [[3, 4, 5, 4, 5, 5, 6, 6, 7]]
    mask = tree.mask(3, torch.device("cpu"))[0, 0].int().tolist()
    assert mask[0] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]  # head: cache + itself
    assert mask[2] == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]  # d_2: never a SAT
    assert mask[5] == [1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0]  # group after d_1, SAT 1
    assert mask[6] == [1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]  # group after d_1, SAT 2
    assert tree.group(1, 2) == slice(5, 7)


def test_tree_pass_equals_verify_and_step_one_on_random_model(tiny_loaded: LoadedModel) -> None:
    sat = tiny_loaded.spec.sat_id
    assert sat is not None
    k = 3
    context, head, drafts = [5, 17, 33, 40, 41], 60, [61, 62, 70]
    passes = TransformersPasses(tiny_loaded.model, tiny_loaded.device)
    passes.fill(context)
    tree = build_sat_tree(head, drafts, sat, k)
    attn = tiny_loaded.model.config._attn_implementation
    past, device = len(context), tiny_loaded.device
    with torch.inference_mode():
        fused = tiny_loaded.model(
            input_ids=torch.tensor([tree.input_ids]),
            position_ids=tree.position_ids(past, device),
            attention_mask=as_model_mask(tree.mask(past, device), attn, torch.float32),
            past_key_values=passes.cache.storage,
            use_cache=True,
        ).logits[0]
    real = [*context, head, *drafts]
    plain = logits(tiny_loaded, real)[len(context) :]
    torch.testing.assert_close(fused[: tree.real], plain, rtol=1e-5, atol=1e-5)
    for j in range(tree.real):  # the group after real token j = step 1 on that prefix
        step_one = logits(tiny_loaded, real[: len(context) + j + 1] + [sat] * k)[-k:]
        torch.testing.assert_close(fused[tree.group(j, k)], step_one, rtol=1e-5, atol=1e-5)


def test_static_tree_pass_argmax_equals_transformers_tree_pass(tiny_loaded: LoadedModel) -> None:
    """The static path's tree pass (its own mask and positions code) predicts the same tokens
    at every row, real and SAT, as transformers' forward under the same tree."""
    sat = tiny_loaded.spec.sat_id
    assert sat is not None
    k, context, head, drafts = 3, [5, 17, 33, 40, 41], 60, [61, 62, 70]
    tree = build_sat_tree(head, drafts, sat, k)
    reference = TransformersPasses(tiny_loaded.model, tiny_loaded.device)
    static = StaticPasses(tiny_loaded.model, tiny_loaded.device, torch.float32, StaticOptions())
    results = []
    for passes in (reference, static):
        passes.fill(context)
        results.append(passes.run(tree.input_ids, keep=len(tree.input_ids), tree=tree))
        assert passes.cache.token_ids == context + tree.input_ids
    assert results[0] == results[1]
