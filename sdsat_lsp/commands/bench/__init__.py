"""`sdsat-lsp bench decode | passes | lsp | context | stop-rules | gpu-shape | quality | soak |
sampling`.

One module each.

Each sub-command prints its markdown table (or JSON) to stdout and writes JSON (plus a plot for
`decode`) under `--output` (default `results/`, ignored by git). Sub-command modules import
their benchmark inside `run`, so `sdsat-lsp bench --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

# name → (module under sdsat_lsp.commands.bench, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "decode": ("decode", "decoding speed: strategies, k, peers"),
    "passes": ("passes", "forward-pass cost per configuration: static, compiled, int8/int4"),
    "lsp": ("lsp", "keystroke-to-ghost-text latency over stdio"),
    "context": ("context", "prompt building on a 10,000-line file"),
    "stop-rules": ("stop_rules", "stop rules on the default model: tokens saved, boundaries"),
    "gpu-shape": ("gpu_shape", "pass cost and equivalence on a 7B-shaped model (CUDA)"),
    "quality": ("quality", "completion quality on held-out code per prompt strategy, HumanEval"),
    "soak": ("soak", "a bounded typing soak: RSS over time, errors, latency percentiles"),
    "sampling": ("sampling", "speculative vs plain sampling: tokens per pass and tokens/s"),
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{BENCHMARKS[name][0]}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name, (_, help_text) in BENCHMARKS.items():
        _module(name).add_arguments(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    return int(_module(args.bench).run(args))
