"""The SDSAT artifact: round trip, apply_artifact exactness, engine-style calls, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sdsat_lsp.model import load_model
from sdsat_lsp.model.artifact import (
    ArtifactError,
    SdsatArtifact,
    apply_artifact,
    load_adapter,
    read_artifact,
    weights_source,
    write_artifact,
)
from sdsat_lsp.model.sat_adapter import attached_adapter
from sdsat_lsp.training.adapter import new_adapter
from sdsat_lsp.training.evaluate import evaluation_engine, greedy_continuation


def _load(directory: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(directory).eval()


def _write_random_artifact(base: Path, output: Path, mode: str, sat_id: int) -> Path:
    model = _load(base)
    adapter = new_adapter(model, mode, sat_id, rank=4, alpha=8.0)  # type: ignore[arg-type]
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    artifact = SdsatArtifact(
        base=str(base),
        mode=mode,
        sat_id=sat_id,
        trained_k=3,
        recommended_k=3,
        lora_rank=adapter.rank,
        lora_alpha=adapter.alpha,
    )
    return write_artifact(output, artifact, adapter)


@pytest.mark.parametrize("mode", ["sat-adapter", "sat-embedding"])
def test_exact_modes_leave_ordinary_logits_bit_identical(
    tiny_dir: Path, sat_id: int, tmp_path: Path, mode: str
) -> None:
    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", mode, sat_id)
    base, sdsat = _load(tiny_dir), apply_artifact(_load(tiny_dir), directory)
    ids = torch.randint(10, 200, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(sdsat(input_ids=ids).logits, base(input_ids=ids).logits)
        # a step-1 call: ordinary tokens, then SATs; the ordinary rows are still the base's
        step1 = torch.cat([ids, torch.full((2, 3), sat_id)], dim=1)
        with_sats = sdsat(input_ids=step1).logits
        # same call on both: ordinary rows bit-identical, SAT rows differ
        base_rows = base(input_ids=step1.masked_fill(step1 == sat_id, 0)).logits
        assert torch.equal(with_sats[:, :40], base_rows[:, :40])
        assert not torch.allclose(with_sats[:, 40:], base_rows[:, 40:])


def test_round_trip_and_dtype(tiny_dir: Path, sat_id: int, tmp_path: Path) -> None:
    directory = _write_random_artifact(tiny_dir, tmp_path / "a", "sat-adapter", sat_id)
    artifact = read_artifact(directory)
    assert (artifact.mode, artifact.sat_id, artifact.trained_k, artifact.exact) == (
        "sat-adapter",
        sat_id,
        3,
        True,
    )
    assert weights_source(directory) == str(tiny_dir)
    original = load_adapter(directory)
    write_artifact(tmp_path / "b", artifact, original, dtype=torch.float16)
    half = load_adapter(tmp_path / "b")
    for (name, a), (_, b) in zip(
        original.state_dict().items(), half.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-2, rtol=1e-2, msg=name)
    assert (tmp_path / "b" / "sat_adapter.safetensors").stat().st_size < (
        directory / "sat_adapter.safetensors"
    ).stat().st_size


def test_engine_two_step_decoding_on_an_artifact_equals_greedy(
    tiny_dir: Path, sat_id: int, tmp_path: Path
) -> None:
    """The artifact loaded by reference, decoded by the engine's `sdsat`: still plain greedy."""
    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", "sat-adapter", sat_id)
    engine = evaluation_engine(load_model(str(directory), device="cpu"), sat_id, 3)
    prompt = list(range(20, 40))
    generation = engine.generate(prompt, max_new_tokens=30)
    generation.collect()
    stats = generation.stats
    assert generation.tokens == greedy_continuation(engine, prompt, 30)
    assert stats.strategy == "sdsat" and stats.forward_passes == 2 * stats.rounds
    assert stats.drafted_tokens == 3 * stats.rounds
    assert 0 <= stats.accepted_tokens <= stats.drafted_tokens


def test_apply_twice_and_removal(tiny_dir: Path, sat_id: int, tmp_path: Path) -> None:
    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", "sat-adapter", sat_id)
    model = apply_artifact(_load(tiny_dir), directory)
    with pytest.raises(ArtifactError, match="already"):
        apply_artifact(model, directory)
    attached = attached_adapter(model)
    assert attached is not None
    attached.remove()
    assert attached_adapter(model) is None


