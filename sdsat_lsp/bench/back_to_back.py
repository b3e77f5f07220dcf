"""Back-to-back LSP benchmark: keystroke → first streamed delta, with and without prefix-KV reuse.

Drives the real server over stdio like an editor without debounce: each simulated keystroke is
one didChange plus one inline-completion request, sent as soon as the previous request has
streamed its first delta (or answered), so every request but the last is superseded while
generating. Measured on the client: keystroke → first `sdsat/completionDelta`. From the
server's latency lines: how many superseded requests stopped before their next forward pass.
`sdsat-lsp bench lsp --back-to-back N` runs it; `lsp_replay` is the debounced, recorded-timing
replay that `sdsat-lsp bench lsp` runs by default.
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdsat_lsp.server.client import Completion, Session
from sdsat_lsp.server.demo import SAMPLE, first_body_line
from sdsat_lsp.server.profile import percentile


async def type_and_measure(
    options: dict[str, Any], text: str, keystrokes: int, timeout_s: float
) -> dict[str, Any]:
    """One server, one mode: returns client latencies and the server's latency records."""
    session = Session(options=options)
    await session.start()
    try:
        status = await session.wait_until_loaded()
        if status.get("state") != "ready":
            raise RuntimeError(f"model did not load: {status.get('message')}")
        lines = text.split("\n")
        cut = sum(len(line) + 1 for line in lines[: first_body_line(lines)])
        typed = text[cut : cut + keystrokes].ljust(keystrokes, " ")
        session.open(Path("bench.py").resolve().as_uri(), text[:cut])
        completions: list[Completion] = []
        started = time.perf_counter()
        for char in typed:
            session.type(char)
            completion = session.request()
            completions.append(completion)
            await asyncio.wait_for(completion.first.wait(), timeout_s)
        await asyncio.wait_for(completions[-1].done.wait(), timeout_s)
        await asyncio.gather(*(c.done.wait() for c in completions))
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.2)  # the last latency lines
        return {
            "status": status,
            "elapsed_s": elapsed,
            "completions": completions,
            "records": {r["request_id"]: r for r in session.latency_records},
        }
    finally:
        await session.stop()


def summarize_mode(run: dict[str, Any]) -> dict[str, Any]:
    completions: list[Completion] = run["completions"]
    records: dict[int, dict[str, Any]] = run["records"]
    firsts = [c.first_delta_ms for c in completions if c.first_delta_ms is not None]
    superseded = [
        records[c.request_id]
        for c in completions[:-1]
        if c.request_id in records and records[c.request_id]["outcome"] in ("cancelled", "stale")
    ]
    # Stopped before the next pass: the job saw the cancel at its next check (finish reason
    # "cancelled") or never reached the engine; "eos"/"length"/"stop" means it ran to the end.
    stopped = [r for r in superseded if r.get("finish_reason") in ("cancelled", "")]
    engine = [records[c.request_id] for c in completions if c.request_id in records]
    prefill = [r["prefill_ms"] for r in engine if r.get("prompt_tokens")]
    reused = [r["reused_prefix_tokens"] / r["prompt_tokens"] for r in engine if r["prompt_tokens"]]
    return {
        "requests": len(completions),
        "with_first_delta": len(firsts),
        "first_delta_ms_p50": round(percentile(firsts, 50), 1) if firsts else None,
        "first_delta_ms_p90": round(percentile(firsts, 90), 1) if firsts else None,
        "prefill_ms_p50": round(percentile(prefill, 50), 1) if prefill else None,
        "reused_prompt_share_mean": round(statistics.fmean(reused), 3) if reused else None,
        "superseded": len(superseded),
        "superseded_stopped_before_next_pass": len(stopped),
        # The rest finished on their own (stop rule, EOS, length) in the pass during which the
        # newer request arrived: there was no next pass to skip.
        "superseded_finished_anyway": dict(
            collections.Counter(r.get("finish_reason", "") for r in superseded if r not in stopped)
        ),
        "superseded_stopped_share": (
            round(len(stopped) / len(superseded), 4) if superseded else None
        ),
        "elapsed_s": round(run["elapsed_s"], 1),
    }


async def bench_lsp(
    options: dict[str, Any] | None = None,
    *,
    keystrokes: int = 100,
    source: Path = SAMPLE,
    timeout_s: float = 120.0,
    report: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Both modes, one after the other on fresh servers; ratios are reuse-off / reuse-on.

    `report(mode, summary)` is called as each mode finishes (progress for long runs).
    """
    text = source.read_text(encoding="utf-8")
    results: dict[str, Any] = {"keystrokes": keystrokes, "source": str(source)}
    for name, reuse in (("prefix_reuse", True), ("no_prefix_reuse", False)):
        run = await type_and_measure(
            {**(options or {}), "prefixReuse": reuse}, text, keystrokes, timeout_s
        )
        results.setdefault("model", run["status"])
        results[name] = summarize_mode(run)
        if report is not None:
            report(name, results[name])
    on, off = results["prefix_reuse"], results["no_prefix_reuse"]
    for field in ("first_delta_ms_p50", "first_delta_ms_p90", "prefill_ms_p50"):
        if on[field] and off[field]:
            results[f"{field}_ratio_off_over_on"] = round(off[field] / on[field], 2)
    return results
