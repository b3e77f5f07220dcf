"""A bounded soak of the real server over stdio: typing with a request per keystroke.

Each keystroke is a `didChange` plus an `inlineCompletion` that supersedes the previous one;
every `pause_every` keystrokes the client waits for the answer (a reader pausing). RSS is sampled
from /proc; the figures are keystrokes, RSS growth over the last half, errors (answers other
than a result, -32800 or -32801), late results (a non-empty result that arrived after a newer
edit was sent: an upper bound on stale results, since the server may have answered before it
read the edit) and answered-latency percentiles. It stops itself after `keystrokes`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sdsat_lsp.server.rawclient import RawClient, serve_command

SOURCE = "import math\n\n\ndef area(radius):\n    return math"
EXPECTED_ERRORS = (-32800, -32801)  # superseded, document changed: "drop it"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def soak(
    server_args: list[str],
    keystrokes: int = 2000,
    pause_every: int = 8,
    samples: int = 20,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    client = RawClient(serve_command(*server_args), env=env)
    try:
        client.initialize({"prefixReuse": True})
        status = client.wait_ready()
        uri = "file:///soak.py"
        client.open(uri, SOURCE)
        line, column, version = 4, len("    return math"), 1
        sent: dict[int, tuple[float, int]] = {}  # request id → (time, version)
        rss: list[tuple[int, int]] = []
        latencies: list[float] = []
        outcomes = {"result": 0, "expected_error": 0, "error": 0, "late_result": 0}
        word = "value_of_radius_times_pi"

        def collect(request_id: int, answer: dict[str, Any]) -> None:
            started, asked_version = sent.pop(request_id)
            if "result" in answer:
                outcomes["result"] += 1
                latencies.append((time.perf_counter() - started) * 1000.0)
                if asked_version != version and answer["result"]["items"]:
                    outcomes["late_result"] += 1
            elif answer["error"]["code"] in EXPECTED_ERRORS:
                outcomes["expected_error"] += 1
            else:
                outcomes["error"] += 1

        every = max(1, keystrokes // samples)
        began = time.perf_counter()
        for index in range(keystrokes):
            character = word[index % len(word)]
            if character == "_" and index % 97 == 0:
                character = "\n    "
            version += 1
            client.insert(uri, version, line, column, character)
            if character.startswith("\n"):
                line, column = line + 1, 4
            else:
                column += 1
            request_id = client.complete(uri, line, column)
            sent[request_id] = (time.perf_counter(), version)
            if index % pause_every == pause_every - 1:
                collect(request_id, client.wait(request_id, 120))
            for waiting in [r for r in sent if r in client.responses]:
                collect(waiting, client.responses.pop(waiting))
            if index % every == 0 or index == keystrokes - 1:
                rss.append((index + 1, client.rss_bytes()))
        for waiting in list(sent):
            collect(waiting, client.wait(waiting, 120))
        duration = time.perf_counter() - began
        health = client.health()
        code = client.shutdown_and_exit()
    finally:
        client.kill()
    half = [value for index, value in rss if index >= keystrokes // 2]
    return {
        "keystrokes": keystrokes,
        "seconds": round(duration, 1),
        "model": status.get("model"),
        "strategy": status.get("strategy"),
        "rss_mb_first": round(rss[0][1] / 1e6, 1),
        "rss_mb_last": round(rss[-1][1] / 1e6, 1),
        "rss_growth_last_half_mb": round((half[-1] - half[0]) / 1e6, 2),
        "rss_samples": [(index, round(value / 1e6, 1)) for index, value in rss],
        **outcomes,
        "latency_ms_p50": round(percentile(latencies, 0.5), 1),
        "latency_ms_p90": round(percentile(latencies, 0.9), 1),
        "latency_ms_p99": round(percentile(latencies, 0.99), 1),
        "latency_ms_mean": round(statistics.fmean(latencies), 1) if latencies else None,
        "request_futures_at_end": health["requestFutures"],
        "exit_code": code,
    }
