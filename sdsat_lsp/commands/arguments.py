"""Argument helpers shared by sub-commands: flags generated from the typed configs (`Settings`,
and any dataclass such as `TrainConfig`), and the FILE --line --column triple with a safe source
reader. A default lives in its config; the flags only show it."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import Settings, camel_case, describe, settings_from_wire, snake_case

FLAG_PREFIX = "setting_"


def add_setting_flags(
    parser: argparse.ArgumentParser,
    names: tuple[str, ...] | None = None,
    defaults: dict[str, Any] | None = None,
) -> None:
    """One flag per setting (or per setting in `names`); unset flags stay None so they do not
    override anything. `defaults` (snake_case) are a command's own, shown in the help and
    applied by `settings_from_args(args, defaults)`."""
    group = parser.add_argument_group("settings (also initializationOptions, camelCase)")
    for entry in describe():
        name = snake_case(entry["name"])
        if names is not None and name not in names:
            continue
        flag = "--" + name.replace("_", "-")
        dest = FLAG_PREFIX + name
        default = (defaults or {}).get(name, entry["default"])
        help_text = f"{entry['doc']} (default: {default!r})"
        if entry["type"] == "boolean":
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif entry["type"] == "integer":
            group.add_argument(flag, dest=dest, type=int, metavar="N", help=help_text)
        elif entry["type"] == "number":
            group.add_argument(flag, dest=dest, type=float, metavar="X", help=help_text)
        elif "enum" in entry:
            group.add_argument(flag, dest=dest, choices=entry["enum"], help=help_text)
        else:
            group.add_argument(flag, dest=dest, metavar="VALUE", help=help_text)


def flags_given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags given on the command line, by snake_case setting name."""
    return {
        key[len(FLAG_PREFIX) :]: value
        for key, value in vars(args).items()
        if key.startswith(FLAG_PREFIX) and value is not None
    }


def settings_from_args(
    args: argparse.Namespace, defaults: dict[str, Any] | None = None
) -> Settings:
    settings, problems = settings_from_wire((defaults or {}) | flags_given(args))
    if problems:
        raise CommandError("; ".join(problems))
    return settings


def initialization_options(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags given, as camelCase `initializationOptions` for a server we start."""
    settings_from_args(args)  # validates the flags before a server starts
    return {camel_case(name): value for name, value in flags_given(args).items()}


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


def csv(text: str) -> tuple[str, ...]:
    """`a, b,c` → ("a", "b", "c")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def int_list(minimum: int = 1) -> Callable[[str], tuple[int, ...]]:
    """A parser of `2,4,8` → (2, 4, 8), each at least `minimum`; else an argparse error."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in csv(text))
        except ValueError as error:
            message = f"expected comma-separated integers: {text!r}"
            raise argparse.ArgumentTypeError(message) from error
        if not values or min(values) < minimum:
            raise argparse.ArgumentTypeError(f"values must be integers of at least {minimum}")
        return values

    return parse


def add_config_flags(
    parser: argparse.ArgumentParser, config: type, only: tuple[str, ...] | None = None
) -> None:
    """One flag per field of the dataclass `config` (or per field in `only`), typed and
    documented by the field.

    The help text is the field's `metadata["help"]`; `metadata["nargs"]` makes a tuple a
    space-separated list, otherwise a tuple of strings (or of ints, at least
    `metadata["min"]`, default 1) is comma-separated.
    Every flag defaults to None: `config_values` leaves unset fields to the dataclass default.
    """
    hints = typing.get_type_hints(config)
    for item in dataclasses.fields(config):
        if only is not None and item.name not in only:
            continue
        kind = hints[item.name]
        options: dict[str, Any] = {"help": item.metadata.get("help", ""), "default": None}
        if "nargs" in item.metadata:
            options["nargs"] = item.metadata["nargs"]
        elif get_origin(kind) is tuple:
            minimum = item.metadata.get("min", 1)
            options["type"] = int_list(minimum) if get_args(kind)[0] is int else csv
        elif get_origin(kind) is typing.Literal:
            options["choices"] = list(get_args(kind))
        elif kind in (int, float, str, Path):
            options["type"] = kind
        if item.default is not dataclasses.MISSING:
            default = item.default
            separator = " " if "nargs" in item.metadata else ","
            shown = separator.join(map(str, default)) if isinstance(default, tuple) else default
            options["help"] += f" (default: {shown})" if shown != "" else ""
        parser.add_argument("--" + item.name.replace("_", "-"), **options)


def config_defaults(config: type) -> dict[str, Any]:
    """The dataclass `config`'s declared defaults, by field name."""
    return {
        item.name: item.default
        for item in dataclasses.fields(config)
        if item.default is not dataclasses.MISSING
    }


def config_values(args: argparse.Namespace, config: type) -> dict[str, Any]:
    """The fields of the dataclass `config` that were given as flags."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        value = getattr(args, item.name, None)
        if value is not None:
            values[item.name] = tuple(value) if isinstance(value, list) else value
    return values
