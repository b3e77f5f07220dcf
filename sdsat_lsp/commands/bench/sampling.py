"""`sdsat-lsp bench sampling`: speculative sampling vs plain sampling (sdsat_lsp.bench.sampling)
on the default model (or --model): tokens per pass and tokens/s per strategy and temperature."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sdsat_lsp.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--prompts", type=int, default=4, help="HumanEval prompts")
    parser.add_argument("--strategies", default="ar,lookup,sdsat,sdsat-tree")
    parser.add_argument("--temperatures", default="0,0.2,0.8")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    # off: every row on eager passes, as sampling passes always are
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="off")
    parser.add_argument(
        "--alternatives",
        type=int,
        default=0,
        help="instead: time N samples per prompt batched against one after the other",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.prompts import humaneval_prompts
    from sdsat_lsp.bench.sampling import alternatives_table, measure, measure_alternatives, table
    from sdsat_lsp.engine import Engine

    settings = Settings(model=args.model, compile=args.compile)
    engine = Engine.load(settings, progress=lambda line: print(line, file=sys.stderr))
    print(f"engine: {engine.info.forward}", file=sys.stderr)
    prompts = [prompt.prefix for prompt in humaneval_prompts(args.prompts)]
    if args.alternatives > 1:
        batched = measure_alternatives(
            engine,
            prompts,
            args.alternatives,
            [float(t) for t in args.temperatures.split(",")],
            args.max_new_tokens,
            seed=args.seed,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        print(alternatives_table(batched))
        if args.json:
            args.json.write_text(json.dumps([row.to_dict() for row in batched], indent=2))
        return 0
    rows = measure(
        engine,
        prompts,
        args.strategies.split(","),
        [float(t) for t in args.temperatures.split(",")],
        args.k,
        args.max_new_tokens,
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([row.to_dict() for row in rows], indent=2))
    return 0
