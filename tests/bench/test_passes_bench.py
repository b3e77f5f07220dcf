"""`sdsat-lsp bench passes` on a tiny real model: one report entry per configuration, and the
first generated line of every held-out point kept per configuration, so two runs (another
commit, another host) can be compared point by point. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdsat_lsp.cli import main


def test_passes_report_keeps_each_points_first_line_per_configuration(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "passes.json"
    args = ["bench", "passes", "--model", str(tiny_model_dir), "--configs", "static,static-int4"]
    args += ["--threads", "1", "--k", "2", "--tokens", "8", "--repeats", "1", "--points", "3"]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report) == ["static", "static-int4"]
    reference, quantized = report["static"]["first_lines"], report["static-int4"]["first_lines"]
    assert len(reference) == 3 and set(reference) == set(quantized)
    assert report["static"]["same_line_as_first"] == 1.0
    same = sum(quantized[name] == line for name, line in reference.items())
    assert report["static-int4"]["same_line_as_first"] == round(same / 3, 3)
    shown = capsys.readouterr().out
    assert "| static-int4 |" in shown and "first_lines" not in shown  # the console stays short
