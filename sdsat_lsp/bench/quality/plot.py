"""The quality figure: first-line EM and ES per strategy with 95 % intervals, per language."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [key for key in summary if key.endswith("/all")]
    metrics = (("exact", "first-line exact match"), ("edit_similarity", "edit similarity"))
    figure, axes = plt.subplots(1, len(metrics), figsize=(12, 4.4), squeeze=False)
    for axis, (metric, title) in zip(axes[0], metrics, strict=True):
        strategies = list(
            dict.fromkeys(s for group in groups for s in summary[group] if s != "points")
        )
        width = 0.8 / max(len(strategies), 1)
        for index, strategy in enumerate(strategies):
            means, lows, highs = [], [], []
            for group in groups:
                empty = {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
                value = summary[group].get(strategy, {}).get(metric, empty)  # not run there
                means.append(value["mean"])
                lows.append(value["mean"] - value["low"])
                highs.append(value["high"] - value["mean"])
            positions = [
                g + (index - (len(strategies) - 1) / 2) * width for g in range(len(groups))
            ]
            axis.bar(positions, means, width, yerr=[lows, highs], capsize=3, label=strategy)
        axis.set_xticks(range(len(groups)))
        axis.set_xticklabels(
            [f"{g.split('/')[0]}\n({summary[g]['points']} points)" for g in groups]
        )
        axis.set_title(title)
        axis.set_ylim(0, 1)
    axes[0][0].legend(fontsize=8, loc="upper left")
    figure.suptitle("SmolLM2-135M, greedy, same budget: prompt strategies (95 % bootstrap CI)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
