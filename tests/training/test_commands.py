"""`sdsat-lsp train` flags and bad input: clear one-line errors, exit status 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdsat_lsp.cli import main


def _train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().err


def test_help_lists_typed_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--base",
        "--data",
        "--k",
        "--mode",
        "--output",
        "--max-steps",
        "--resume",
        "--threads",
        "--lr",
        "--seq-len",
        "--sat-groups-per-seq",
        "--targets",
    ):
        assert flag in text
    assert "{full,sat-adapter,sat-embedding}" in text
    assert "SAT accuracy per position" in text  # the `train evaluate` sub-command


def test_k_must_be_positive(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    code, error = _train(
        capsys,
        "--base",
        str(tiny_dir),
        "--data",
        str(corpus),
        "--k",
        "0",
        "--output",
        str(tmp_path / "out"),
    )
    assert code == 2 and "--k must be positive" in error


def test_empty_data_directory(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "image.py").write_bytes(b"\x00\x01binary")
    code, error = _train(
        capsys,
        "--base",
        str(tiny_dir),
        "--data",
        str(empty),
        "--output",
        str(tmp_path / "out"),
        "--max-steps",
        "1",
    )
    assert code == 2
    assert "no training sequences" in error and "1 binary" in error


def test_missing_data_directory(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, tmp_path: Path
) -> None:
    code, error = _train(
        capsys,
        "--base",
        str(tiny_dir),
        "--data",
        str(tmp_path / "nope"),
        "--output",
        str(tmp_path / "out"),
    )
    assert code == 2 and "not a directory" in error


def test_extra_data_without_a_saved_dataset(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "earlier").mkdir()
    code, error = _train(
        capsys,
        "--base",
        str(tiny_dir),
        "--data",
        str(tmp_path / "src"),
        "--extra-data",
        str(tmp_path / "earlier"),
        "--output",
        str(tmp_path / "out"),
    )
    assert code == 2 and "--extra-data" in error and "no saved dataset" in error


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_as_user(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, error = _train(
        capsys, "--base", str(tiny_dir), "--data", str(corpus), "--output", str(locked / "out")
    )
    assert code == 2 and "not writable" in error


def test_unwritable_output(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should go")
    code, error = _train(
        capsys, "--base", str(tiny_dir), "--data", str(corpus), "--output", str(blocker / "out")
    )
    assert code == 2 and "--output" in error and "not writable" in error


def test_model_without_a_free_token_id(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    base = _model_with_role_tokens_only(tmp_path / "plain")
    code, error = _train(
        capsys,
        "--base",
        str(base),
        "--data",
        str(corpus),
        "--output",
        str(tmp_path / "out"),
        "--max-steps",
        "1",
        "--seq-len",
        "32",
    )
    assert code == 2
    assert "no free special token" in error and "--sat-token new" in error


def test_sat_token_new_trains_without_resizing(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    from sdsat_lsp.model.artifact import read_artifact

    base = _model_with_role_tokens_only(tmp_path / "plain")
    code, _ = _train(
        capsys,
        "--base",
        str(base),
        "--data",
        str(corpus),
        "--output",
        str(tmp_path / "out"),
        "--max-steps",
        "2",
        "--seq-len",
        "32",
        "--sat-token",
        "new",
        "--mode",
        "sat-embedding",
        "--eval-prompts",
        "1",
        "--eval-new-tokens",
        "4",
        "--no-progress",
    )
    assert code == 0
    artifact = read_artifact(tmp_path / "out")
    assert artifact.sat_token_added and artifact.sat_id == artifact.vocab_size


def test_export_and_evaluate(
    capsys: pytest.CaptureFixture[str], tiny_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    code, _ = _train(
        capsys,
        "--base",
        str(tiny_dir),
        "--data",
        str(corpus),
        "--output",
        str(tmp_path / "out"),
        "--max-steps",
        "2",
        "--seq-len",
        "32",
        "--k",
        "2",
        "--lora-rank",
        "2",
        "--eval-prompts",
        "0",
        "--no-progress",
    )
    assert code == 0
    checkpoint = next((tmp_path / "out" / "checkpoints").glob("step-*"))
    code, error = _train(
        capsys, "--export-from", str(checkpoint), "--output", str(tmp_path / "small")
    )
    assert code == 0 and "MB" in error
    code = main(
        [
            "train",
            "--evaluate",
            str(tmp_path / "small"),
            "--data",
            str(corpus),
            "--eval-prompts",
            "2",
            "--eval-new-tokens",
            "8",
            "--seq-len",
            "32",
            "--eval-sequences",
            "2",
        ]
    )
    report = capsys.readouterr().out
    assert code == 0 and '"two_step"' in report and '"sat_accuracy_greedy"' in report
    # The sub-command spellings run the same jobs.
    code, error = _train(capsys, "export", str(checkpoint), "--output", str(tmp_path / "again"))
    assert code == 0 and "MB" in error
    evaluate = ["train", "evaluate", str(tmp_path / "again"), "--data", str(corpus)]
    sizes = ["--seq-len", "32", "--eval-prompts", "1", "--eval-new-tokens", "4"]
    code = main([*evaluate, *sizes, "--eval-sequences", "1"])
    report = capsys.readouterr().out
    assert code == 0 and '"two_step"' in report and '"sat_accuracy_greedy"' in report


def _model_with_role_tokens_only(directory: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<s>", "</s>"]
    vocab = {token: index for index, token in enumerate(specials)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=0,
        eos_token_id=1,
    )
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    return directory
