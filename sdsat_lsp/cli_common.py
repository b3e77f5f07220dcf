"""Argument helpers shared by sub-commands: settings flags derived from the typed config, and
the FILE --line --column triple with a safe source reader."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sdsat_lsp.cli import CommandError
from sdsat_lsp.config import Settings, describe, settings_from_wire, snake_case

FLAG_PREFIX = "setting_"


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; unset flags stay None so they do not override anything."""
    group = parser.add_argument_group("settings (also initializationOptions, camelCase)")
    for entry in describe():
        name = snake_case(entry["name"])
        flag = "--" + name.replace("_", "-")
        dest = FLAG_PREFIX + name
        help_text = f"{entry['doc']} (default: {entry['default']!r})"
        if entry["type"] == "boolean":
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif entry["type"] == "integer":
            group.add_argument(flag, dest=dest, type=int, metavar="N", help=help_text)
        elif "enum" in entry:
            group.add_argument(flag, dest=dest, choices=entry["enum"], help=help_text)
        else:
            group.add_argument(flag, dest=dest, metavar="VALUE", help=help_text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = {
        key[len(FLAG_PREFIX) :]: value
        for key, value in vars(args).items()
        if key.startswith(FLAG_PREFIX) and value is not None
    }
    settings, problems = settings_from_wire(values)
    if problems:
        raise CommandError("; ".join(problems))
    return settings


def add_position_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="source file")
    parser.add_argument("--line", type=int, required=True, help="0-based line (as LSP)")
    parser.add_argument("--column", type=int, required=True, help="0-based UTF-16 column")
    parser.add_argument("--language", help="language id (default: from the file extension)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from error
    if b"\0" in data[:8192]:
        raise CommandError(f"{path} looks binary; completion needs a text file")
    return data.decode("utf-8", errors="replace")
