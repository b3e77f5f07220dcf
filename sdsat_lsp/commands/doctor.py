"""`sdsat-lsp doctor [--json] [--options JSON] [setting flags]`: check this installation.

One line per check, ✔ (fine), ✘ (broken, with the fix on the next line) or – (worth knowing);
exit status 1 when anything is broken. `--options` takes the editor's initializationOptions
(camelCase), so the editors check exactly what their server would run (`sdsat_lsp.doctor`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from sdsat_lsp.commands.arguments import add_setting_flags, flags_given
from sdsat_lsp.commands.errors import CommandError

MARKS = {"ok": "✔", "fail": "✘", "info": "–"}
PLAIN_MARKS = {"ok": "ok", "fail": "FAIL", "info": "--"}  # for terminals without UTF-8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object for tools")
    parser.add_argument(
        "--options", metavar="JSON", help="settings as LSP initializationOptions (camelCase)"
    )
    parser.add_argument(
        "--no-completion", action="store_true", help="skip loading the model for a test completion"
    )
    add_setting_flags(parser)


def requested_settings(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """--options, then the setting flags over them; problems are reported, not fatal."""
    from sdsat_lsp.config import settings_from_wire

    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as error:
        raise CommandError(f"--options is not JSON: {error}") from error
    if not isinstance(options, dict):
        raise CommandError("--options must be a JSON object")
    settings, problems = settings_from_wire(options)
    settings, flag_problems = settings_from_wire(flags_given(args), settings)
    return settings, problems + flag_problems


def utf8_terminal() -> bool:
    try:
        "".join(MARKS.values()).encode(sys.stdout.encoding or "ascii")
    except UnicodeEncodeError:
        return False
    return True


def printer(marks: dict[str, str]) -> Any:
    def show(check: Any) -> None:
        print(f"{marks[check.status]} {check.name}: {check.summary}", flush=True)
        if check.fix:
            print(f"    {'fix' if check.status == 'fail' else 'note'}: {check.fix}", flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.doctor import run_checks

    settings, problems = requested_settings(args)
    marks = MARKS if utf8_terminal() else PLAIN_MARKS
    show = (lambda check: None) if args.json else printer(marks)
    checks = run_checks(settings, problems, completion=not args.no_completion, on_check=show)
    failed = [check.name for check in checks if check.status == "fail"]
    if args.json:
        report = {"ok": not failed, "checks": [dataclasses.asdict(check) for check in checks]}
        print(json.dumps(report, indent=2))
    else:
        print(f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "no problems found")
    return 1 if failed else 0
