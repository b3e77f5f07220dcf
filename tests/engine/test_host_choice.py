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


def test_auto_strategy_on_low_bit_weights_keeps_lookup_only_and_explicit_choices_stay(
    tiny_loaded: LoadedModel,
) -> None:
    settings = Settings(model=str(tiny_loaded.path), device="cpu", threads=1, quantize="int8")
    lookup_spec = dataclasses.replace(tiny_loaded.spec, cpu_strategy="lookup")
    engine = Engine(dataclasses.replace(tiny_loaded, spec=lookup_spec), settings)
    assert engine.info.strategy == "lookup" and "low-bit" in engine.info.strategy_reason
    assert engine.info.dtype == "bfloat16"  # the weights are float32, the passes compute bf16
    assert engine.info.device_reason.endswith("passes compute in bfloat16 (low-bit weights)")
    sat_spec = dataclasses.replace(
        tiny_loaded.spec, cpu_strategy="sdsat", sat_id=tiny_loaded.vocab_size - 1, trained_k=4
    )
    two_step = Engine(dataclasses.replace(tiny_loaded, spec=sat_spec), settings)
    assert two_step.info.strategy == "ar" and "low-bit" in two_step.info.strategy_reason
    fp32 = Engine(
        dataclasses.replace(tiny_loaded, spec=sat_spec),
        dataclasses.replace(settings, quantize="none"),
    )
    assert fp32.info.strategy == "sdsat"
    chosen = Engine(tiny_loaded, dataclasses.replace(settings, strategy="sdsat-tree"))
    assert chosen.info.strategy == "sdsat-tree"  # an explicit choice is kept


def test_compiled_low_bit_passes_run_ar_under_auto() -> None:
    from sdsat_lsp.engine.engine import low_bit_strategy

    strategy, reason = low_bit_strategy("lookup", "registry", compiled=True)
    assert strategy == "ar" and "not be bit-exact" in reason


def test_a_record_says_how_busy_the_machine_was_and_can_be_forgotten(
    measuring: LoadedModel,
) -> None:
    settings = Settings(model=str(measuring.path), device="cpu", threads=1)
    choose_forward(measuring, settings, [("ar", 1)])

    [(path, choice)] = host_choice.remembered_choices(measuring.spec.name)
    assert choice.others_busy_cores is not None and choice.others_busy_cores >= 0
    assert json.loads(path.read_text())["others_busy_cores"] == choice.others_busy_cores
    assert "at 1 threads" in choice.describe() and "busy on" in choice.describe()

    assert host_choice.forget_choices(measuring.spec.name) == [path]
    assert not path.exists() and host_choice.remembered_choices(measuring.spec.name) == []
    choose_forward(measuring, settings, [("ar", 1)])  # the next load measures again
    assert path.exists()


def test_doctor_shows_the_remembered_format_and_asks_to_remeasure_a_busy_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdsat_lsp.config import DEFAULT_MODEL
    from sdsat_lsp.doctor.models import weight_format_check

    monkeypatch.setenv("SDSAT_LSP_CACHE", str(tmp_path / "cache"))
    settings = Settings(device="cpu")  # the default model: its registry entry says "measure"
    unmeasured = weight_format_check(settings)
    assert unmeasured is not None and unmeasured.status == "info"
    assert "not measured" in unmeasured.summary and "--remeasure" in unmeasured.fix

    def remember(others_busy_cores: float) -> None:
        choice = host_choice.HostChoice(
            quantize="int4",
            pass_ms={"none": 60.0, "int8": 40.0, "int4": 25.0},
            threads=1,
            measured_at="2026-12-01 17:00 UTC",
            others_busy_cores=others_busy_cores,
        )
        host_choice.write_choice(host_choice.choice_path(DEFAULT_MODEL, 1), choice)

    remember(others_busy_cores=0.1)
    quiet = weight_format_check(settings)
    assert quiet is not None and quiet.status == "ok"
    assert "int4 weights" in quiet.summary and "none 60" in quiet.summary

    remember(others_busy_cores=1.4)
    busy = weight_format_check(settings)
    assert busy is not None and busy.status == "info"
    assert "busy" in busy.fix and f"fetch-model {DEFAULT_MODEL} --remeasure" in busy.fix

    assert weight_format_check(dataclasses.replace(settings, quantize="none")) is None
