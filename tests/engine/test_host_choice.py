"""`cpu_quantize = "measure"`: the weight format is timed on this machine once, then remembered."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sdsat_lsp.config import Settings
from sdsat_lsp.engine import Engine
from sdsat_lsp.engine.forward import host_choice
from sdsat_lsp.engine.forward.select import choose_forward
from sdsat_lsp.model import LoadedModel


@pytest.fixture()
def measuring(
    tiny_loaded: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LoadedModel:
    monkeypatch.setenv("SDSAT_LSP_CACHE", str(tmp_path / "cache"))  # not the user's cache
    spec = dataclasses.replace(tiny_loaded.spec, cpu_quantize="measure")
    return dataclasses.replace(tiny_loaded, spec=spec)


def test_the_first_load_measures_every_format_and_the_next_reads_the_answer(
    measuring: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(model=str(measuring.path), device="cpu", threads=1)
    choice = choose_forward(measuring, settings, [("ar", 1)])

    assert choice.options is not None
    assert choice.options.quantize in host_choice.CANDIDATES
    assert "measured on this CPU" in choice.reason
    [saved] = (Path(host_choice.choice_path(measuring.spec.name, 1)).parent).iterdir()
    record = json.loads(saved.read_text())
    assert set(record["pass_ms"]) == set(host_choice.CANDIDATES)
    assert all(ms > 0 for ms in record["pass_ms"].values())
    fastest = min(record["pass_ms"], key=record["pass_ms"].get)
    ratio = record["pass_ms"]["none"] / record["pass_ms"][fastest]
    assert record["quantize"] == (fastest if ratio >= host_choice.MARGIN else "none")

    def no_measuring(*args: object) -> None:
        raise AssertionError("measured again")

    monkeypatch.setattr(host_choice, "measure_pass_ms", no_measuring)
    again = choose_forward(measuring, settings, [("ar", 1)])
    assert again.options is not None and again.options.quantize == record["quantize"]
    assert again.reason == choice.reason


def test_a_damaged_record_is_measured_again_and_an_engine_runs_with_the_choice(
    measuring: LoadedModel,
) -> None:
    path = host_choice.choice_path(measuring.spec.name, 1)
    path.parent.mkdir(parents=True)
    path.write_text('{"quantize": "int3"')  # truncated and wrong

    engine = Engine(measuring, Settings(model=str(measuring.path), device="cpu", threads=1))

    assert json.loads(path.read_text())["quantize"] in host_choice.CANDIDATES
    assert "measured on this CPU" in engine.info.forward
    generation = engine.generate(engine.encode_prompt("def add(a, b):"), max_new_tokens=8)
    generation.collect()
    assert generation.stats.new_tokens > 0


def test_an_explicit_setting_wins_over_the_measured_choice(measuring: LoadedModel) -> None:
    settings = Settings(model=str(measuring.path), device="cpu", threads=1, quantize="none")
    choice = choose_forward(measuring, settings, [("ar", 1)])
    assert choice.options is not None and choice.options.quantize == "none"
    assert not host_choice.choice_path(measuring.spec.name, 1).exists()  # nothing measured


def test_auto_strategy_is_ar_on_low_bit_weights_and_drafting_stays_available(
    tiny_loaded: LoadedModel,
) -> None:
    settings = Settings(model=str(tiny_loaded.path), device="cpu", threads=1, quantize="int8")
    engine = Engine(tiny_loaded, settings)
    assert engine.info.strategy == "ar" and "low-bit" in engine.info.strategy_reason
    fp32 = Engine(tiny_loaded, dataclasses.replace(settings, quantize="none"))
    assert fp32.info.strategy == tiny_loaded.spec.cpu_strategy
    chosen = Engine(tiny_loaded, dataclasses.replace(settings, strategy="lookup"))
    assert chosen.info.strategy == "lookup"  # an explicit choice is kept
