"""`sdsat-lsp` command line: a table of sub-commands, one module each under `sdsat_lsp.commands`.

Each module has `add_arguments(parser)` and `run(args) -> int`. Modules are imported only when
their command runs, so `sdsat-lsp --help` and the context-only commands start without
importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from sdsat_lsp.commands.errors import CommandError

# name → (module under sdsat_lsp.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "complete": ("complete", "stream a completion at FILE:LINE:COLUMN"),
    "fetch-model": ("fetch_model", "fetch the embedded default model (once, offline after)"),
    "models": ("models", "list the model registry"),
    "doctor": ("doctor", "check the installation: Python, torch, GPU, models, grammars, cache"),
    "prompt": ("prompt", "show the prompt pieces and shape at a position"),
    "serve": ("serve", "run the language server (stdio or --tcp)"),
    "demo": ("demo", "replay typing against the real server; print ghost text"),
    "profile": ("profile", "p50/p90/p99 tables from a latency log"),
    "settings": ("settings", "print the settings schema"),
    "train": ("train", "SDSAT fine-tuning, evaluation and export"),
    "bench": ("bench", "decoding, context, stop-rule and LSP latency benchmarks"),
}


def load_command(name: str) -> Any:
    """The module of sub-command `name` (it has add_arguments and run)."""
    return importlib.import_module(f"sdsat_lsp.commands.{COMMANDS[name][0]}")


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdsat-lsp", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module is imported
            load_command(name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:  # pygls logs every message body (document text included) at INFO
        logging.getLogger("pygls").setLevel(logging.WARNING)
    module = load_command(args.command)
    try:
        return int(module.run(args) or 0)
    except CommandError as error:
        print(f"sdsat-lsp {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
