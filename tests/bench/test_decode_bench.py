"""`sdsat-lsp bench decode` on a tiny real model: it runs, writes its files, and its equality
check catches a strategy that loses a token. No timing assertions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sdsat_lsp.cli import main
from sdsat_lsp.engine.decoding import Decoder


def bench_args(model: Path, output: Path) -> list[str]:
    return [
        "bench",
        "decode",
        "--model",
        str(model),
        "--device",
        "cpu",
        "--prompts",
        "2",
        "--prompt-sets",
        "humaneval",
        "--max-new-tokens",
        "8",
        "--warmup",
        "0",
        "--strategies",
        "ar,sdsat,lookup,hf-greedy,hf-lookup",
        "--k-values",
        "2",
        "--output",
        str(output),
    ]


def read_result(output: Path) -> dict:
    (path,) = output.glob("decode-*.json")
    return json.loads(path.read_text())


def test_decode_bench_writes_json_table_and_plot(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(bench_args(tiny_model_dir, tmp_path)) == 0
    assert len(list(tmp_path.glob("decode-*.png"))) == 1
    assert "| lookup k=2 |" in next(tmp_path.glob("decode-*.md")).read_text()
    result = read_result(tmp_path)
    runners = [row["name"] for row in result["runners"]]
    assert runners == ["ar", "sdsat k=2", "lookup k=2", "hf-greedy", "hf-lookup k=2"]
    assert len(result["measurements"]) == 2 * len(runners)
    for name, row in result["summaries"]["all"].items():
        assert row["all_match_ar"], name
        assert row["prompts"] == 2
    assert result["summaries"]["all"]["ar"]["speedup_median"] == 1.0
    assert result["failures"] == []
    assert "| ar |" in capsys.readouterr().out


def test_equality_check_flags_a_strategy_that_loses_a_token(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tiny random model tends to repeat one token, so merely dropping a token could leave
    # the output unchanged: the broken strategy replaces the first token with its neighbour id.
    original = Decoder.lookup_round

    def lossy_round(self: Decoder, pending: int, history: list[int], k: int):  # type: ignore[no-untyped-def]
        first = self.forward_passes == 0
        round_ = original(self, pending, history, k)
        if not first:
            return round_
        wrong = round_.committed[0] + 1
        return dataclasses.replace(round_, committed=(wrong, *round_.committed[1:]))

    monkeypatch.setattr(Decoder, "lookup_round", lossy_round)
    assert main(bench_args(tiny_model_dir, tmp_path)) == 1
    result = read_result(tmp_path)
    summary = result["summaries"]["all"]
    assert not summary["lookup k=2"]["all_match_ar"]
    assert summary["lookup k=2"]["mismatched_prompts"] == ["HumanEval/0", "HumanEval/1"]
    assert summary["sdsat k=2"]["all_match_ar"]
    assert result["failures"] and result["failures"][0].startswith("lookup k=2")


def test_unknown_strategy_is_a_command_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    args = bench_args(tiny_model_dir, tmp_path)
    args[args.index("--strategies") + 1] = "ar,beam"
    assert main(args) == 2


def test_decode_bench_under_background_load_reports_share_of_idle(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """--busy-cores repeats the run under busy-loop processes it starts and stops itself."""
    args = bench_args(tiny_model_dir, tmp_path)
    args[args.index("--strategies") + 1] = "ar,lookup"
    assert main([*args, "--busy-cores", "0,1"]) == 0
    result = read_result(tmp_path)
    assert sorted(result["under_load"]) == ["0", "1"]
    for name in ("ar", "lookup k=2"):
        assert result["under_load"]["0"][name]["share_of_idle"] == 1.0
        assert result["under_load"]["1"][name]["tokens_per_second_median"] > 0
        assert result["summaries"]["1 busy cores"][name]["all_match_ar"]
    loaded = [m for m in result["measurements"] if m["details"].get("busy_cores") == 1]
    assert len(loaded) == 2 * 2  # prompts × runners, tagged
    assert "Under background load" in next(tmp_path.glob("decode-*.md")).read_text()
