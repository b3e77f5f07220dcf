"""`sdsat-lsp bench quality`: completion quality on held-out code, per strategy.

Points are cut at run time (points.py) from the sets in the user cache (sets.py, fetched by
`make quality-data`); each point runs through the completion pipeline once per strategy
(strategies.py), greedy, with the same model, budget and token caps; a prompt identical to one
already run for the point reuses its outcome. Scores (metrics.py) are summarised per language,
kind and strategy with bootstrap 95 % intervals, plus paired differences against `prefix` and
`ring`. HumanEval pass@1 (humaneval.py) runs the shipped strategy on the problems' prompts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsat_lsp.bench.quality.config import QualityConfig
from sdsat_lsp.bench.quality.metrics import Score, bootstrap, paired_difference, score
from sdsat_lsp.bench.quality.points import KINDS, Point, SetFiles, cut_points, load_set
from sdsat_lsp.bench.quality.sets import SETS
from sdsat_lsp.bench.quality.strategies import UNALIGNED, strategy_prompt
from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document
from sdsat_lsp.pipeline import CompletionBackend, complete

BASELINES = ("prefix", "ring")
METRICS = (
    "exact",
    "edit_similarity",
    "identifier_precision",
    "identifier_recall",
    "block_end",
    "wasted_tokens",
)


@dataclass(frozen=True)
class Row:
    point: str
    set_name: str
    language: str
    kind: str
    cross_file: bool
    strategy: str
    completion: str
    reference: str
    finish: str
    new_tokens: int
    shown_tokens: int
    prompt_tokens: int
    prompt_ms: float
    generate_ms: float
    reused: bool
    score: Score


def select_points(config: QualityConfig) -> list[Point]:
    """The points of each language: its count split over its sets and the three kinds."""
    per_language: list[list[Point]] = []
    for language in config.languages:
        sets = [code_set for code_set in SETS if code_set.language == language]
        if not sets:
            raise ValueError(f"no quality set for {language!r}")
        total = config.points if language == "python" else config.other_points
        per_kind = math.ceil(total / (len(sets) * len(KINDS)))
        chosen: list[Point] = []
        for code_set in sets:
            chosen += cut_points(set_files(code_set.name), per_kind, config.seed)
        per_language.append(_spread(chosen, total))
    # Languages interleaved too, so a run stopped at its time limit has scored each of them.
    points: list[Point] = []
    for depth in range(max((len(p) for p in per_language), default=0)):
        points += [p[depth] for p in per_language if depth < len(p)]
    return points


def _spread(points: list[Point], count: int) -> list[Point]:
    """`count` of `points`, kinds and sets interleaved so a cut keeps them balanced."""
    groups: dict[tuple[str, str], list[Point]] = {}
    for point in points:
        groups.setdefault((point.kind, point.set_name), []).append(point)
    order: list[Point] = []
    depth = 0
    while len(order) < len(points):
        for key in sorted(groups):
            if depth < len(groups[key]):
                order.append(groups[key][depth])
        depth += 1
    return order[:count]


def run_points(
    backend: CompletionBackend,
    points: Sequence[Point],
    config: QualityConfig,
    settings: Settings,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    rows: list[Row] = []
    for point in points:
        # The set's other files are the open documents (parsed once per set; nothing edits
        # them), the point's file holds the cut text.
        document = Document.create(point.uri, point.language, point.text, 1)
        others = [d for d in set_files(point.set_name).documents if d.uri != point.uri]
        position = document.position_at(point.cursor)
        cap = config.body_tokens if point.kind == "body" else config.line_tokens
        point_settings = dataclasses.replace(settings, max_new_tokens=cap)
        seen: dict[tuple[str, bool], Row] = {}
        for strategy in config.strategies:
            started = time.perf_counter()
            prompt = strategy_prompt(
                strategy, backend, document, position, others, point_settings, point.name
            )
            prompt_ms = (time.perf_counter() - started) * 1000
            # held to the cursor's indentation: only where the lead is a blank line's
            aligned = strategy not in UNALIGNED and "\n" in prompt.stop.lead
            if (prompt.prefix, aligned) in seen:
                row = dataclasses.replace(
                    seen[prompt.prefix, aligned], strategy=strategy, reused=True
                )
            else:
                outcome = complete(
                    backend,
                    document,
                    position,
                    point_settings,
                    prompt=prompt,
                    cursor_indentation=aligned,
                )
                shown = backend.count_tokens(outcome.text) if outcome.text else 0
                row = Row(
                    point=point.name,
                    set_name=point.set_name,
                    language=point.language,
                    kind=point.kind,
                    cross_file=point.cross_file,
                    strategy=strategy,
                    completion=outcome.text,
                    reference=point.reference,
                    finish=outcome.finish_reason,
                    new_tokens=outcome.new_tokens,
                    shown_tokens=shown,
                    prompt_tokens=backend.count_tokens(prompt.prefix),
                    prompt_ms=prompt_ms,
                    generate_ms=outcome.generate_ms,
                    reused=False,
                    score=score(
                        outcome.text,
                        point.reference,
                        multi_line=point.kind == "body",
                        stopped=outcome.finish_reason in ("stop", "eos"),
                        new_tokens=outcome.new_tokens,
                        shown_tokens=shown,
                    ),
                )
                seen[prompt.prefix, aligned] = row
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


_SET_FILES: dict[str, SetFiles] = {}


def set_files(name: str) -> SetFiles:
    """A set's files as documents, loaded and parsed once per process."""
    if name not in _SET_FILES:
        _SET_FILES[name] = load_set(next(s for s in SETS if s.name == name))
    return _SET_FILES[name]


