"""`sdsat-lsp models [--json]`: the model registry and what is downloaded (and whole)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.model.integrity import model_damage, repair_command
from sdsat_lsp.model.registry import ModelSpec, RegistryError, load_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the specs as JSON")


def local_state(spec: ModelSpec) -> str:
    """ready, not downloaded, or what is damaged and the command that repairs it."""
    where = spec.cache_path()
    if not where.exists():
        return "not downloaded"
    damage = model_damage(where)
    return "ready" if damage is None else damage.describe(repair_command(damage, spec))


def run(args: argparse.Namespace) -> int:
    try:
        specs = load_registry()
    except RegistryError as error:
        raise CommandError(str(error)) from error
    if args.json:
        print(json.dumps({n: dataclasses.asdict(s) for n, s in specs.items()}, indent=2))
        return 0
    for spec in specs.values():
        state = local_state(spec)
        where = "" if state.startswith("damaged") else f": {spec.cache_path()}"  # named already
        print(f"{spec.name:<22} {spec.description}  [{state}{where}]")
    return 0
