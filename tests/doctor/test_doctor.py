"""`sdsat-lsp doctor`: the real command on the default model, on a tiny model, and on a broken
set-up (unwritable cache, bad settings, a GPU asked for where there is none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sdsat_lsp.context.languages import SPECS, LanguageSpec
from sdsat_lsp.doctor.environment import grammars_check

MARKS = ("✔ ", "✘ ", "– ")


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sdsat_lsp", "doctor", *args]
    utf8 = {"PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        command, env=(env or dict(os.environ)) | utf8, capture_output=True, text=True, timeout=600
    )


def checks_by_name(stdout: str) -> dict[str, dict[str, Any]]:
    report = json.loads(stdout)
    return {check["name"]: check for check in report["checks"]}


@pytest.mark.default_model
def test_the_default_model_passes_every_check() -> None:
    result = doctor("--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], result.stdout + result.stderr
    checks = {check["name"]: check for check in report["checks"]}
    for name in ("python", "torch", "device", "registry", "grammars", "cache", "adapter"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["model smollm2-135m"]["status"] == "ok"
    assert checks["cuda"]["status"] in ("ok", "info")
    completion = checks["completion"]
    assert completion["status"] == "ok" and completion["details"]["tokens"] == 16
    assert completion["details"]["tokens_per_second"] > 0
    assert checks["adapter applied"]["status"] == "ok"
    assert "SAT id 16" in checks["adapter applied"]["summary"]


def test_text_report_on_a_tiny_model(tiny_model_dir: Path) -> None:
    options = json.dumps({"model": str(tiny_model_dir), "device": "cpu"})
    result = doctor("--options", options)
    lines = result.stdout.splitlines()
    checks = [line for line in lines if not line.startswith("    ")][:-1]
    assert all(line.startswith(MARKS) for line in checks), result.stdout
    assert any(line.startswith(f"✔ model {tiny_model_dir}: files whole") for line in checks)
    completion = next(line for line in checks if line.startswith("✔ completion: "))
    assert "16 tokens in" in completion and "tokens/s" in completion
    assert any(line.startswith("– adapter applied: ") for line in checks)
    # The default model may be missing on this machine; that is the only failure allowed.
    assert result.returncode == (1 if any(line.startswith("✘") for line in checks) else 0)
    assert all("smollm2-135m" in line for line in checks if line.startswith("✘")), result.stdout


def test_each_failure_says_how_to_fix_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = os.environ | {"SDSAT_LSP_CACHE": str(blocker / "cache")}
    result = doctor("--json", "--options", json.dumps({"k": -3, "colour": "red"}), env=env)
    assert result.returncode == 1
    checks = checks_by_name(result.stdout)
    assert not json.loads(result.stdout)["ok"]
    assert checks["settings"]["status"] == "fail" and "colour" in checks["settings"]["fix"]
    assert checks["cache"]["status"] == "fail" and "SDSAT_LSP_CACHE" in checks["cache"]["fix"]
    default = checks["model smollm2-135m"]
    assert default["status"] == "fail" and default["fix"] == "sdsat-lsp fetch-model smollm2-135m"
    assert checks["completion"]["status"] == "info", "no test completion without a model"
    for check in checks.values():
        assert check["status"] != "fail" or check["fix"], check


def test_a_gpu_asked_for_without_one_fails_with_the_fix() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = doctor("--json", "--no-completion", "--device", "cuda")
    device = checks_by_name(result.stdout)["device"]
    assert result.returncode == 1 and device["status"] == "fail"
    assert "no CUDA GPU" in device["summary"] and "auto or cpu" in device["fix"]


def test_a_grammar_that_does_not_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real import of a grammar package that is not installed, next to the real grammars.
    broken = LanguageSpec("broken", "#", True, grammar=("tree_sitter_not_installed", "language"))
    monkeypatch.setitem(SPECS, "broken", broken)
    check = grammars_check()
    assert check.status == "fail" and "broken" in check.summary
    assert check.fix.endswith("pip install --force-reinstall tree-sitter-not-installed`")
    assert "python" not in check.summary
