"""Turn per-prompt measurements into summaries, a markdown table and a plot.

Speed-ups are pairwise: for each prompt, a runner's tokens/s over `ar`'s tokens/s on the same
prompt in the same run, then the median and interquartile range over prompts. That cancels
most of the drift of a shared machine, which hits all runners of one prompt alike. Knows
nothing of models or runners: it reads `Measurement` rows.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdsat_lsp.bench.measure import Measurement

BASELINE = "ar"


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


def summarize_runner(
    rows: Sequence[Measurement], baseline: dict[str, Measurement]
) -> dict[str, Any]:
    """One runner's rows (one per prompt) against the baseline's rows by prompt."""
    speedups = [
        row.tokens_per_second / baseline[row.prompt].tokens_per_second
        for row in rows
        if row.prompt in baseline and baseline[row.prompt].tokens_per_second > 0
    ]
    mismatched = [
        row.prompt
        for row in rows
        if row.prompt in baseline and row.tokens != baseline[row.prompt].tokens
    ]
    accepted = [row.accepted_per_round for row in rows if row.accepted_per_round is not None]
    firsts = [row.first_token_ms for row in rows if row.first_token_ms is not None]
    peaks = [row.peak_memory_mib for row in rows if row.peak_memory_mib is not None]
    extras = [row.extra_memory_mib for row in rows if row.extra_memory_mib is not None]
    tokens = sum(row.new_tokens for row in rows)
    passes = sum(row.forward_passes for row in rows)
    seconds = sum(row.total_ms for row in rows) / 1000
    return {
        "prompts": len(rows),
        "new_tokens": tokens,
        "tokens_per_second_median": _rounded(
            statistics.median(row.tokens_per_second for row in rows) if rows else math.nan, 2
        ),
        "tokens_per_second_overall": _rounded(tokens / seconds if seconds else math.nan, 2),
        "speedup_median": _rounded(quantile(speedups, 0.5)),
        "speedup_q1": _rounded(quantile(speedups, 0.25)),
        "speedup_q3": _rounded(quantile(speedups, 0.75)),
        "accepted_per_round_mean": _rounded(statistics.fmean(accepted) if accepted else None),
        "tokens_per_pass": _rounded(tokens / passes if passes else None),
        "first_token_ms_median": _rounded(quantile(firsts, 0.5), 1),
        "peak_memory_mib": _rounded(max(peaks) if peaks else None, 1),
        "extra_memory_mib": _rounded(max(extras) if extras else None, 1),
        "matches_ar": len(rows) - len(mismatched),
        "mismatched_prompts": mismatched,
        "all_match_ar": not mismatched,
    }


def summarize(
    measurements: Sequence[Measurement], runner_order: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per runner, in `runner_order`; runners without rows are left out."""
    baseline = {row.prompt: row for row in measurements if row.runner == BASELINE}
    summary: dict[str, dict[str, Any]] = {}
    for name in runner_order:
        rows = [row for row in measurements if row.runner == name]
        if rows:
            summary[name] = summarize_runner(rows, baseline)
    return summary


def _cell(value: Any, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def markdown_table(summary: dict[str, dict[str, Any]], lossless: dict[str, bool]) -> str:
    """A GitHub table; `= ar` says yes/no, with the count where not all prompts matched."""
    header = (
        "| runner | tokens/s (median) | speed-up vs ar: median [IQR] | accepted/round "
        "| tokens/pass | first token ms (median) | peak RSS MiB (+during run) | = ar |\n"
        "|---|---:|---:|---:|---:|---:|---:|:---:|\n"
    )
    lines = []
    for name, row in summary.items():
        speedup = (
            f"{row['speedup_median']:.2f}× [{row['speedup_q1']:.2f}–{row['speedup_q3']:.2f}]"
            if row["speedup_median"] is not None
            else "–"
        )
        memory = _cell(row["peak_memory_mib"], "{:.0f}")
        if row["extra_memory_mib"] is not None:
            memory += f" (+{row['extra_memory_mib']:.0f})"
        if row["all_match_ar"]:
            same = "yes"
        else:
            same = f"no ({row['matches_ar']}/{row['prompts']})"
            if not lossless.get(name, True):
                same += "¹"
        lines.append(
            f"| {name} | {_cell(row['tokens_per_second_median'], '{:.1f}')} | {speedup} "
            f"| {_cell(row['accepted_per_round_mean'])} | {_cell(row['tokens_per_pass'])} "
            f"| {_cell(row['first_token_ms_median'], '{:.0f}')} | {memory} | {same} |"
        )
    return header + "\n".join(lines) + "\n"


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "command": " ".join(["sdsat-lsp", *sys.argv[1:]]),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def plot_against_k(
    summary: dict[str, dict[str, Any]],
    families: dict[str, tuple[str, int]],
    path: Path,
    title: str,
) -> Path:
    """Speed-up (median, IQR bars) and tokens/pass against k, one line per family.

    `families` maps runner name → (family, k); runners with k=0 are drawn as horizontal lines.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    lines: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    flat: dict[str, dict[str, Any]] = {}
    for name, row in summary.items():
        family, k = families[name]
        if k:
            lines.setdefault(family, []).append((k, row))
        else:
            flat[name] = row
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (family, points) in enumerate(sorted(lines.items())):
        points.sort(key=lambda item: item[0])
        ks = [k for k, _ in points]
        medians = [row["speedup_median"] or math.nan for _, row in points]
        low = [m - (row["speedup_q1"] or m) for m, (_, row) in zip(medians, points, strict=True)]
        high = [(row["speedup_q3"] or m) - m for m, (_, row) in zip(medians, points, strict=True)]
        color = colors[index % len(colors)]
        left.errorbar(ks, medians, yerr=[low, high], marker="o", capsize=3, label=family, c=color)
        per_pass = [row["tokens_per_pass"] or math.nan for _, row in points]
        right.plot(ks, per_pass, marker="o", label=family, c=color)
    for index, (name, row) in enumerate(sorted(flat.items())):
        style = {"ls": "--" if name != BASELINE else "-", "lw": 1, "c": f"C{index + 5}"}
        if row["speedup_median"] is not None:
            left.axhline(row["speedup_median"], label=name, **style)
        if row["tokens_per_pass"] is not None:
            right.axhline(row["tokens_per_pass"], label=name, **style)
    left.set(xlabel="k (drafts per round)", ylabel="speed-up over ar (tokens/s, median)")
    right.set(xlabel="k (drafts per round)", ylabel="tokens per forward pass")
    from matplotlib.ticker import MaxNLocator

    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
