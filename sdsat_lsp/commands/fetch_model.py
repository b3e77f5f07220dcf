"""`sdsat-lsp fetch-model [NAME] [--force] [--gguf FILE] [--remeasure]`: download and convert a
model once, then prepare what the default settings would otherwise do at the server's first
start: compile the forward passes (a GPU, or the registry's `cpu_compile`) and time the weight
formats on this CPU (the registry's `cpu_quantize = "measure"`), with progress. Both are saved,
so every later start of the server only loads them (`--no-prepare` skips this; `--remeasure`
forgets this CPU's timings first, e.g. when they were taken on a busy machine)."""

from __future__ import annotations

import argparse
import sys
import time
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
    parser.add_argument(
        "--no-prepare", action="store_true", help="do not compile the forward passes now"
    )
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="time the weight formats on this CPU again (a quiet machine gives the right answer)",
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
    if args.remeasure:
        from sdsat_lsp.engine.forward.host_choice import forget_choices

        for removed in forget_choices(spec.name):
            print(f"fetch-model: forgot {removed}", file=sys.stderr)
    if not args.no_prepare and default_settings_prepare(spec.cpu_compile, spec.cpu_quantize):
        prepare_passes(spec.name)
    print(path)
    return 0


def default_settings_prepare(cpu_compile: bool, cpu_quantize: str) -> bool:
    """Whether the default settings do work at load (engine/forward/select.py): compile on a
    GPU or where the registry says compiling pays on CPU, or time the weight formats on this
    CPU. Otherwise nothing is worth loading the model for."""
    import torch

    return cpu_compile or cpu_quantize == "measure" or torch.cuda.is_available()


def prepare_passes(name: str) -> None:
    """Load the model as the server would by default; compiling passes are compiled now."""
    from sdsat_lsp.config import Settings
    from sdsat_lsp.engine import Engine

    def progress(message: str) -> None:
        print(f"fetch-model: {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    engine = Engine.load(Settings(model=name), progress=progress)
    seconds = time.perf_counter() - started
    progress(f"forward passes ready in {seconds:.1f} s: {engine.info.forward}")
