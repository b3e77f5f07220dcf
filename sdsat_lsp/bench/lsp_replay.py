"""LSP replay benchmark (`sdsat-lsp bench lsp`): recorded typing against the real server.

Each session is replayed twice, prefix reuse on then off, against a fresh `sdsat-lsp serve`
driven by the server package's own client (`sdsat_lsp.server.client.Session`). The replay
behaves like an editor with a debounce: after a keystroke it requests an inline completion
once `debounce_ms` pass without another keystroke; a keystroke that arrives while a request is
still running supersedes it (the server cancels it or answers content-modified). Latency is
measured from the keystroke, debounce included, to the first streamed delta and to the
answer. Prefix reuse comes from the server's own latency lines (window/logMessage).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from sdsat_lsp.bench.sessions import TypingSession
from sdsat_lsp.config import ENGINE_SETTINGS
from sdsat_lsp.server.client import Completion, Session
from sdsat_lsp.server.profile import percentile

# The server settings a replay sets: everything that selects and prepares the engine (a
# remote one too: `--backend openai --backend-url http://host:8000/v1` measures keystroke →
# first delta through it), and the completion length, whose default it changes: short
# completions keep a replay of a whole session within minutes on a CPU.
SERVER_SETTINGS = (*ENGINE_SETTINGS, "max_new_tokens")
DEFAULTS = {"max_new_tokens": 32}


@dataclass(frozen=True)
class ReplayConfig:
    options: dict[str, Any]  # initializationOptions (camelCase settings)
    debounce_ms: float
    time_scale: float = 1.0
    answer_timeout_s: float = 120.0


@dataclass(frozen=True)
class Request:
    keystroke_at: float  # perf_counter seconds
    completion: Completion


async def replay(session: Session, typing: TypingSession, config: ReplayConfig) -> list[Request]:
    uri = f"file:///bench/{typing.source.split(':')[0] or typing.name}"
    session.open(uri, typing.initial_text, typing.language)
    requests: list[Request] = []
    scale = config.time_scale
    start = time.perf_counter()
    keys = typing.keystrokes
    for index, (at_ms, text) in enumerate(keys):
        delay = start + at_ms * scale / 1000 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        session.type(text)
        typed_at = time.perf_counter()
        gap_ms = (keys[index + 1][0] - at_ms) * scale if index + 1 < len(keys) else float("inf")
        if gap_ms >= config.debounce_ms:
            await asyncio.sleep(config.debounce_ms / 1000)
            requests.append(Request(typed_at, session.request()))
    pending = [request.completion.done.wait() for request in requests]
    await asyncio.wait_for(asyncio.gather(*pending), config.answer_timeout_s)
    return requests


def summarize_replay(
    requests: list[Request], records: list[dict[str, Any]], prefix_reuse: bool
) -> dict[str, Any]:
    """Client-side latency percentiles, outcome shares, and the server's reuse figures."""
    first, final = [], []
    outcomes = {"done": 0, "cancelled": 0, "content-modified": 0, "error": 0}
    for request in requests:
        completion = request.completion
        error = completion.error
        key = error if error in outcomes else ("error" if error else "done")
        outcomes[key] += 1
        if completion.first_delta is not None:
            first.append((completion.first_delta - request.keystroke_at) * 1000)
        if key == "done" and completion.answered is not None:
            final.append((completion.answered - request.keystroke_at) * 1000)
    # Every request that reached the engine prefilled, whether or not it was cancelled later.
    engine_records = [record for record in records if record.get("prompt_tokens")]
    prompt_tokens = sum(int(record["prompt_tokens"]) for record in engine_records)
    reused = [int(record.get("reused_prefix_tokens", 0)) for record in engine_records]
    total = len(requests)

    def spread(values: list[float]) -> dict[str, float | None]:
        return {f"p{q}": round(percentile(values, q), 1) if values else None for q in (50, 90, 99)}

    return {
        "prefix_reuse": prefix_reuse,
        "requests": total,
        "outcomes": outcomes,
        "cancelled_share": round((total - outcomes["done"]) / total, 4) if total else 0.0,
        "keystroke_to_first_delta_ms": spread(first) | {"count": len(first)},
        "keystroke_to_final_ms": spread(final) | {"count": len(final)},
        "server_prefill_ms": spread([float(r.get("prefill_ms", 0.0)) for r in engine_records]),
        "prompt_tokens_median": percentile([float(r["prompt_tokens"]) for r in engine_records], 50)
        if engine_records
        else None,
        "reused_prefix_tokens_median": percentile([float(v) for v in reused], 50)
        if reused
        else None,
        "reused_prefix_share": round(sum(reused) / prompt_tokens, 4) if prompt_tokens else 0.0,
        "strategy": next((str(r["strategy"]) for r in engine_records if r.get("strategy")), ""),
    }


