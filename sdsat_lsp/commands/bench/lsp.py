"""`sdsat-lsp bench lsp`: replay recorded typing against the real server (or record a session,
or run the back-to-back benchmark). Server flags are the settings' own, with the replay's
defaults (`lsp_replay.DEFAULTS`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sdsat_lsp.bench import RESULTS
from sdsat_lsp.bench.lsp_replay import DEFAULTS, SERVER_SETTINGS
from sdsat_lsp.commands.arguments import add_setting_flags, settings_from_args
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import Settings, camel_case


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session",
        type=Path,
        action="append",
        help="recorded typing session JSON (repeatable; default: the bundled one)",
    )
    parser.add_argument(
        "--debounce-ms",
        type=float,
        default=None,
        help="client-side wait after a keystroke before requesting (default: the setting's)",
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply recorded gaps (0.5: 2× faster)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="SOURCE",
        help="instead of replaying: record a session typed over SOURCE lines --lines",
    )
    parser.add_argument("--lines", default="", help="START:END lines to type with --record")
    parser.add_argument(
        "--back-to-back",
        type=int,
        metavar="N",
        help="instead of replaying: sdsat_lsp.bench.back_to_back: N keystrokes, each sent "
        "once the previous request streamed its first delta",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    add_setting_flags(parser, SERVER_SETTINGS, DEFAULTS)


def server_options(settings: Settings) -> dict[str, Any]:
    """The server settings (wire names) that the benchmark sets."""
    return {camel_case(name): getattr(settings, name) for name in SERVER_SETTINGS}


def run(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.decode import slug
    from sdsat_lsp.bench.lsp_replay import ReplayConfig, markdown_table, run_lsp_bench
    from sdsat_lsp.bench.report import machine_info
    from sdsat_lsp.bench.sessions import BUNDLED, SessionError, load_session

    if args.record is not None:
        return record(args)
    settings = settings_from_args(args, DEFAULTS)
    if args.back_to_back is not None:
        return back_to_back(args, settings)
    try:
        sessions = [load_session(path) for path in (args.session or [BUNDLED])]
    except SessionError as error:
        raise CommandError(str(error)) from error
    options = server_options(settings)
    debounce = settings.debounce_ms if args.debounce_ms is None else args.debounce_ms
    config = ReplayConfig(options, debounce, args.time_scale)
    machine = machine_info()
    rows = asyncio.run(run_lsp_bench(sessions, config))
    args.output.mkdir(parents=True, exist_ok=True)
    remote = "" if settings.backend == "local" else f"-{settings.backend}"
    stem = args.output / f"lsp-{slug(settings.model)}{remote}"
    result: dict[str, Any] = {
        "config": options | {"debounceMs": debounce, "timeScale": args.time_scale},
        "machine": machine,
        "runs": rows,
    }
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown_table(rows)
    strategy = rows[0]["strategy"] if rows else settings.strategy
    backend = "" if settings.backend == "local" else f" via {settings.backend_url}"
    header = (
        f"### LSP replay: {settings.model}{backend}, strategy {strategy}, "
        f"{settings.max_new_tokens} new "
        f"tokens at most, debounce {debounce:.0f} ms, {machine['date']}\n\n"
    )
    stem.with_suffix(".md").write_text(header + table)
    print(header + table)
    print(json.dumps({"json": str(stem.with_suffix(".json"))}), file=sys.stderr)
    return 0


def record(args: argparse.Namespace) -> int:
    from sdsat_lsp.bench.sessions import SessionError, record_session

    try:
        start, _, end = args.lines.partition(":")
        session = record_session(Path(args.record), int(start), int(end))
    except (ValueError, OSError, SessionError) as error:
        raise CommandError(f"cannot record {args.record} lines {args.lines!r}: {error}") from error
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"session-{session.name}.json"
    path.write_text(json.dumps(session.to_dict(), indent=0) + "\n")
    print(path)
    return 0


def back_to_back(args: argparse.Namespace, settings: Settings) -> int:
    """No debounce, no recorded timing: each keystroke once the previous one streamed."""
    from sdsat_lsp.bench.back_to_back import bench_lsp
    from sdsat_lsp.bench.decode import slug

    results = asyncio.run(bench_lsp(server_options(settings), keystrokes=args.back_to_back))
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"lsp-back-to-back-{slug(settings.model)}.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(json.dumps(results, indent=1, default=str))
    return 0
