"""`sdsat-lsp fetch-model [NAME] [--force] [--gguf FILE]`: download and convert a model once."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import DEFAULT_MODEL
from sdsat_lsp.model.fetch import FetchError, convert_gguf, fetch
from sdsat_lsp.model.registry import RegistryError, find_spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=DEFAULT_MODEL, help="registry name")
    parser.add_argument("--force", action="store_true", help="download and convert again")
    parser.add_argument(
        "--gguf", type=Path, help="convert this local GGUF file instead of downloading"
    )


def run(args: argparse.Namespace) -> int:
    try:
        spec = find_spec(args.name)
    except RegistryError as error:
        raise CommandError(str(error)) from error
    if spec is None:
        raise CommandError(f"unknown model {args.name!r} (see `sdsat-lsp models`)")
    try:
        if args.gguf is not None:
            path = convert_gguf(args.gguf, spec.cache_path())
        else:
            path = fetch(spec, force=args.force)
    except FetchError as error:
        raise CommandError(str(error)) from error
    print(path)
    return 0
