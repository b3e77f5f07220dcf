"""`sdsat-lsp prompt FILE --line N --column M`: the prompt pieces, token counts and shape.

Shows why a completion looks the way it does. Only the model's tokenizer is loaded (for the
token budget), not its weights.
"""

from __future__ import annotations

import argparse
import json

from sdsat_lsp.commands.arguments import add_position_arguments, read_source
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    add_position_arguments(parser)
    parser.add_argument("--model", default=defaults.model, help="registry name or model path")
    parser.add_argument("--context-tokens", type=int, default=defaults.context_tokens)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from sdsat_lsp.context import (
        DocumentStore,
        InvalidPosition,
        Position,
        PromptRecipe,
        build_prompt,
        describe_prompt,
        language_for,
    )
    from sdsat_lsp.model import ModelLoadError
    from sdsat_lsp.model.loading import resolve_reference, spec_for_directory

    text = read_source(args.file)
    try:
        path, registry_spec = resolve_reference(args.model)
        spec = spec_for_directory(path, registry_spec)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (ModelLoadError, OSError, ValueError) as error:
        raise CommandError(str(error)) from error
    store = DocumentStore()
    uri = args.file.resolve().as_uri()
    store.open(uri, args.language or language_for(str(args.file)) or "plaintext", text, 0)
    document = store.get(uri)
    try:
        prompt = build_prompt(
            document,
            Position(args.line, args.column),
            budget_tokens=args.context_tokens,
            count_tokens=lambda piece: len(tokenizer.encode(piece, add_special_tokens=False)),
            fim=spec.has_fim,
            recipe=PromptRecipe.from_pieces(spec.prompt_pieces),  # as the pipeline's
        )
    except InvalidPosition as error:
        raise CommandError(str(error)) from error
    description = describe_prompt(prompt)
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    print(f"shape: {prompt.shape.name.lower()} ({prompt.reason})")
    for piece in prompt.pieces:
        print(f"--- {piece.name}: {piece.tokens} tokens")
        print(piece.text)
    return 0
