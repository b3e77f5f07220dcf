"""Training end to end on tiny models: drafts are learned, exactness holds, runs resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from train_config import tiny_train_config

from sdsat_lsp.model import load_model
from sdsat_lsp.model.artifact import apply_artifact, read_artifact
from sdsat_lsp.model.sat_adapter import SatAdapter, attach_sat_adapter
from sdsat_lsp.training.config import TrainConfig
from sdsat_lsp.training.evaluate import (
    evaluation_engine,
    greedy_continuation,
    measure_acceptance,
    prompts_from_sequences,
)
from sdsat_lsp.training.loop import Trainer

_config = tiny_train_config


def _load(directory: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(directory).eval()


@pytest.fixture(scope="module")
def trained(pretrained_tiny_dir: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    output = tmp_path_factory.mktemp("run")
    trainer = Trainer(_config(pretrained_tiny_dir, corpus, output))
    untrained = trainer.evaluate()
    result = trainer.run(progress=False)
    return trainer, untrained, result


def test_tiny_model_learns_sat_drafts(trained, pretrained_tiny_dir: Path) -> None:  # type: ignore[no-untyped-def]
    trainer, untrained, result = trained
    assert result.final is not None
    # measured 0.16 → 0.67
    assert result.final.proxy_accepted > untrained.proxy_accepted + 0.3
    held_out = trainer.dataset.held_out
    prompts = prompts_from_sequences(held_out, 6, 24)
    sdsat = load_model(str(trainer.output), device="cpu")  # the artifact, as users load it
    bare = load_model(str(pretrained_tiny_dir), device="cpu")
    start = torch.zeros(bare.model.config.hidden_size)
    attach_sat_adapter(bare.model, SatAdapter(trainer.sat.id, start))  # an untrained SAT
    after = measure_acceptance(
        evaluation_engine(sdsat, trainer.sat.id, 3), prompts, max_new_tokens=24, check_greedy=True
    )
    before = measure_acceptance(
        evaluation_engine(bare, trainer.sat.id, 3), prompts, max_new_tokens=24
    )
    assert after.equals_greedy == len(prompts)  # sdsat output is still plain greedy output
    assert after.rounds and after.drafted_tokens == 3 * after.rounds
    # measured: 0.18 → 1.10 accepted drafts per round, 1.06 → 1.47 tokens per pass
    assert after.mean_accepted_per_round > before.mean_accepted_per_round + 0.4
    assert after.tokens_per_pass > 1.25


def test_trained_exact_mode_keeps_base_logits(trained, pretrained_tiny_dir: Path) -> None:  # type: ignore[no-untyped-def]
    trainer, _, _ = trained
    assert any(
        float(p.detach().abs().max()) > 0
        for n, p in trainer.adapter.named_parameters()
        if n.endswith("lora_b")
    )  # the adapter really moved
    sdsat = apply_artifact(_load(pretrained_tiny_dir), trainer.output)
    base = _load(pretrained_tiny_dir)
    ids = trainer.dataset.held_out[:2]
    with torch.no_grad():
        assert torch.equal(sdsat(input_ids=ids).logits, base(input_ids=ids).logits)
    prompt = ids[0, :20].tolist()
    two_step = evaluation_engine(load_model(str(trainer.output), device="cpu"), trainer.sat.id, 3)
    generation = two_step.generate(prompt, max_new_tokens=30)
    generation.collect()
    assert generation.stats.strategy == "sdsat" and generation.stats.rounds > 0
    plain = evaluation_engine(load_model(str(pretrained_tiny_dir), device="cpu"), trainer.sat.id, 3)
    assert generation.tokens == greedy_continuation(plain, prompt, 30)


def test_output_layout(trained) -> None:  # type: ignore[no-untyped-def]
    trainer, _, _ = trained
    output = trainer.output
    artifact = read_artifact(output)
    assert (artifact.trained_k, artifact.mode, artifact.sat_id) == (
        3,
        "sat-adapter",
        trainer.sat.id,
    )
    assert artifact.data["train_files"] > 0 and artifact.config["k"] == 3
    checkpoint = output / "checkpoints" / "step-0000080"
    for name in (
        "sdsat.json",
        "sat_adapter.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
        "train_config.json",
    ):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "train_config.json").read_text())["seq_len"] == 64


@pytest.mark.parametrize("mode", ["sat-embedding", "full"])
def test_other_modes_train_and_resume(
    tiny_dir: Path, corpus: Path, tmp_path: Path, mode: str
) -> None:
    config = _config(
        tiny_dir,
        corpus,
        tmp_path / "out",
        mode=mode,
        max_steps=3,
        batch_size=1,
        sat_groups_per_seq=4,
    )
    first = Trainer(config).run(progress=False)
    assert first.state.step == 3
    resumed = Trainer(TrainConfig(**{**config.to_json(), "max_steps": 5}), resume=True)
    assert resumed.state.step == 3
    assert resumed.run(progress=False).state.step == 5
    with pytest.raises(ValueError, match="k"):
        Trainer(TrainConfig(**{**config.to_json(), "k": 2}), resume=True)
    loaded = apply_artifact(
        _load(tmp_path / "out" if mode == "full" else tiny_dir), tmp_path / "out"
    )
    assert loaded is not None