# -- summary --------------------------------------------------------------------------------


def _values(rows: Sequence[Row], metric: str) -> list[float]:
    values = [getattr(row.score, metric) for row in rows]
    return [float(v) for v in values if v is not None]


def summarise(rows: Sequence[Row], seed: int = 0) -> dict[str, Any]:
    """Per language × kind (and `all` kinds, and cross-file points) × strategy: each metric's
    mean with its interval; paired EM and ES differences of every strategy against the
    baselines over the same points."""
    summary: dict[str, Any] = {}
    strategies = list(dict.fromkeys(row.strategy for row in rows))
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.language, row.kind), []).append(row)
        groups.setdefault((row.language, "all"), []).append(row)
        if row.cross_file:
            groups.setdefault((row.language, "cross_file"), []).append(row)
    for (language, kind), group in sorted(groups.items()):
        by_strategy = {
            s: sorted((r for r in group if r.strategy == s), key=lambda r: r.point)
            for s in strategies
        }
        entry: dict[str, Any] = {"points": len(by_strategy[strategies[0]])}
        for strategy, chosen in by_strategy.items():
            entry[strategy] = {
                metric: bootstrap(_values(chosen, metric), seed).to_dict() for metric in METRICS
            }
            entry[strategy]["generated_tokens"] = sum(r.new_tokens for r in chosen)
        for baseline in BASELINES:
            if baseline not in by_strategy:
                continue
            for strategy, chosen in by_strategy.items():
                if strategy == baseline:
                    continue
                base = by_strategy[baseline]
                entry[strategy][f"vs_{baseline}"] = {
                    metric: paired_difference(
                        [getattr(r.score, metric) for r in chosen],
                        [getattr(r.score, metric) for r in base],
                        seed,
                    ).to_dict()
                    for metric in ("exact", "edit_similarity")
                }
        summary[f"{language}/{kind}"] = entry
    return summary


def table(summary: dict[str, Any]) -> str:
    """Markdown: EM and ES with intervals per group and strategy, identifiers, block end,
    wasted tokens."""
    lines = [
        "| language / kind | points | strategy | first-line EM [95 % CI] | ES [95 % CI] "
        "| ident. P / R | block end | wasted tok/pt |",
        "|---|---:|---|---|---|---|---:|---:|",
    ]

    def cell(value: dict[str, float]) -> str:
        return f"{value['mean']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"

    for group, entry in summary.items():
        for strategy, metrics in entry.items():
            if strategy == "points":
                continue
            block = metrics["block_end"]
            block_cell = f"{block['mean']:.2f}" if block["n"] else ""
            lines.append(
                f"| {group} | {entry['points']} | {strategy} | {cell(metrics['exact'])} "
                f"| {cell(metrics['edit_similarity'])} "
                f"| {metrics['identifier_precision']['mean']:.2f} / "
                f"{metrics['identifier_recall']['mean']:.2f} "
                f"| {block_cell} "
                f"| {metrics['wasted_tokens']['mean']:.1f} |"
            )
    return "\n".join(lines)


def row_from_dict(data: dict[str, Any]) -> Row:
    return Row(**{**data, "score": Score(**data["score"])})


def complete_points(rows: Sequence[Row], strategies: Sequence[str]) -> list[Row]:
    """The rows of the points every strategy ran on (a run stopped early leaves a last
    point part-done)."""
    done: dict[str, set[str]] = {}
    for row in rows:
        done.setdefault(row.point, set()).add(row.strategy)
    wanted = set(strategies)
    return [row for row in rows if done[row.point] >= wanted]


def write_report(
    path: Path, rows: Sequence[Row], summary: dict[str, Any], meta: dict[str, Any]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "meta": meta,
                "summary": summary,
                "rows": [dataclasses.asdict(row) for row in rows],
            },
            indent=1,
        )
    )
