"""`sdsat-lsp bench decode`: every decoder on the same prompts, in one run, one process.

For each prompt the runners go in a rotated order (so no runner always runs first, on a cold
cache, or last, after the machine got busier), each from an empty KV cache. Afterwards every
runner is checked against `ar` token for token; a lossless runner (our strategies and
transformers on the same float weights) that differs is a bug, and the command exits 1.
Writes `decode-<model>.json` (everything, per prompt), `.md` (tables) and `.png` (plot).

`--busy-cores 0,1,2` repeats the run under a background load of that many busy-loop processes
(started and stopped by the benchmark) and reports each runner's speed under load as a share
of its idle speed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdsat_lsp.bench import RESULTS
from sdsat_lsp.bench.measure import Measurement
from sdsat_lsp.bench.prompts import PROMPT_SETS, load_prompts
from sdsat_lsp.bench.report import (
    BASELINE,
    machine_info,
    markdown_table,
    plot_against_k,
    summarize,
)
from sdsat_lsp.bench.runners import ENGINE_STRATEGIES, HF_PEERS, EngineRunner, HFRunner, Runner
from sdsat_lsp.config import (
    DEFAULT_MODEL,
    Device,
    Dtype,
    Quantize,
    Settings,
    Switch,
)
from sdsat_lsp.engine import Engine, StrategyError
from sdsat_lsp.engine.cpu_load import BusyCores

ALL_RUNNERS = (*ENGINE_STRATEGIES, *HF_PEERS, "llama.cpp", "llama.cpp-lookup")
DRAFTING = frozenset({"sdsat", "sdsat-tree", "lookup", "hf-lookup", "llama.cpp-lookup"})


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class DecodeBenchConfig:
    """`sdsat-lsp bench decode` flags are generated from these fields."""

    model: str = field(default=DEFAULT_MODEL, metadata=_help("registry name or model path"))
    device: Device = field(default="auto", metadata=_help("where the model runs"))
    dtype: Dtype = field(default="auto", metadata=_help("weights and activations"))
    prompts: int = field(default=20, metadata=_help("prompts per set"))
    prompt_sets: tuple[str, ...] = field(
        default=PROMPT_SETS, metadata=_help(f"comma-separated, of {', '.join(PROMPT_SETS)}")
    )
    max_new_tokens: int = field(default=64, metadata=_help("tokens per prompt at most"))
    warmup: int = field(default=1, metadata=_help("untimed runs per runner first"))
    strategies: tuple[str, ...] = field(
        default=ALL_RUNNERS,
        metadata=_help(
            f"comma-separated, of {', '.join(ALL_RUNNERS)}; ar always runs; 'lookup:2:4' "
            "gives one strategy its own k values"
        ),
    )
    k_values: tuple[int, ...] = field(default=(2, 4, 8), metadata=_help("drafts per round"))
    sat_token_id: int = field(default=-1, metadata=_help("SAT id for a model without one"))
    quantize: Quantize = field(default="auto", metadata=_help("weights (see settings)"))
    compile: Switch = field(default="auto", metadata=_help("compile passes (see settings)"))
    threads: int = field(default=0, metadata=_help("CPU threads (0: the engine's auto)"))
    busy_cores: tuple[int, ...] = field(
        default=(0,),
        metadata=_help("background loads to run under, e.g. 0,1,2 busy cores") | {"min": 0},
    )
    output: Path = field(default=RESULTS, metadata=_help("results folder"))


@dataclass
class DecodeBenchResult:
    config: DecodeBenchConfig
    machine: dict[str, Any]
    model: dict[str, Any]
    runners: list[dict[str, Any]]
    skipped: dict[str, str]
    measurements: list[Measurement]
    summaries: dict[str, dict[str, dict[str, Any]]]  # prompt set (or "all") → runner → row
    failures: list[str] = field(default_factory=list)  # lossless runners that differ from ar
    # busy cores → runner → {tokens/s median, share of idle}, when run under loads
    under_load: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        config = asdict(self.config)
        config["output"] = str(self.config.output)
        return {
            "config": config,
            "machine": self.machine,
            "model": self.model,
            "runners": self.runners,
            "skipped": self.skipped,
            "failures": self.failures,
            "summaries": self.summaries,
            "under_load": self.under_load,
            "measurements": [row.to_dict() for row in self.measurements],
        }


def build_runners(engine: Engine, config: DecodeBenchConfig) -> tuple[list[Runner], dict[str, str]]:
    """The runners the config asks for, `ar` first; and the ones that cannot run, with why."""
    runners: list[Runner] = []
    skipped: dict[str, str] = {}
    limit = config.max_new_tokens
    wanted = [BASELINE, *(name for name in config.strategies if name != BASELINE)]
    for entry in wanted:
        family, ks = parse_strategy(entry, config.k_values)
        if family in ENGINE_STRATEGIES:
            if family == "sdsat" and engine.loaded.spec.sat_id is None:
                skipped[family] = (
                    f"{engine.info.model_name} has no SAT token (pass --sat-token-id ID to "
                    "measure the cost of untrained drafts)"
                )
                continue
            runners += [EngineRunner(engine, family, k, limit) for k in ks]
        elif family in HF_PEERS:
            runners += [HFRunner(engine, k, limit) for k in ks]
        elif family in ("llama.cpp", "llama.cpp-lookup"):
            runners += llama_cpp_runners(engine, family, ks, limit, skipped)
        else:
            raise StrategyError(f"unknown strategy {family!r} (one of {', '.join(ALL_RUNNERS)})")
    return runners, skipped


def parse_strategy(entry: str, k_values: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """`lookup` → its k values from --k-values; `lookup:2:4` → k 2 and 4 for this one only."""
    family, *own = entry.split(":")
    if family not in DRAFTING:
        if own:
            raise StrategyError(f"{family} takes no k values ({entry!r})")
        return family, (0,)
    try:
        ks = tuple(int(k) for k in own) or tuple(k_values)
    except ValueError as error:
        raise StrategyError(f"bad k values in {entry!r}: expected e.g. lookup:2:4") from error
    if min(ks) < 1:
        raise StrategyError(f"k must be at least 1 in {entry!r}")
    return family, ks


def llama_cpp_runners(
    engine: Engine, family: str, ks: Sequence[int], limit: int, skipped: dict[str, str]
) -> list[Runner]:
    import torch

    from sdsat_lsp.bench.llamacpp import LlamaCppRunner, PeerUnavailable, gguf_path_for

    if engine.loaded.device.type != "cpu":
        skipped[family] = "this llama-cpp-python build is CPU-only; compare on --device cpu"
        return []
    try:
        path = gguf_path_for(engine.loaded.spec)
        return [
            LlamaCppRunner(path, torch.get_num_threads(), k, limit, engine.loaded.spec.stop_ids())
            for k in ks
        ]
    except PeerUnavailable as error:
        skipped[family] = str(error)
        return []


def rotated(runners: Sequence[Runner], shift: int) -> list[Runner]:
    shift %= len(runners)
    return [*runners[shift:], *runners[:shift]]


def run_decode_bench(
    config: DecodeBenchConfig,
    progress: Callable[[str], None] = lambda message: None,
    engine: Engine | None = None,
) -> DecodeBenchResult:
    if engine is None:
        settings = Settings(
            model=config.model,
            device=config.device,
            dtype=config.dtype,
            sat_token_id=config.sat_token_id,
            strategy="ar",
            quantize=config.quantize,
            compile=config.compile,
            threads=config.threads,
        )
        engine = Engine.load(settings, progress=progress)
    machine = machine_info()
    prompts = load_prompts(config.prompts, config.prompt_sets)
    runners, skipped = build_runners(engine, config)
    encoded = [(prompt, engine.encode_prompt(prompt.prefix, prompt.suffix)) for prompt in prompts]
    progress(f"{len(prompts)} prompts × {len(runners)} runners: {[r.name for r in runners]}")
    for _ in range(config.warmup):
        for runner in runners:
            runner.run("warm-up", encoded[0][1])
    by_load: dict[int, list[Measurement]] = {}
    for busy in sorted(set(config.busy_cores) | {0}):
        with BusyCores(busy):
            by_load[busy] = measure_prompts(runners, encoded, busy, progress)
    measurements = by_load.pop(0)
    machine["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    order = [runner.name for runner in runners]
    summaries = {"all": summarize(measurements, order)}
    for prompt_set in config.prompt_sets:
        names = {prompt.name for prompt in prompts if prompt.prompt_set == prompt_set}
        summaries[prompt_set] = summarize([m for m in measurements if m.prompt in names], order)
    under_load = {0: speeds(measurements, order, measurements)}
    for busy, rows in by_load.items():
        summaries[f"{busy} busy cores"] = summarize(rows, order)
        under_load[busy] = speeds(rows, order, measurements)
        measurements += rows
    failures = [
        f"{runner.name} differs from ar on {', '.join(row['mismatched_prompts'])} ({name})"
        for name, summary in summaries.items()
        for runner in runners
        if runner.lossless and not (row := summary[runner.name])["all_match_ar"]
    ]
    info = engine.info
    model = {
        "name": info.model_name,
        "device": info.device,
        "dtype": info.dtype,
        "sat_id": engine.loaded.spec.sat_id,
        "sat_trained": engine.loaded.spec.sat_trained,
        "path": str(engine.loaded.path),
    }
    if "llama.cpp" in " ".join(order):
        from sdsat_lsp.bench.llamacpp import llama_cpp_version

        machine["llama_cpp_python"] = llama_cpp_version()
    runner_rows = [
        {"name": r.name, "family": r.family, "k": r.k, "lossless": r.lossless} for r in runners
    ]
    return DecodeBenchResult(
        config,
        machine,
        model,
        runner_rows,
        skipped,
        measurements,
        summaries,
        failures,
        under_load=under_load if len(under_load) > 1 else {},
    )


def measure_prompts(
    runners: Sequence[Runner],
    encoded: Sequence[tuple[Any, list[int]]],
    busy: int,
    progress: Callable[[str], None],
) -> list[Measurement]:
    """Every runner on every prompt, in rotated order; rows under load say so."""
    rows: list[Measurement] = []
    for index, (prompt, ids) in enumerate(encoded):
        for runner in rotated(runners, index):
            row = runner.run(prompt.name, ids)
            if busy:
                row = dataclasses.replace(row, details={**row.details, "busy_cores": busy})
            rows.append(row)
        ar_row = next(m for m in rows[-len(runners) :] if m.runner == BASELINE)
        load = f", {busy} busy cores" if busy else ""
        progress(
            f"[{index + 1}/{len(encoded)}] {prompt.name}: {len(ids)} prompt tokens, "
            f"ar {ar_row.tokens_per_second:.1f} tok/s{load}"
        )
    return rows


def speeds(
    rows: Sequence[Measurement], order: Sequence[str], idle: Sequence[Measurement]
) -> dict[str, dict[str, float]]:
    """Per runner: median tokens/s over the prompts, and its share of the idle median."""
    result = {}
    for name in order:
        mine = [row.tokens_per_second for row in rows if row.runner == name]
        base = [row.tokens_per_second for row in idle if row.runner == name]
        if mine and base:
            median = statistics.median(mine)
            result[name] = {
                "tokens_per_second_median": round(median, 2),
                "share_of_idle": round(median / statistics.median(base), 3),
            }
    return result


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).name or text).strip("-")


def render_markdown(result: DecodeBenchResult) -> str:
    lossless = {row["name"]: row["lossless"] for row in result.runners}
    model, machine, config = result.model, result.machine, result.config
    parts = [
        f"### {model['name']} on {model['device']} ({model['dtype']}), {machine['date']}",
        "",
        f"{config.prompts} prompts per set ({', '.join(config.prompt_sets)}), "
        f"{config.max_new_tokens} new tokens at most, greedy, {config.warmup} warm-up run(s); "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
        f"torch {machine['torch']}, transformers {machine['transformers']}"
        + (
            f", llama-cpp-python {machine['llama_cpp_python']}"
            if "llama_cpp_python" in machine
            else ""
        )
        + f"; 1-minute load average {machine['load_average'][0]} at the start, "
        + f"{machine.get('load_average_end', ['?'])[0]} at the end.",
        "",
    ]
    for name, summary in result.summaries.items():
        if name != "all" and len(result.config.prompt_sets) == 1:
            continue  # the same rows as "all"
        parts += [f"**{name} prompts**", "", markdown_table(summary, lossless)]
    if any(not flag for flag in lossless.values()):
        parts.append(
            "¹ llama.cpp computes with the Q4_1 weights directly; ours dequantizes them to float, "
            "so near-ties may resolve differently. Not required to match.\n"
        )
    if result.under_load:
        loads = sorted(result.under_load)
        parts += [
            "**Under background load** (tokens/s median, share of the idle speed)",
            "",
            "| runner | " + " | ".join(f"{n} busy cores" for n in loads) + " |",
            "|---|" + "---:|" * len(loads),
        ]
        for name in result.under_load[0]:
            cells = [result.under_load[n].get(name) for n in loads]
            parts.append(
                f"| {name} | "
                + " | ".join(
                    "–"
                    if c is None
                    else f"{c['tokens_per_second_median']:.1f} ({c['share_of_idle']:.0%})"
                    for c in cells
                )
                + " |"
            )
        parts.append("")
    for family, reason in result.skipped.items():
        parts.append(f"- skipped {family}: {reason}")
    if result.failures:
        parts += ["", "**Lossless check failed:** " + "; ".join(result.failures)]
    return "\n".join(parts) + "\n"


def write_outputs(result: DecodeBenchResult) -> dict[str, str]:
    output = result.config.output
    output.mkdir(parents=True, exist_ok=True)
    stem = output / f"decode-{slug(result.model['name'])}-{result.model['device']}"
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    md_path.write_text(render_markdown(result))
    families = {row["name"]: (row["family"], row["k"]) for row in result.runners}
    title = (
        f"{result.model['name']} · {result.model['device']} {result.model['dtype']} · "
        f"{len({m.prompt for m in result.measurements})} prompts · {result.machine['date']}"
    )
    plot_against_k(result.summaries["all"], families, png_path, title)
    result.files = {"json": str(json_path), "markdown": str(md_path), "plot": str(png_path)}
    return result.files
