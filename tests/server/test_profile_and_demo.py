"""`sdsat-lsp profile` on a latency log, and `sdsat-lsp demo` end to end on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdsat_lsp.server.latency import LOG_PREFIX, LatencyRecord, format_record
from sdsat_lsp.server.profile import percentile, read_records, summarize


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert round(percentile(list(map(float, range(1, 101))), 90), 2) == 90.1


def test_profile_reads_file_lines_and_log_messages(tmp_path: Path) -> None:
    lines = []
    for index in range(10):
        record = LatencyRecord(request_id=index, uri="file:///a.py", version=index)
        record.outcome = "cancelled" if index < 3 else "done"
        record.total_ms = float(index * 10)
        record.first_delta_ms = None if index == 9 else float(index)
        line = format_record(record)
        lines.append(line if index % 2 else LOG_PREFIX + line)
    lines.append("not a record")
    log = tmp_path / "latency.jsonl"
    log.write_text("\n".join(lines) + "\n")

    summary = summarize(read_records(log.read_text().splitlines()))
    assert summary["completions"] == 10
    assert summary["cancel_rate"] == 0.3
    assert summary["fields"]["total_ms"]["count"] == 7
    assert summary["fields"]["first_delta_ms"]["count"] == 6  # null is not a measurement
    assert "request_id" not in summary["fields"]

    done = subprocess.run(
        [sys.executable, "-m", "sdsat_lsp", "profile", str(log), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["outcomes"]["done"] == 7
    empty = tmp_path / "empty.log"
    empty.write_text("nothing\n")
    failed = subprocess.run(
        [sys.executable, "-m", "sdsat_lsp", "profile", str(empty)], capture_output=True, text=True
    )
    assert failed.returncode == 2 and "no latency records" in failed.stderr


def test_demo_streams_ghost_text_from_the_real_server(tiny_model_dir: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sdsat_lsp",
            "demo",
            "--model",
            str(tiny_model_dir),
            "--stops",
            "2",
            "--typing-ms",
            "5",
            "--max-new-tokens",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "model tiny-test on cpu" in out
    assert out.count("final:") == 2 and out.count("latency:") == 2
    assert "ghost:" in out  # streamed updates, one plain line each when not a terminal
    assert "superseded and cancelled" in out
