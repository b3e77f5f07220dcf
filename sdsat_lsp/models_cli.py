"""`sdsat-lsp models` and `sdsat-lsp fetch-model`: the model package's command-line faces.

Kept out of `sdsat_lsp/model/`, which the server imports: library code there never prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from sdsat_lsp.cli import CommandError
from sdsat_lsp.model.fetch import FetchError, convert_gguf, fetch
from sdsat_lsp.model.registry import find_spec, load_registry


class ListModels:
    """`sdsat-lsp models [--json]`."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the specs as JSON")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        specs = load_registry()
        if args.json:
            print(json.dumps({n: dataclasses.asdict(s) for n, s in specs.items()}, indent=2))
            return 0
        for spec in specs.values():
            where = spec.cache_path()
            state = "ready" if where.exists() else "not downloaded"
            print(f"{spec.name:<22} {spec.description}  [{state}: {where}]")
        return 0


class FetchModel:
    """`sdsat-lsp fetch-model [NAME] [--force] [--gguf FILE]`."""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", default="smollm2-135m", help="registry name")
        parser.add_argument("--force", action="store_true", help="download and convert again")
        parser.add_argument(
            "--gguf", type=Path, help="convert this local GGUF file instead of downloading"
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        spec = find_spec(args.name)
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