async def replay_once(
    typing: TypingSession, config: ReplayConfig, prefix_reuse: bool, log: Any
) -> dict[str, Any]:
    options = config.options | {"prefixReuse": prefix_reuse}
    logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    session = Session(options=options)
    started = time.monotonic()
    await session.start()
    try:
        status = await session.wait_until_loaded()
        ready_s = time.monotonic() - started  # process start to model ready (passes prepared)
        if status.get("state") != "ready":
            raise RuntimeError(f"the model did not load: {status.get('message')}")
        print(
            f"{typing.name}: prefix reuse {'on' if prefix_reuse else 'off'}, "
            f"{len(typing.keystrokes)} keystrokes over "
            f"{typing.duration_ms * config.time_scale / 1000:.0f} s",
            file=log,
        )
        requests = await replay(session, typing, config)
        await asyncio.sleep(0.2)  # the last latency lines follow the answers
        summary = summarize_replay(requests, session.latency_records, prefix_reuse)
        summary["server"] = {k: status.get(k) for k in ("model", "device", "dtype", "k", "backend")}
        summary["server"]["forward"] = status.get("forward")
        summary["server_ready_s"] = round(ready_s, 1)
        return summary
    except BaseException:
        if session.stderr_tail:
            print("server stderr (last lines):\n" + "\n".join(session.stderr_tail), file=log)
        raise
    finally:
        await session.stop()


async def run_lsp_bench(
    sessions: list[TypingSession], config: ReplayConfig, log: Any = None
) -> list[dict[str, Any]]:
    log = log or sys.stderr  # looked up per call: a default bound at import goes stale
    rows = []
    # A remote engine manages its own prefix cache: prefixReuse changes nothing there.
    remote = config.options.get("backend", "local") != "local"
    for typing in sessions:
        for prefix_reuse in (True,) if remote else (True, False):
            row = await replay_once(typing, config, prefix_reuse, log)
            rows.append({"session": typing.name, "source": typing.source} | row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def triple(values: dict[str, Any]) -> str:
        return " / ".join(
            "–" if values[f"p{q}"] is None else f"{values[f'p{q}']:.0f}" for q in (50, 90, 99)
        )

    lines = [
        "| session | prefix reuse | requests | cancelled or stale | keystroke → first delta ms "
        "(p50 / p90 / p99) | keystroke → final ms (p50 / p90 / p99) | reused prefix tokens "
        "(median, share) | prefill ms p50 | server ready s |",
        "|---|:---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        reused = row["reused_prefix_tokens_median"]
        lines.append(
            f"| {row['session']} | {'on' if row['prefix_reuse'] else 'off'} | {row['requests']} "
            f"| {row['cancelled_share']:.1%} | {triple(row['keystroke_to_first_delta_ms'])} "
            f"| {triple(row['keystroke_to_final_ms'])} "
            f"| {'–' if reused is None else f'{reused:.0f}'}, {row['reused_prefix_share']:.0%} "
            f"| {row['server_prefill_ms']['p50'] or 0:.0f} | {row.get('server_ready_s', '–')} |"
        )
    return "\n".join(lines) + "\n"
