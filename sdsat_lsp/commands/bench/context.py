"""`sdsat-lsp bench context`: prompt building on a generated file after incremental edits."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

from sdsat_lsp.bench import RESULTS
from sdsat_lsp.context.bench import bench_prompt_build

# The flags are parameters of bench_prompt_build, which declares their defaults.
FLAGS = ("lines", "edits", "budget_tokens", "open_documents")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parameters = inspect.signature(bench_prompt_build).parameters
    for name in FLAGS:
        default = parameters[name].default
        parser.add_argument(
            "--" + name.replace("_", "-"), type=int, default=default, help=f"default {default}"
        )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")


def run(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in FLAGS}
    rows = [bench_prompt_build(**given, auto_close=close) for close in (True, False)]
    if args.open_documents:
        # The same typing without cross-file definitions: what that piece costs.
        rows.append(bench_prompt_build(**given, auto_close=True, definitions=False))
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "context.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "| edits | auto-close | open documents | definitions | change ms | re-parse ms "
        "| build ms | total ms (p50 / p90) |"
    )
    print("|---:|:---:|---:|:---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['edits']} | {'yes' if row['auto_close'] else 'no'} "
            f"| {row['open_documents']} | {'yes' if row['definitions'] else 'no'} "
            f"| {row['change_ms_median']:.3f} | {row['reparse_ms_median']:.3f} "
            f"| {row['build_ms_median']:.3f} "
            f"| {row['total_ms_median']:.3f} / {row['total_ms_p90']:.3f} |"
        )
    print(json.dumps({"json": str(path)}), file=sys.stderr)
    return 0