def test_sat_id_beyond_the_vocabulary_is_input_only(tiny_dir: Path, tmp_path: Path) -> None:
    """A new SAT id (== vocabulary size): no resize, ordinary logits still bit-identical."""
    model = _load(tiny_dir)
    rows = model.get_input_embeddings().weight.shape[0]
    adapter = new_adapter(model, "sat-embedding", rows, rank=0, alpha=0.0)
    artifact = SdsatArtifact(
        base=str(tiny_dir),
        mode="sat-embedding",
        sat_id=rows,
        trained_k=2,
        recommended_k=2,
        sat_token="<SAT>",
        sat_token_added=True,
    )
    write_artifact(tmp_path / "artifact", artifact, adapter)
    sdsat = apply_artifact(_load(tiny_dir), tmp_path / "artifact")
    ids = torch.tensor([[20, 21, 22, rows, rows]])
    with torch.no_grad():
        logits = sdsat(input_ids=ids).logits
        assert torch.equal(sdsat(input_ids=ids[:, :3]).logits, model(input_ids=ids[:, :3]).logits)
        base = model(input_ids=ids[:, :3]).logits
    assert logits.shape[-1] == rows
    # a longer call may round differently in the matmuls (CPU kernels depend on the row count)
    torch.testing.assert_close(logits[:, :3], base, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "format"),
        ({"mode": "lora"}, "mode"),
        ({"trained_k": 0}, "positive"),
        ({"format_version": 99}, "format_version"),
    ],
)
def test_malformed_sdsat_json(
    tiny_dir: Path, sat_id: int, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", "sat-embedding", sat_id)
    path = directory / "sdsat.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(ArtifactError, match=message):
        read_artifact(directory)


def test_mismatched_model_is_refused(tiny_dir: Path, sat_id: int, tmp_path: Path) -> None:
    from tiny_model import build_tiny_model

    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", "sat-adapter", sat_id)
    wider = build_tiny_model(tmp_path / "wider", hidden_size=96)
    with pytest.raises(ArtifactError, match="hidden size"):
        apply_artifact(_load(wider), directory)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(ArtifactError, match="not found"):
        read_artifact(tmp_path / "missing")


def test_a_call_without_input_ids_forgets_earlier_sats(
    tiny_dir: Path, sat_id: int, tmp_path: Path
) -> None:
    directory = _write_random_artifact(tiny_dir, tmp_path / "artifact", "sat-adapter", sat_id)
    sdsat, base = apply_artifact(_load(tiny_dir), directory), _load(tiny_dir)
    ids = torch.tensor([[20, 21, sat_id, sat_id]])
    embeds = base.get_input_embeddings()(torch.tensor([[20, 21, 22, 23]]))
    with torch.no_grad():
        sdsat(input_ids=ids)
        assert torch.equal(sdsat(inputs_embeds=embeds).logits, base(inputs_embeds=embeds).logits)


def test_a_registry_entry_loads_its_sat_adapter(
    tiny_dir: Path, sat_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from sdsat_lsp.model import load_model

    registry, cache = tmp_path / "registry", tmp_path / "cache"
    shutil.copytree(tiny_dir, cache / "models" / "tiny-sdsat")
    _write_random_artifact(tiny_dir, registry / "tiny-sdsat-adapter", "sat-adapter", sat_id)
    (registry / "tiny-sdsat.toml").write_text(
        'name = "tiny-sdsat"\nsource = "local"\nrecommended_k = 2\n'
        'sat_adapter = "tiny-sdsat-adapter"\n'
    )
    monkeypatch.setenv("SDSAT_LSP_MODELS", str(registry))
    monkeypatch.setenv("SDSAT_LSP_CACHE", str(cache))
    with_adapter = load_model("tiny-sdsat", device="cpu")
    assert with_adapter.spec.name == "tiny-sdsat"
    assert (with_adapter.spec.sat_id, with_adapter.spec.trained_k) == (sat_id, 3)
    assert attached_adapter(with_adapter.model) is not None
    bare = load_model("tiny-sdsat", device="cpu", registry_adapter=False)
    assert attached_adapter(bare.model) is None and bare.spec.sat_id is None
    ids = torch.tensor([[10, 11, 12, sat_id, sat_id]])
    with torch.no_grad():
        differs = (
            with_adapter.model(input_ids=ids).logits[0, -1]
            != bare.model(input_ids=ids).logits[0, -1]
        )
    assert bool(differs.any())  # the SAT rows use the adapter
    (registry / "tiny-sdsat-adapter" / "sdsat.json").write_text("{}")
    from sdsat_lsp.model import ModelLoadError

    with pytest.raises(ModelLoadError, match="SAT adapter"):
        load_model("tiny-sdsat", device="cpu")


def test_reduce_rank_is_the_best_low_rank_copy(tiny_dir: Path, sat_id: int) -> None:
    from sdsat_lsp.training.adapter import reduce_rank

    model = _load(tiny_dir)
    adapter = new_adapter(model, "sat-adapter", sat_id, rank=4, alpha=8.0)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.add_(torch.randn_like(parameter))

    def deltas(source):  # type: ignore[no-untyped-def]
        return {
            key: (pair.lora_b @ pair.lora_a * pair.scale).detach()
            for key, pair in source.lora.items()
        }

    original = deltas(adapter)
    same = deltas(reduce_rank(adapter, 4))
    for key, delta in original.items():
        torch.testing.assert_close(same[key], delta, rtol=1e-4, atol=1e-5)
    halved = reduce_rank(adapter, 2)
    assert halved.rank == 2 and torch.equal(halved.sat_embedding, adapter.sat_embedding)
    for key, delta in deltas(halved).items():
        tail = torch.linalg.svdvals(original[key].double())[2:]
        error = torch.linalg.matrix_norm((delta - original[key]).double())
        assert float(error) == pytest.approx(float(tail.norm()), rel=1e-4)  # Eckart–Young
    with pytest.raises(ValueError, match="export-rank"):
        reduce_rank(adapter, 5)
