"""`sdsat-lsp bench soak`: typing against the real server, RSS and latency over time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sdsat_lsp.bench import RESULTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keystrokes", type=int, default=6000, help="default 6000")
    parser.add_argument("--model", default=None, help="registry name or path (default: default)")
    parser.add_argument("--max-new-tokens", type=int, default=24, help="default 24")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.soak import soak

    server = ["--max-new-tokens", str(args.max_new_tokens)]
    if args.model:
        server += ["--model", args.model]
    report = soak(server, keystrokes=args.keystrokes)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "soak.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print("| keystrokes | RSS growth, last half | errors | late results | p50 / p90 / p99 ms |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {report['keystrokes']} | {report['rss_growth_last_half_mb']} MB "
        f"| {report['error']} | {report['late_result']} "
        f"| {report['latency_ms_p50']} / {report['latency_ms_p90']} / {report['latency_ms_p99']} |"
    )
    print(json.dumps({"json": str(path)}), file=sys.stderr)
    return 0 if report["error"] == 0 else 1
