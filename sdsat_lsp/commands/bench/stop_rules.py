"""`sdsat-lsp bench stop-rules`: the stop rules on the default model, over completion points cut
from real code (`sdsat_lsp.bench.stop_rules`): tokens saved, completions ending at a boundary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from sdsat_lsp.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    parser.add_argument("--per-kind", type=int, default=1, help="points per kind and file")
    parser.add_argument(
        "--context-tokens",
        type=int,
        default=defaults.context_tokens,
        help="prompt budget (prefill time on CPU)",
    )
    parser.add_argument("--limit", type=int, default=0, help="N points, evenly spaced")
    parser.add_argument("--json", type=Path, help="also write outcomes and summary here")


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.stop_rules import SOURCES, evaluate, points_in, summary, table

    points = [point for path in SOURCES for point in points_in(path, args.per_kind)]
    if 0 < args.limit < len(points):
        points = [points[index * len(points) // args.limit] for index in range(args.limit)]
    outcomes = evaluate(
        points,
        args.max_new_tokens,
        args.context_tokens,
        progress=lambda outcome: print(
            json.dumps(dataclasses.asdict(outcome)), file=sys.stderr, flush=True
        ),
    )
    result = summary(outcomes)
    print(table(outcomes))
    print()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": result, "outcomes": [dataclasses.asdict(o) for o in outcomes]})
        )
    return 0
