"""`sdsat-lsp bench decode`: every decoder on the same prompts; flags from `DecodeBenchConfig`."""

from __future__ import annotations

import argparse
import json
import sys

from sdsat_lsp.commands.arguments import add_config_flags, config_values
from sdsat_lsp.commands.errors import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdsat_lsp.bench.decode import DecodeBenchConfig

    add_config_flags(parser, DecodeBenchConfig)


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.decode import (
        DecodeBenchConfig,
        render_markdown,
        run_decode_bench,
        write_outputs,
    )
    from sdsat_lsp.bench.prompts import PromptError
    from sdsat_lsp.engine import StrategyError
    from sdsat_lsp.model import ModelLoadError

    config = DecodeBenchConfig(**config_values(args, DecodeBenchConfig))
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
