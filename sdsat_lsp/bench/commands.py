"""`sdsat-lsp bench decode | lsp | context`: flags, then the benchmark, then where results went.

Each sub-command prints its markdown table to stdout and writes JSON (plus a plot for
`decode`) under `--output` (default `results/`, ignored by git). Heavy imports happen inside
`run`, so `sdsat-lsp bench --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from sdsat_lsp.bench.prompts import PROMPT_SETS
from sdsat_lsp.config import Strategy


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in _csv(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("k values must be positive integers")
    return values


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m", help="registry name or model path")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"]
    )
    parser.add_argument("--output", type=Path, default=Path("results"), help="results folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdsat_lsp.bench.decode import ALL_RUNNERS

    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    decode = sub.add_parser("decode", help="decoding speed: strategies, k, peers")
    _add_model_flags(decode)
    decode.add_argument("--prompts", type=int, default=20, help="prompts per set (default 20)")
    decode.add_argument(
        "--prompt-sets",
        type=_csv,
        default=PROMPT_SETS,
        help=f"comma-separated, of {', '.join(PROMPT_SETS)} (default: both)",
    )
    decode.add_argument("--max-new-tokens", type=int, default=64)
    decode.add_argument("--warmup", type=int, default=1, help="untimed runs per runner first")
    decode.add_argument(
        "--strategies",
        type=_csv,
        default=ALL_RUNNERS,
        help=f"comma-separated, of {', '.join(ALL_RUNNERS)}; ar always runs; 'lookup:2:4' "
        "gives one strategy its own k values (default: all)",
    )
    decode.add_argument("--k-values", type=_ints, default=(2, 4, 8), help="default 2,4,8")
    decode.add_argument(
        "--sat-token-id", type=int, default=-1, help="SAT id for a model without one"
    )
    decode.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")

    lsp = sub.add_parser("lsp", help="keystroke-to-ghost-text latency over stdio")
    _add_model_flags(lsp)
    lsp.add_argument(
        "--session",
        type=Path,
        action="append",
        help="recorded typing session JSON (repeatable; default: the bundled one)",
    )
    lsp.add_argument("--strategy", default="auto", choices=list(get_args(Strategy)))
    lsp.add_argument("--k", type=int, default=0, help="drafts per round (0: recommended)")
    lsp.add_argument("--max-new-tokens", type=int, default=32)
    lsp.add_argument(
        "--debounce-ms",
        type=float,
        default=None,
        help="client-side wait after a keystroke before requesting (default: the setting's)",
    )
    lsp.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply recorded gaps (0.5: 2× faster)"
    )
    lsp.add_argument(
        "--record",
        type=Path,
        metavar="SOURCE",
        help="instead of replaying: record a session typed over SOURCE lines --lines",
    )
    lsp.add_argument("--lines", default="", help="START:END lines to type with --record")
    lsp.add_argument(
        "--back-to-back",
        type=int,
        metavar="N",
        help="instead of replaying: the server package's bench (sdsat_lsp.server.bench): N "
        "keystrokes, each sent once the previous request streamed its first delta",
    )

    context = sub.add_parser("context", help="prompt building on a 10,000-line file")
    context.add_argument("--lines", type=int, default=10_000)
    context.add_argument("--edits", type=int, default=200)
    context.add_argument("--budget-tokens", type=int, default=1024)
    context.add_argument("--output", type=Path, default=Path("results"), help="results folder")


def run(args: argparse.Namespace) -> int:
    if args.bench == "decode":
        return run_decode(args)
    if args.bench == "lsp":
        from sdsat_lsp.bench.lsp import run_lsp_command

        return run_lsp_command(args)
    return run_context(args)


def run_decode(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.decode import (
        DecodeBenchConfig,
        render_markdown,
        run_decode_bench,
        write_outputs,
    )
    from sdsat_lsp.bench.prompts import PromptError
    from sdsat_lsp.cli import CommandError
    from sdsat_lsp.engine import StrategyError
    from sdsat_lsp.model import ModelLoadError

    config = DecodeBenchConfig(
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        prompts=args.prompts,
        prompt_sets=args.prompt_sets,
        max_new_tokens=args.max_new_tokens,
        warmup=args.warmup,
        strategies=args.strategies,
        k_values=args.k_values,
        sat_token_id=args.sat_token_id,
        threads=args.threads,
        output=args.output,
    )
    try:
        result = run_decode_bench(config, progress=lambda text: print(text, file=sys.stderr))
    except (ModelLoadError, StrategyError, PromptError) as error:
        raise CommandError(str(error)) from error
    files = write_outputs(result)
    print(render_markdown(result))
    print(json.dumps(files), file=sys.stderr)
    if result.failures:
        print("lossless check failed: " + "; ".join(result.failures), file=sys.stderr)
        return 1
    return 0


def run_context(args: argparse.Namespace) -> int:
    from sdsat_lsp.context.bench import bench_prompt_build

    rows = [
        bench_prompt_build(
            lines=args.lines, edits=args.edits, budget_tokens=args.budget_tokens, auto_close=close
        )
        for close in (True, False)
    ]
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "context.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print("| edits | auto-close | change ms | re-parse ms | build ms | total ms (p50 / p90) |")
    print("|---:|:---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['edits']} | {'yes' if row['auto_close'] else 'no'} "
            f"| {row['change_ms_median']:.3f} | {row['reparse_ms_median']:.3f} "
            f"| {row['build_ms_median']:.3f} "
            f"| {row['total_ms_median']:.3f} / {row['total_ms_p90']:.3f} |"
        )
    print(json.dumps({"json": str(path)}), file=sys.stderr)
    return 0
