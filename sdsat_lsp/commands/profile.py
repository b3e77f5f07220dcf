"""`sdsat-lsp profile LOGFILE`: p50/p90/p99 per numeric field of a latency log, and outcome rates.

Reads the JSON lines the server writes (`logFile`), or a client log holding the
`sdsat-latency {...}` window/logMessage texts; other lines are skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.server.latency import OUTCOMES
from sdsat_lsp.server.profile import format_summary, read_records, summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logfile", type=Path, help="latency log (the logFile setting)")
    parser.add_argument(
        "--outcome",
        default="done",
        choices=[*OUTCOMES, "all"],
        help="which completions the percentiles cover (default: done)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        with args.logfile.open(encoding="utf-8", errors="replace") as handle:
            records = read_records(handle)
    except OSError as error:
        raise CommandError(f"cannot read {args.logfile}: {error}") from error
    if not records:
        raise CommandError(f"no latency records in {args.logfile}")
    summary = summarize(records, args.outcome)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
