"""The CPU weight format for this machine, measured once and remembered.

Why: the same eager low-bit kernels are fast on one host and slow on another. Measured
2026-12-01 on a 2-core VM with AVX-512 BF16 and AMX (1 thread, `bench passes`): a 1-token pass
of the default model took 138 ms in fp32, 88 ms with int8 weights and 55 ms with int4 weights
(bf16 activations); on an AVX2-only host both were slower than fp32. No registry value is
right for both, so a model whose registry entry says `cpu_quantize = "measure"` gets, on its
first load on a machine, a few 1-token passes of each weight format timed here (interleaved,
medians, ~5-10 s in all), and keeps the fastest if it beats fp32 by `MARGIN`. The answer is
stored under the user cache (`host/`), keyed by the CPU (model name and flags), torch's
version, the model and the thread count, so later loads only read it, with how many cores
other processes kept busy meanwhile (a busy machine blurs the timings: `sdsat-lsp doctor`
shows the record, `sdsat-lsp fetch-model --remeasure` measures again, as does deleting it).

A low-bit format is a different model: its greedy output may differ from fp32 near ties
(docs/benchmarks.md measures how often). Every strategy still equals that format's own `ar`
(row-exact attention, llama.py); `strategy: auto` keeps only `lookup` there (engine.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import torch

from sdsat_lsp.config import QuantizationName
from sdsat_lsp.engine.cpu_load import OthersWindow
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses
from sdsat_lsp.model import LoadedModel

log = logging.getLogger(__name__)

CANDIDATES: tuple[QuantizationName, ...] = ("none", "int8", "int4")
MARGIN = 1.25  # a low-bit format must be this much faster than fp32 to be worth its drift
BUSY_CORES = 0.5  # other processes kept more than this many cores busy: measured while busy
ROUNDS = 8  # timed passes per format (after one untimed), interleaved against load bursts
CONTEXT = 64  # cache rows before the timed pass: a short completion prompt


@dataclass(frozen=True)
class HostChoice:
    quantize: QuantizationName
    pass_ms: dict[str, float]  # median 1-token pass per format
    threads: int
    measured_at: str
    others_busy_cores: float | None = None  # other processes' CPU use while timing, in cores

    @property
    def reason(self) -> str:
        timings = ", ".join(f"{name} {ms:.0f}" for name, ms in self.pass_ms.items())
        return f"{self.quantize} weights (measured on this CPU, 1-token pass ms: {timings})"

    @property
    def measured_while_busy(self) -> bool:
        return self.others_busy_cores is not None and self.others_busy_cores > BUSY_CORES

    def describe(self) -> str:
        busy = self.others_busy_cores
        load = "" if busy is None else f", other processes busy on {busy:.1f} cores"
        return f"{self.reason} at {self.threads} threads ({self.measured_at}{load})"


@functools.cache  # one read of /proc/cpuinfo per process: the CPU does not change
def cpu_description() -> str:
    """The CPU's model name and feature flags (what decides which kernels are fast)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return f"{platform.machine()} {platform.processor()}"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
        if name.strip() == "flags":
            break  # the first processor's entries are enough
    return f"{fields.get('model name', '')} | {fields.get('flags', '')}"


def choice_path(model_name: str, threads: int) -> Path:
    from sdsat_lsp.model.paths import cache_dir

    key = hashlib.sha256(
        f"{cpu_description()}|{torch.__version__}|{model_name}|{threads}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "host" / f"cpu-quantize-{key}.json"


def cpu_quantization(
    loaded: LoadedModel, threads: int, progress: Callable[[str], None] | None = None
) -> HostChoice:
    """The remembered choice for this machine, else measure it now and remember it."""
    path = choice_path(loaded.spec.name, threads)
    remembered = read_choice(path)
    if remembered is not None:
        if remembered.measured_while_busy:
            log.info("weight format measured on a busy machine: %s", remembered.describe())
        return remembered
    if progress:
        progress("measuring which weight format is fastest on this CPU (once)")
    window = OthersWindow()
    pass_ms = measure_pass_ms(loaded, threads)
    others = window.others_busy_cores()
    fastest = min(CANDIDATES, key=pass_ms.__getitem__)
    quantize = fastest if pass_ms["none"] >= MARGIN * pass_ms[fastest] else "none"
    choice = HostChoice(
        quantize=quantize,
        pass_ms=pass_ms,
        threads=threads,
        measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        others_busy_cores=None if others is None else round(others, 2),
    )
    write_choice(path, choice)
    log.info("weight format for %s on this CPU: %s", loaded.spec.name, choice.reason)
    return choice


def _choice_paths(model_name: str) -> list[Path]:
    """Where a record for `model_name` could be here: one per possible thread count."""
    return [choice_path(model_name, threads) for threads in range(1, (os.cpu_count() or 1) + 1)]


def remembered_choices(model_name: str) -> list[tuple[Path, HostChoice]]:
    """What this machine remembers for `model_name`, one record per thread count."""
    found = []
    for path in _choice_paths(model_name):
        if path.is_file() and (choice := read_choice(path)) is not None:
            found.append((path, choice))
    return found


def forget_choices(model_name: str) -> list[Path]:
    """Delete the remembered records for `model_name` here: the next load measures again."""
    removed = []
    for path in _choice_paths(model_name):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def measure_pass_ms(loaded: LoadedModel, threads: int) -> dict[str, float]:
    """Median 1-token decode pass per candidate format, on a CONTEXT-row cache."""
    torch.set_num_threads(threads)
    vocab = loaded.vocab_size
    ids = [(7919 * i + 11) % vocab for i in range(CONTEXT + 1)]  # any ordinary ids will do
    options = StaticOptions(capacity=CONTEXT + 64, row_shapes=(1,))
    passes = {
        name: StaticPasses(loaded.model, loaded.device, loaded.dtype, _with_quantize(options, name))
        for name in CANDIDATES
    }
    samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    with torch.no_grad():
        for each in passes.values():
            each.fill(ids[:CONTEXT])
        for round_ in range(ROUNDS + 1):
            for name, each in passes.items():
                started = time.perf_counter()
                each.run(ids[CONTEXT:], keep=1)
                if round_:  # the first is a warm-up
                    samples[name].append((time.perf_counter() - started) * 1000)
                each.cache.crop_to(CONTEXT)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def _with_quantize(options: StaticOptions, quantize: QuantizationName) -> StaticOptions:
    from dataclasses import replace

    return replace(options, quantize=quantize)


def read_choice(path: Path) -> HostChoice | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        choice = HostChoice(
            quantize=data["quantize"],
            pass_ms={str(k): float(v) for k, v in data["pass_ms"].items()},
            threads=int(data["threads"]),
            measured_at=str(data["measured_at"]),
            others_busy_cores=None
            if (busy := data.get("others_busy_cores")) is None
            else float(busy),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("ignoring %s (%s): measuring again", path, error)
        return None
    if choice.quantize not in get_args(QuantizationName):
        log.warning("ignoring %s (unknown format %r): measuring again", path, choice.quantize)
        return None
    return choice


def write_choice(path: Path, choice: HostChoice) -> None:
    data = {
        "quantize": choice.quantize,
        "pass_ms": choice.pass_ms,
        "threads": choice.threads,
        "measured_at": choice.measured_at,
        "others_busy_cores": choice.others_busy_cores,
        "cpu": cpu_description().split(" | ")[0],
        "torch": torch.__version__,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
            json.dump(data, file, indent=2)
        os.replace(file.name, path)
    except OSError as error:  # a read-only cache costs the next load a measurement
        log.warning("could not remember the weight format in %s: %s", path, error)
