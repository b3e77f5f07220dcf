"""`sdsat-lsp serve`: run the language server over stdio (default) or TCP.

Every setting in `sdsat_lsp.config.Settings` is also a flag (`--max-new-tokens 32`), derived
from `describe()`; flags set the defaults that `initializationOptions` and
`workspace/didChangeConfiguration` then override.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sdsat_lsp.commands.arguments import add_setting_flags, settings_from_args
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.config import Settings


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--tcp wants HOST:PORT, got {text!r}")
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)"
    )
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead")
    add_setting_flags(parser)


def quiet_pygls(settings: Settings) -> None:
    # pygls logs every message body at INFO (document text included): keep it to warnings.
    level = logging.DEBUG if settings.log_level == "debug" else logging.WARNING
    logging.getLogger("pygls").setLevel(level)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    address = parse_address(args.tcp) if args.tcp else None
    quiet_pygls(settings)
    from sdsat_lsp.server.server import build_server  # imports torch: only when serving

    server = build_server(settings)
    try:
        if address is not None:
            server.start_tcp(*address)
        else:
            protocol_out = sys.stdout.buffer
            sys.stdout = sys.stderr  # a stray print() in any library must not corrupt the protocol
            server.start_io(sys.stdin.buffer, protocol_out)
    finally:
        server.model.shutdown()
    return 0
