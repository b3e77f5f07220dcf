"""`sdsat-lsp settings`: print the typed settings (for docs and editor-settings checks)."""

from __future__ import annotations

import argparse
import json

from sdsat_lsp.config import describe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the schema as JSON")


def run(args: argparse.Namespace) -> int:
    entries = describe()
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        values = "|".join(entry["enum"]) if "enum" in entry else entry["type"]
        print(f"{entry['name']:<16} {values:<32} default {entry['default']!r}: {entry['doc']}")
    return 0
