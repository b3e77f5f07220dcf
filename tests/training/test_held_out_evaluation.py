"""`sdsat-lsp train evaluate --quality-set`: completion points from held-out code, every
strategy × k through the engine, outputs checked against `ar` (tiny real model, fixture set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdsat_lsp.bench.quality.points import KINDS
from sdsat_lsp.cli import main

_MODULE_A = """from pkg.b import helper


def scale(value, factor):
    doubled = value * factor
    shifted = helper(doubled) + 1
    return shifted


class Box:
    def area(self, width, height):
        total = width * height
        return total + self.margin(width)

    def margin(self, width):
        padding = width // 4
        return padding * 2
"""
_MODULE_B = """def helper(value):
    result = value + 7
    return result


def function_3(value):
    other = helper(value) - 3
    return other + 3
"""


@pytest.fixture
def held_out_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache holding the `marshmallow` set as `make quality-data` lays it out (fixture code)."""
    root = tmp_path / "cache" / "quality" / "marshmallow"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "a.py").write_text(_MODULE_A)
    (root / "src" / "pkg" / "b.py").write_text(_MODULE_B)
    (root / "LICENSE").write_text("MIT\n")
    (root / "STAMP").write_text("marshmallow==4.4.0\n")
    monkeypatch.setenv("SDSAT_LSP_CACHE", str(tmp_path / "cache"))
    return root


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, corpus: Path) -> Path:
    """A 2-step k=2 SAT adapter over the tiny random model (trained by the real command)."""
    output = tmp_path_factory.mktemp("artifact")
    where = ["--base", str(tiny_dir), "--data", str(corpus), "--output", str(output)]
    sizes = ["--max-steps", "2", "--seq-len", "32", "--k", "2", "--lora-rank", "2"]
    code = main(["train", *where, *sizes, "--eval-prompts", "0", "--no-progress"])
    assert code == 0
    return output


def test_held_out_points_every_strategy_and_k_equal_ar(
    artifact: Path, held_out_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_file = tmp_path / "report.json"
    points = ["--quality-set", "marshmallow", "--points", "6", "--prompt-tokens", "64"]
    decoding = ["--eval-new-tokens", "12", "--eval-ks", "2", "3", "--threads", "1"]
    code = main(
        ["train", "evaluate", str(artifact), *points, *decoding, "--report", str(report_file)]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads(report_file.read_text())
    assert printed == report
    assert (report["k"], report["trained_k"]) == (2, 2)
    source = report["source"]
    (held_out,) = source["sets"]
    assert held_out["name"] == "marshmallow" and held_out["package"] == "pypi:marshmallow==4.4.0"
    assert held_out["files"] == 2 and held_out["points"] == 6 == source["points"]
    assert held_out["path"] == str(held_out_cache)
    assert set(source["kinds"]) == set(KINDS) and sum(source["kinds"].values()) == 6
    assert all(name.startswith("marshmallow/pkg/") for name in source["names"])
    assert 0 < source["mean_prompt_tokens"] <= 64 + 8  # a kept line may overrun; + FIM/BOS ids
    rows = {(row["strategy"], row["k"]): row for row in report["acceptance"]}
    assert set(rows) == {(s, k) for s in ("sdsat", "sdsat-tree") for k in (2, 3)}
    for row in rows.values():
        assert row["prompts"] == 6 and row["equals_greedy"] == 6  # each output is ar's
        assert row["rounds"] > 0 and row["passes"] > 0 and row["new_tokens"] > 0
        assert row["tokens_per_pass"] == round(row["new_tokens"] / row["passes"], 4)
        assert len(row["per_prompt"]) == 6  # (new tokens, passes) per point, for pairing
        assert [sum(column) for column in zip(*row["per_prompt"], strict=True)] == [
            row["new_tokens"],
            row["passes"],
        ]
    assert rows[("sdsat", 3)]["drafted_tokens"] == 3 * rows[("sdsat", 3)]["rounds"]
    assert report["all_equal_ar"] is True
    assert len(report["sat_accuracy"]["sat_accuracy_greedy"]) == 3  # the largest k

    # The same adapter again, paired with the first run point by point: no difference.
    again = ["--eval-new-tokens", "12", "--eval-ks", "2", "--strategies", "sdsat", "--threads", "1"]
    compare = ["--compare", str(report_file)]
    assert main(["train", "evaluate", str(artifact), *points, *again, *compare]) == 0
    (difference,) = json.loads(capsys.readouterr().out)["compared_with"]["differences"]
    assert (difference["strategy"], difference["k"]) == ("sdsat", 2)
    assert difference["paired_difference"] == {"mean": 0.0, "low": 0.0, "high": 0.0, "n": 6}
    # A report from before per-point counts: nothing to pair, the run's own figures still come.
    for row in report["acceptance"]:
        del row["per_prompt"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(report))
    assert main(["train", "evaluate", str(artifact), *points, *again, "--compare", str(older)]) == 0
    unpaired = json.loads(capsys.readouterr().out)
    assert unpaired["compared_with"]["differences"] == [] and unpaired["acceptance"]
    other_points = ["--quality-set", "marshmallow", "--points", "4", *again, *compare]
    assert main(["train", "evaluate", str(artifact), *other_points]) == 2
    assert "measured on other points" in capsys.readouterr().err


def test_missing_or_unknown_set_is_a_clear_error(
    artifact: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SDSAT_LSP_CACHE", str(tmp_path / "empty"))
    evaluate = ["train", "evaluate", str(artifact), "--quality-set"]
    assert main([*evaluate, "tomlkit"]) == 2
    assert "make quality-data" in capsys.readouterr().err
    assert main([*evaluate, "numpy"]) == 2
    assert "unknown quality set numpy" in capsys.readouterr().err
    assert main(["train", "evaluate", str(artifact), "--humaneval", "1", "--compare", "x"]) == 2
    assert "needs --quality-set" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"acceptance": [{"k": 2}]}')
    assert main([*evaluate, "marshmallow", "--compare", str(broken)]) == 2
    assert "not a train evaluate --quality-set report" in capsys.readouterr().err
