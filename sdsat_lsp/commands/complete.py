"""`sdsat-lsp complete FILE --line N --column M`: stream one completion to stdout, then stats.

The prompt comes from the tree-sitter context package (prefix window, suffix for FIM models,
stop rules); `--json` prints one object `{"text": ..., "stats": {...}}` instead.
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_position_arguments(parser)
    parser.add_argument(
        "--fim-template",
        choices=["auto", "none", "psm", "spm"],
        help="FIM layout for unknown models (auto: detect FIM tokens in the tokenizer)",
    )
    parser.add_argument("--no-stop-rules", action="store_true", help="generate to the limit")
    add_setting_flags(parser)


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.context import (
        DocumentStore,
        InvalidPosition,
        Position,
        Shape,
        build_prompt,
        language_for,
    )
    from sdsat_lsp.engine import Engine, StrategyError
    from sdsat_lsp.model import ModelLoadError

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
    try:
        engine = Engine.load(settings, fim_template=args.fim_template)
    except (ModelLoadError, StrategyError) as error:
        raise CommandError(str(error)) from error
    prompt = build_prompt(
        document,
        position,
        budget_tokens=settings.context_tokens,
        count_tokens=engine.count_tokens,
        fim=engine.info.fim,
    )
    stop = None if args.no_stop_rules else prompt.stop.check
    ids = engine.encode_prompt(prompt.prefix, prompt.suffix)
    generation = engine.generate(ids, max_new_tokens=settings.max_new_tokens, stop=stop)
    if prompt.shape is Shape.NONE and not args.no_stop_rules:
        final_text = ""
        stats = None
    else:
        shown = ""
        for _ in generation:
            # Print what an editor would show: the stop rule's view of the raw text so far.
            raw = generation.text
            visible = raw if args.no_stop_rules else prompt.stop.visible(raw)
            if not args.json and visible.startswith(shown):
                sys.stdout.write(visible[len(shown) :])
                sys.stdout.flush()
                shown = visible
        final_text = (
            generation.text if args.no_stop_rules else prompt.stop.finalize(generation.text)
        )
        stats = generation.stats.to_dict()
    result = {
        "text": final_text,
        "shape": prompt.shape.name.lower(),
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
            json.dumps({"model": dataclasses.asdict(engine.info), "stats": summary}),
            file=sys.stderr,
        )
    return 0
