"""Keystroke-to-first-ghost-text latency in a real (headless) Neovim with the real server.

    .venv/bin/python tests/nvim/latency.py --tiny            # tiny random model, built here
    .venv/bin/python tests/nvim/latency.py                   # the default model (make fetch-model)
    .venv/bin/python tests/nvim/latency.py --model DIR --keystrokes 30 --debounce-ms 0

Types a line of Python one character at a time. After each keystroke it waits until the request
that keystroke caused has drawn its first ghost text (or answered with nothing), then types the
next character, which cancels the rest of that generation (with --wait-finish it waits for the
generation to end first, so requests never overlap). The plugin timestamps the keystroke
(TextChangedI) and the first extmark of that request with one monotonic clock; the time includes
the debounce (settings.debounceMs). The editor's share is that time minus the server's own
first_delta_ms (from its latency log) for the same request.
A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nvim_harness import SERVER, Editor, running_editor, wait_until_ready

HEADER = ["import math", "", "", "def area(shape, width, height):", ""]
TYPED = "    return math.sqrt(width * width + height * height) / 2"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def measure(
    editor: Editor, keystrokes: int, timeout: float, wait_finish: bool
) -> tuple[dict[int, float], int]:
    """Latency in ms per request id whose request drew ghost text, and the count without."""
    latencies: dict[int, float] = {}
    empty = 0
    editor.type("Go")
    for char in TYPED[:keystrokes]:
        before = editor.stats()
        editor.type("<lt>" if char == "<" else char)

        def settled(before: dict[str, Any] = before) -> dict[str, Any] | None:
            now = editor.stats()
            drawn = len(now["first_ghost_ms"]) > len(before["first_ghost_ms"])
            answered = now["requests"] > before["requests"] and not editor.lua(
                "return require('sdsat.completion').pending() ~= nil"
            )
            return now if drawn or answered else None

        now = editor.wait_for(settled, timeout=timeout, what="the keystroke's request")
        if len(now["first_ghost_ms"]) > len(before["first_ghost_ms"]):
            latencies[int(now["first_ghost_ids"][-1])] = float(now["first_ghost_ms"][-1])
        else:
            empty += 1
        if wait_finish:
            # Let the request finish so the next keystroke starts from a quiet server.
            editor.wait_for(
                lambda: not editor.lua("return require('sdsat.completion').pending() ~= nil"),
                timeout=timeout,
                what="the request to finish",
            )
    editor.type("<Esc>")
    return latencies, empty


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or directory (default: the server's default)")
    parser.add_argument("--tiny", action="store_true", help="build and use a tiny random model")
    parser.add_argument("--keystrokes", type=int, default=24, help="keystrokes to measure")
    parser.add_argument("--debounce-ms", type=int, default=None, help="override debounceMs")
    parser.add_argument("--strategy", default=None, help="override the decoding strategy")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per keystroke")
    parser.add_argument(
        "--wait-finish",
        action="store_true",
        help="let each completion finish before the next keystroke (default: type on once the"
        " first ghost text shows, which cancels the rest, as a user typing on would)",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sdsat-nvim-latency-"))
    settings: dict[str, Any] = {"logFile": str(home / "latency.jsonl")}
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tiny_model import build_tiny_model

        settings["model"] = str(build_tiny_model(home / "tiny-model"))
    elif args.model:
        settings["model"] = args.model
    if args.debounce_ms is not None:
        settings["debounceMs"] = args.debounce_ms
    if args.strategy:
        settings["strategy"] = args.strategy

    with running_editor(home) as editor:
        started = time.monotonic()
        editor.setup({"cmd": [str(SERVER), "serve"], "settings": settings})
        editor.edit(home / "shapes.py", HEADER)
        status = wait_until_ready(editor, timeout=600)
        ready_s = time.monotonic() - started
        nvim_version = editor.lua("return tostring(vim.version())")
        by_request, empty = measure(editor, args.keystrokes, args.timeout, args.wait_finish)
        final_stats = editor.stats()

    records = [
        json.loads(line)
        for line in (home / "latency.jsonl").read_text().splitlines()
        if line.strip()
    ]
    server_first = {
        r["request_id"]: r["first_delta_ms"] for r in records if r.get("first_delta_ms") is not None
    }
    latencies = list(by_request.values())
    editor_share = [ms - server_first[rid] for rid, ms in by_request.items() if rid in server_first]
    summary = {
        "neovim": nvim_version,
        "model": status.get("model"),
        "device": status.get("device"),
        "dtype": status.get("dtype"),
        "strategy": status.get("strategy"),
        "debounce_ms": settings.get("debounceMs", "default"),
        "wait_finish": args.wait_finish,
        "server_ready_s": round(ready_s, 1),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "keystrokes": args.keystrokes,
        "with_ghost_text": len(latencies),
        "without_suggestion": empty,
        "request_errors": final_stats["errors"],
        "first_ghost_ms_median": round(statistics.median(latencies), 1) if latencies else None,
        "first_ghost_ms_p90": round(percentile(latencies, 0.9), 1) if latencies else None,
        "first_ghost_ms_min": round(min(latencies), 1) if latencies else None,
        "first_ghost_ms_max": round(max(latencies), 1) if latencies else None,
        "server_first_delta_ms_median": (
            round(statistics.median(server_first.values()), 1) if server_first else None
        ),
        "editor_share_ms_median": (
            round(statistics.median(editor_share), 1) if editor_share else None
        ),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
