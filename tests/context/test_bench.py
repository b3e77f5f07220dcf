"""The prompt-build benchmark runs end to end (timings are reported, never asserted)."""

from __future__ import annotations

import ast

from sdsat_lsp.context.bench import bench_prompt_build, generated_source


def test_generated_source_is_valid_python_of_the_requested_length() -> None:
    text = generated_source(600)
    assert text.count("\n") == 600
    ast.parse(text)


def test_bench_reports_every_phase() -> None:
    result = bench_prompt_build(lines=400, edits=12, budget_tokens=256)
    assert result["lines"] > 400  # the typed statements added lines
    assert result["edits"] == 12
    assert 0 < result["prompt_tokens_median"] <= 256
    for phase in ("change", "reparse", "build", "total"):
        assert result[f"{phase}_ms_median"] >= 0
        assert result[f"{phase}_ms_p90"] >= result[f"{phase}_ms_median"]
