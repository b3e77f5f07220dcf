"""`sdsat-lsp bench quality`: completion quality on held-out code per prompt strategy
(`sdsat_lsp.bench.quality`): first-line EM, edit similarity, identifiers, block ends, wasted
tokens with bootstrap intervals, and HumanEval pass@1."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from sdsat_lsp.commands.arguments import add_config_flags, config_values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdsat_lsp.bench.quality.config import QualityConfig

    add_config_flags(parser, QualityConfig)
    parser.add_argument("--out", type=Path, default=Path("results/quality.json"))
    parser.add_argument("--plot", type=Path, help="also draw EM and ES per strategy (PNG)")
    parser.add_argument(
        "--from-rows",
        type=Path,
        help="summarise the rows a run appended to OUT.rows.jsonl (one stopped early too): "
        "no model, no generation",
    )
    parser.add_argument(
        "--record-baseline",
        type=Path,
        help="write each strategy's Python first-line EM here (the CI test's floor)",
    )


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.quality.config import QualityConfig
    from sdsat_lsp.bench.quality.humaneval import pass_at_1
    from sdsat_lsp.bench.quality.run import (
        complete_points,
        row_from_dict,
        run_points,
        select_points,
    )
    from sdsat_lsp.bench.quality.sets import SETS, QualityDataMissing
    from sdsat_lsp.config import Settings
    from sdsat_lsp.engine import Engine

    config = QualityConfig(**config_values(args, QualityConfig))
    rows_path = args.out.with_suffix(".rows.jsonl")
    if args.from_rows:
        rows = complete_points(
            [row_from_dict(json.loads(line)) for line in args.from_rows.read_text().splitlines()],
            config.strategies,
        )
        return _report(
            args,
            config,
            rows,
            {"config": dataclasses.asdict(config), "rows_from": str(args.from_rows)},
        )
    try:
        points = select_points(config)
    except QualityDataMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = Settings(device="cpu", context_tokens=config.context_tokens)
    engine = Engine.load(settings)
    print(
        f"{len(points)} points x {len(config.strategies)} strategies on {engine.info.model_name} "
        f"({engine.info.strategy}, {engine.info.device})",
        file=sys.stderr,
        flush=True,
    )

    rows_path.parent.mkdir(parents=True, exist_ok=True)
    rows_path.write_text("")

    def progress(row: Any) -> None:
        with rows_path.open("a") as out:
            out.write(json.dumps(dataclasses.asdict(row)) + "\n")
        print(
            json.dumps(
                {
                    "point": row.point,
                    "strategy": row.strategy,
                    "em": row.score.exact,
                    "es": round(row.score.edit_similarity, 3),
                    "tokens": row.new_tokens,
                    "completion": row.completion[:80],
                }
            ),
            file=sys.stderr,
            flush=True,
        )

    rows = run_points(engine, points, config, settings, progress)
    meta: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "model": engine.info.model_name,
        "decoding": engine.info.strategy,
        # The weight format (fp32, int4 …) is chosen per machine: it shapes the completions.
        "forward": getattr(engine.info, "forward", ""),
        "sets": {s.name: f"{s.spec} ({s.licence})" for s in SETS},
    }
    if config.humaneval:
        he_settings = dataclasses.replace(settings, max_new_tokens=128)
        results = pass_at_1(engine, he_settings, config.humaneval)
        passed = sum(result.passed for result in results)
        meta["humaneval"] = {
            "problems": len(results),
            "passed": passed,
            "pass_at_1": passed / len(results) if results else 0.0,
            "max_new_tokens": 128,
            "failed": [r.task_id for r in results if not r.passed],
        }
    return _report(args, config, rows, meta)


def _report(args: argparse.Namespace, config: Any, rows: list[Any], meta: dict[str, Any]) -> int:
    from sdsat_lsp.bench.quality.run import summarise, table, write_report

    summary = summarise(rows, config.seed)
    meta["points_scored"] = len({row.point for row in rows})
    write_report(args.out, rows, summary, meta)
    print(table(summary))
    if "humaneval" in meta:
        he = meta["humaneval"]
        print(f"\nHumanEval pass@1: {he['passed']}/{he['problems']} = {he['pass_at_1']:.3f}")
    if args.plot:
        from sdsat_lsp.bench.quality.plot import plot

        plot(summary, args.plot)
    if args.record_baseline:
        python = summary.get("python/all", {})
        baseline = {
            "points": config.points,
            "context_tokens": config.context_tokens,
            "seed": config.seed,
            "exact": {
                strategy: round(python[strategy]["exact"]["mean"], 4)
                for strategy in config.strategies
                if strategy in python
            },
        }
        args.record_baseline.write_text(json.dumps(baseline, indent=2) + "\n")
    return 0
