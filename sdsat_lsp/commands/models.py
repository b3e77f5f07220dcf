"""`sdsat-lsp models [--json]`: the model registry and what is downloaded."""

from __future__ import annotations

import argparse
import dataclasses
import json

from sdsat_lsp.model.registry import load_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the specs as JSON")


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
