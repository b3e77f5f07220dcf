"""`sdsat-lsp bench passes`: forward-pass cost per configuration (`sdsat_lsp.bench.passes`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sdsat_lsp.config import DEFAULT_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdsat_lsp.bench.passes import CONFIGS

    parser.add_argument("--model", default=DEFAULT_MODEL, help="registry name or path")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, the first is the reference (default: {','.join(CONFIGS)})",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads (default 2; 0: the engine's auto)"
    )
    parser.add_argument("--k", type=int, default=4, help="drafts: passes of 1+k and (1+k)² rows")
    parser.add_argument("--tokens", type=int, default=64, help="ar tokens generated (default 64)")
    parser.add_argument("--repeats", type=int, default=15, help="timed passes per shape")
    parser.add_argument(
        "--points", type=int, default=0, help="held-out next-line points scored per config"
    )
    parser.add_argument("--source", type=Path, help="prompt text file (default: a module here)")
    parser.add_argument("--out", type=Path, help="also write the report (JSON) here")


def run(args: argparse.Namespace) -> int:
    import torch

    from sdsat_lsp.bench.passes import measure_passes
    from sdsat_lsp.bench.prompts import next_line_points
    from sdsat_lsp.model import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    source = args.source or Path(__file__).resolve().parents[2] / "engine" / "decoding.py"
    prompt = loaded.tokenizer.encode(source.read_text()[:1200], add_special_tokens=False)

    def progress(name: str, entry: dict[str, Any]) -> None:
        shown = {key: value for key, value in entry.items() if key != "first_lines"}
        print(json.dumps({name: shown}), flush=True)

    report = measure_passes(
        loaded,
        prompt,
        configs=args.configs.split(","),
        k=args.k,
        new_tokens=args.tokens,
        repeats=args.repeats,
        progress=progress,
        points=next_line_points(args.points) if args.points else None,
        threads=args.threads,
    )
    print(
        "| configuration | prepare s | pass 1 ms | pass 1+k ms | tree ms | prefill ms "
        "| ar tok/s | × first | agrees for |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, e in report.items():
        passes = [v for key, v in e.items() if key.startswith("pass_")]
        print(
            f"| {name} | {e['prepare_s']} | {passes[0]} | {passes[1]} | {passes[2]} | "
            f"{e['prefill_ms']:.0f} | {e['ar_tokens_per_s']:.1f} | {e['ar_speed_ratio']} | "
            f"{e['agrees_with_first_for_tokens']} |"
        )
    if args.points:
        print()
        print("| configuration | next-line EM | same line as first | tokens agreed (median) |")
        print("|---|---:|---:|---:|")
        for name, e in report.items():
            print(
                f"| {name} | {e['next_line_exact_match']:.1%} | {e['same_line_as_first']:.1%} "
                f"| {e['tokens_agreed_with_first_median']} |"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0
