"""`sdsat-lsp demo [FILE]`: watch streamed completions without an editor.

Starts the real server (`sdsat-lsp serve`) as a subprocess, opens FILE (default: a small
bundled Python module) and replays typing over LSP (`sdsat_lsp.server.demo.replay`); at each
pause it shows the ghost text as it streams in, with the latency line of that completion.
In a terminal the ghost text is redrawn in place; otherwise each update is a plain line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, TextIO

from sdsat_lsp.commands.arguments import add_setting_flags, initialization_options
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.server.client import Completion, Session, server_command
from sdsat_lsp.server.demo import SAMPLE, replay
from sdsat_lsp.server.profile import percentile

DIM, RESET, CLEAR = "\x1b[2m", "\x1b[0m", "\r\x1b[K"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, help="file to replay (default: a sample)")
    parser.add_argument("--stops", type=int, default=6, help="completions to show (default 6)")
    parser.add_argument(
        "--typing-ms", type=float, default=60.0, help="time between keystrokes (default 60)"
    )
    add_setting_flags(parser)


class Screen:
    """Draws the line being typed and its ghost text."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.prompt = ""

    def typing(self, number: int, typed: str) -> None:
        self.prompt = f"{number + 1:>4} │ {typed}"
        if self.tty:
            self.out.write(CLEAR + self.prompt)
            self.out.flush()

    def ghost(self, text: str) -> None:
        first, _, rest = text.partition("\n")
        if self.tty:
            more = " ⏎…" if rest else ""
            self.out.write(f"{CLEAR}{self.prompt}{DIM}{first}{more}{RESET}")
            self.out.flush()
        else:
            self.out.write(f"       ghost: {text!r}\n")

    def final(self, completion: Completion, record: dict[str, Any] | None, cancelled: int) -> None:
        text = completion.text or ""
        if self.tty:
            first, _, rest = text.partition("\n")
            self.out.write(f"{CLEAR}{self.prompt}{DIM}{first}{RESET}\n")
            for line in rest.split("\n") if rest else []:
                self.out.write(f"     │ {DIM}{line}{RESET}\n")
        else:
            self.out.write(f"{self.prompt}\n       final: {text!r}\n")
        self.out.write("       " + describe_latency(completion, record, cancelled) + "\n\n")
        self.out.flush()


def describe_latency(completion: Completion, record: dict[str, Any] | None, cancelled: int) -> str:
    if completion.error:
        return f"[{completion.error}]"
    parts = []
    if completion.first_delta_ms is not None:
        parts.append(f"first delta {completion.first_delta_ms:.0f} ms")
    if completion.total_ms is not None:
        parts.append(f"total {completion.total_ms:.0f} ms")
    if record:
        parts.append(
            f"prompt {record.get('prompt_tokens', 0)} tok "
            f"({record.get('reused_prefix_tokens', 0)} reused)"
        )
        parts.append(
            f"{record.get('new_tokens', 0)} tok in {record.get('forward_passes', 0)} passes"
        )
        parts.append(f"{record.get('strategy', '')}")
    parts.append(f"{cancelled} superseded request(s) cancelled")
    return "latency: " + " · ".join(parts)


async def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.file or SAMPLE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from error
    screen = Screen(out)
    session = Session(
        options=initialization_options(args),
        command=server_command(),
        on_delta=lambda completion, delta: screen.ghost(delta),
        on_message=lambda message: print(f"[server] {message}", file=out),
    )
    await session.start()
    try:
        out.write(f"sdsat-lsp demo: {path}\n")
        status = await session.wait_until_loaded()
        if status.get("state") != "ready":
            raise CommandError(f"the model did not load: {status.get('message')}")
        out.write(
            f"model {status.get('model')} on {status.get('device')} ({status.get('dtype')}), "
            f"strategy {status.get('strategy')}, k {status.get('k')}\n\n"
        )
        finals = await replay(session, path, text, args.stops, args.typing_ms / 1000.0, screen)
        firsts = [c.first_delta_ms for c in finals if c.first_delta_ms is not None]
        cancelled = sum(1 for c in session.completions.values() if c.error == "cancelled")
        summary = f"{len(session.completions)} requests, {cancelled} superseded and cancelled"
        if firsts:
            summary += (
                f"; keystroke → first delta at the pauses: p50 {percentile(firsts, 50):.0f} ms, "
                f"max {max(firsts):.0f} ms"
            )
        out.write(summary + "\n")
    except BaseException:
        if session.stderr_tail:
            sys.stderr.write(
                "server stderr (last lines):\n" + "\n".join(session.stderr_tail) + "\n"
            )
        raise
    finally:
        await session.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(args, sys.stdout))
