"""`sdsat-lsp` command line: a table of sub-commands, each owned by the package that does the work.

Each entry names a module (or `module:Object`) with `add_arguments(parser)` and
`run(args) -> int`. Modules are imported only when their command runs, so `sdsat-lsp --help`
and the context-only commands start without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "complete": ("sdsat_lsp.engine.commands", "stream a completion at FILE:LINE:COLUMN"),
    "fetch-model": (
        "sdsat_lsp.models_cli:FetchModel",
        "fetch the embedded default model (once, offline after)",
    ),
    "models": ("sdsat_lsp.models_cli:ListModels", "list the model registry"),
    "prompt": ("sdsat_lsp.prompt_command", "show the prompt pieces and shape at a position"),
    "serve": ("sdsat_lsp.server.commands", "run the language server (stdio or --tcp)"),
    "demo": ("sdsat_lsp.server.demo", "replay typing against the real server; print ghost text"),
    "profile": ("sdsat_lsp.server.profile", "p50/p90/p99 tables from a latency log"),
    "settings": ("sdsat_lsp.config_commands", "print the settings schema"),
    "train": ("sdsat_lsp.training.commands", "SDSAT fine-tuning"),
    "bench": ("sdsat_lsp.bench.commands", "decoding, context and LSP latency benchmarks"),
}


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2, no traceback."""


def load_command(target: str) -> Any:
    """`package.module` or `package.module:Object`; the target has add_arguments and run."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdsat-lsp", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module is imported
            load_command(module_name).add_arguments(command_parser)
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
    module = load_command(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except CommandError as error:
        print(f"sdsat-lsp {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
