"""`sdsat-lsp complete FILE --line N --column M`: stream one completion to stdout, then stats.

The completion pipeline the server runs (`sdsat_lsp.pipeline.complete`: tree-sitter prompt,
generation with stop rules, the text an editor would show); `--json` prints one object
`{"text": ..., "stats": {...}}` instead. With `--backend openai --backend-url URL` the completion
comes from that engine (docs/remote.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from sdsat_lsp.commands.arguments import (
    add_position_arguments,
    add_setting_flags,
    read_source,
    settings_from_args,
)
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import Settings
from sdsat_lsp.pipeline import CompletionBackend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_position_arguments(parser)
    parser.add_argument(
        "--fim-template",
        choices=["auto", "none", "psm", "spm"],
        help="FIM layout for unknown models (auto: detect FIM tokens in the tokenizer)",
    )
    parser.add_argument("--no-stop-rules", action="store_true", help="generate to the limit")
    add_setting_flags(parser)


def load_backend(settings: Settings, fim_template: str | None) -> CompletionBackend:
    """The local engine, or a remote engine that answered (else a CommandError saying why)."""
    if settings.backend != "local":
        from sdsat_lsp.remote import EngineError, RemoteBackend

        try:
            remote = RemoteBackend(settings)
        except EngineError as error:
            raise CommandError(str(error)) from error
        if (problem := remote.check()) is not None:
            remote.close()
            raise CommandError(problem)
        return remote
    from sdsat_lsp.engine import Engine, StrategyError
    from sdsat_lsp.model import ModelLoadError

    try:
        return Engine.load(settings, fim_template=fim_template)
    except (ModelLoadError, StrategyError) as error:
        raise CommandError(str(error)) from error


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.context import DocumentStore, InvalidPosition, Position, language_for
    from sdsat_lsp.pipeline import complete
    from sdsat_lsp.remote.http import EngineError

    settings = settings_from_args(args)
    text = read_source(args.file)
    language = args.language or language_for(str(args.file)) or "plaintext"
    store = DocumentStore()
    uri = args.file.resolve().as_uri()
    store.open(uri, language, text, 0)
    document = store.get(uri)
    position = Position(args.line, args.column)
    try:
        document.offset_at(position)
    except InvalidPosition as error:
        raise CommandError(str(error)) from error
    engine = load_backend(settings, args.fim_template)
    printed = ""

    def show(visible: str) -> None:
        # Print what an editor would show, as it grows (a terminal cannot take text back).
        nonlocal printed
        if not args.json and visible.startswith(printed):
            sys.stdout.write(visible[len(printed) :])
            sys.stdout.flush()
            printed = visible

    try:
        outcome = complete(
            engine, document, position, settings, on_text=show, stop_rules=not args.no_stop_rules
        )
    except EngineError as error:
        raise CommandError(str(error)) from error
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    stats = outcome.stats
    result = {
        "text": outcome.text,
        "shape": outcome.prompt.shape.name.lower(),
        "model": engine.info.model_name,
        "device": engine.info.device,
        "stats": stats,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print()
        summary = stats or {"note": "no completion here (cursor position)"}
        print(
            json.dumps({"model": dataclasses.asdict(engine.info), "stats": summary}),  # type: ignore[call-overload]
            file=sys.stderr,
        )
    return 0
