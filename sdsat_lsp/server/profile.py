"""Latency-log statistics: p50/p90/p99 per numeric field, and outcome rates.

Reads the JSON lines the server writes (`logFile`), or a client log holding the
`sdsat-latency {...}` window/logMessage texts; other lines are skipped. `sdsat-lsp profile`
prints `format_summary(summarize(...))`; the demo and the LSP benchmarks use `percentile`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sdsat_lsp.server.latency import OUTCOMES, parse_line

# Numbers that are identifiers, not measurements.
NOT_MEASURED = frozenset({"request_id", "version", "k"})
PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def read_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [record for line in lines if (record := parse_line(line)) is not None]


def summarize(records: Sequence[dict[str, Any]], outcome: str = "done") -> dict[str, Any]:
    """Outcome counts and rates, and percentiles of each numeric field over `outcome` records."""
    counts = Counter(str(record.get("outcome", "")) for record in records)
    total = len(records)
    chosen = [r for r in records if outcome == "all" or r.get("outcome") == outcome]
    fields: dict[str, list[float]] = {}
    for record in chosen:
        for name, value in record.items():
            if name in NOT_MEASURED or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                fields.setdefault(name, []).append(float(value))
    table = {
        name: {
            "count": len(values),
            **{f"p{q}": round(percentile(values, q), 2) for q in PERCENTILES},
        }
        for name, values in fields.items()
    }
    return {
        "completions": total,
        "outcomes": {name: counts.get(name, 0) for name in OUTCOMES},
        "cancel_rate": round(counts.get("cancelled", 0) / total, 4) if total else 0.0,
        "stale_rate": round(counts.get("stale", 0) / total, 4) if total else 0.0,
        "percentiles_over": outcome,
        "fields": table,
    }


def format_summary(summary: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{name} {count}" for name, count in summary["outcomes"].items())
    lines = [
        f"{summary['completions']} completions: {outcomes}",
        f"cancel rate {summary['cancel_rate']:.1%}, stale rate {summary['stale_rate']:.1%}",
        f"percentiles over outcome={summary['percentiles_over']}",
        "",
        f"{'field':<22} {'n':>6} {'p50':>10} {'p90':>10} {'p99':>10}",
    ]
    for name, row in summary["fields"].items():
        lines.append(
            f"{name:<22} {row['count']:>6} {row['p50']:>10.2f} {row['p90']:>10.2f} "
            f"{row['p99']:>10.2f}"
        )
    return "\n".join(lines)
