"""`sdsat-lsp bench gpu-shape`: a 7B-shaped Llama with random weights on CUDA
(`sdsat_lsp.bench.gpu_shape`): pass cost, equivalence with `ar`, speed, peak memory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sdsat_lsp.commands.errors import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layers", type=int, default=32, help="decoder layers (default 32)")
    parser.add_argument("--prompts", type=int, default=6, help="random prompts (default 6)")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens each (default 48)")
    parser.add_argument("--out", type=Path, help="also write the report (JSON) here")


def run(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available():
        raise CommandError("needs a CUDA GPU")
    from sdsat_lsp.bench.gpu_shape import measure

    def progress(dtype: str, entry: dict[str, Any]) -> None:
        print(json.dumps({dtype: entry}), flush=True)

    report = measure(args.layers, args.prompts, args.tokens, progress)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0
