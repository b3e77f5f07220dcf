"""`sdsat-lsp complete` end to end in a subprocess: streamed text, JSON, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = '''import os


def list_python_files(root):
    """Return all .py files below root."""
    result = []
    for name in os.listdir(root):
        if name.endswith(".py"):
'''


def sdsat(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if cache is not None:
        env["SDSAT_LSP_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "sdsat_lsp", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "files.py"
    path.write_text(SOURCE)
    return path


def test_complete_json_on_tiny_model(tiny_model_dir: Path, source_file: Path) -> None:
    result = sdsat(
        "complete", str(source_file), "--line", "8", "--column", "8",
        "--model", str(tiny_model_dir), "--strategy", "ar", "--max-new-tokens", "8",
        "--no-stop-rules", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["stats"]["new_tokens"] == 8
    assert payload["stats"]["forward_passes"] == 8
    assert payload["stats"]["strategy"] == "ar"
    assert isinstance(payload["text"], str)


def test_unknown_model_and_bad_position_give_one_clear_error(
    tiny_model_dir: Path, source_file: Path
) -> None:
    position = ["--line", "8", "--column", "8"]
    unknown = sdsat("complete", str(source_file), *position, "--model", "no-such-model")
    past_end = sdsat(
        "complete",
        str(source_file),
        "--line",
        "99",
        "--column",
        "0",
        "--model",
        str(tiny_model_dir),
    )
    for result, message in [(unknown, "neither a registry name"), (past_end, "line 99")]:
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_default_model_names_the_fetch_command(tmp_path: Path, source_file: Path) -> None:
    result = sdsat("complete", str(source_file), "--line", "1", "--column", "0", cache=tmp_path)
    assert result.returncode == 2
    assert "sdsat-lsp fetch-model" in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_without_weights_and_pickles_are_refused(
    tmp_path: Path, source_file: Path
) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    result = sdsat(
        "complete", str(source_file), "--line", "1", "--column", "0", "--model", str(tmp_path)
    )
    assert result.returncode == 2
    assert "no safetensors weights" in result.stderr
    assert "pickled weights are refused" in result.stderr


def test_corrupt_gguf_is_a_clear_error(tmp_path: Path, source_file: Path) -> None:
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(256))
    result = sdsat(
        "complete", str(source_file), "--line", "1", "--column", "0", "--model", str(corrupt),
        cache=tmp_path / "cache",
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "GGUF" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.default_model
def test_default_model_strategies_agree() -> None:
    from sdsat_lsp.config import Settings
    from sdsat_lsp.engine import Engine

    # fp32, uncompiled: the reference configuration (the weight format the registry measures
    # per machine may be low-bit: test_lowbit_lossless.py covers those).
    engine = Engine.load(Settings(device="cpu", compile="off", quantize="none"))
    spec = engine.loaded.spec
    assert spec.sat_trained  # the registry's SAT adapter (models/smollm2-135m-sdsat)
    prompt = engine.encode_prompt(SOURCE + "            ")
    texts, accepted = {}, {}
    for strategy in ("ar", "lookup", "sdsat", "sdsat-tree"):
        generation = engine.generate(
            prompt, max_new_tokens=24, strategy=strategy, reuse_prefix=False
        )
        deltas = list(generation)
        assert "".join(deltas) == generation.text
        texts[strategy] = generation.text
        accepted[strategy] = generation.stats.accepted_tokens
    assert texts["ar"].strip()
    assert texts["lookup"] == texts["ar"]
    assert texts["sdsat"] == texts["ar"]
    assert texts["sdsat-tree"] == texts["ar"]
    assert accepted["sdsat"] > 0 and accepted["sdsat-tree"] > 0  # the trained SAT drafts


@pytest.mark.default_model
def test_default_model_streams_to_stdout(source_file: Path) -> None:
    result = sdsat(
        "complete", str(source_file), "--line", "8", "--column", "12", "--max-new-tokens", "16",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    stats = json.loads(result.stderr.strip().splitlines()[-1])["stats"]
    assert stats["new_tokens"] >= 1
