"""`sdsat-lsp bench lsp` and `bench context` on a tiny real model: they run and write files.

The LSP replay starts the real server over stdio twice (prefix reuse on, then off) and types a
short session recorded from a real file. No timing assertions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdsat_lsp.bench.sessions import BUNDLED, load_session, record_session, split_keystrokes
from sdsat_lsp.cli import main

SAMPLE = Path(__file__).parents[2] / "sdsat_lsp" / "server" / "demo_sample.py"


def test_bundled_session_is_real_code_typed_in_order() -> None:
    session = load_session(BUNDLED)
    assert session.source.startswith("pygls/workspace/text_document.py:")
    assert session.initial_text.startswith("#####")
    times = [at for at, _ in session.keystrokes]
    assert times == sorted(times) and session.duration_ms > 30_000
    assert "def server_position_at_offset" in "".join(text for _, text in session.keystrokes)


def test_split_keystrokes_keeps_auto_indent_with_the_newline() -> None:
    assert split_keystrokes("ab\n    c\n") == ["a", "b", "\n    ", "c", "\n"]


def test_lsp_bench_replays_with_prefix_reuse_on_and_off(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = record_session(SAMPLE, 5, 6)
    session_path = tmp_path / "session.json"
    session_path.write_text(json.dumps(session.to_dict()))
    args = ["bench", "lsp", "--model", str(tiny_model_dir), "--session", str(session_path)]
    args += ["--max-new-tokens", "4", "--time-scale", "0.2", "--output", str(tmp_path)]
    assert main(args) == 0
    result = json.loads((tmp_path / f"lsp-{tiny_model_dir.name}.json").read_text())
    on, off = result["runs"]
    assert (on["prefix_reuse"], off["prefix_reuse"]) == (True, False)
    for run in (on, off):
        assert run["requests"] > 0
        assert sum(run["outcomes"].values()) == run["requests"]
        assert 0.0 <= run["cancelled_share"] <= 1.0
    assert off["reused_prefix_share"] == 0.0
    assert "| on |" in (tmp_path / f"lsp-{tiny_model_dir.name}.md").read_text()
    assert "keystroke → first delta" in capsys.readouterr().out


def test_context_bench_writes_json(tmp_path: Path) -> None:
    args = ["bench", "context", "--lines", "300", "--edits", "5", "--output", str(tmp_path)]
    assert main(args) == 0
    rows = json.loads((tmp_path / "context.json").read_text())
    assert [row["auto_close"] for row in rows] == [True, False]
