"""`bench sampling` on the tiny real model: a row per temperature and strategy, tokens per pass
from real generations, plain sampling (ar) as each temperature's baseline."""

from __future__ import annotations

from pathlib import Path

from sdsat_lsp.bench.sampling import alternatives_table, measure, measure_alternatives, table
from sdsat_lsp.config import Settings
from sdsat_lsp.engine import Engine
from sdsat_lsp.model import load_model


def test_rows_per_temperature_and_strategy(tiny_model_dir: Path) -> None:
    loaded = load_model(str(tiny_model_dir), device="cpu")
    engine = Engine(loaded, Settings(model=str(tiny_model_dir), device="cpu"))
    prompts = ["abcabcabc", "def f(x):\n    return x"]
    rows = measure(engine, prompts, ["ar", "lookup", "sdsat"], [0.0, 0.8], k=3, max_new_tokens=8)
    assert [(r.temperature, r.strategy) for r in rows] == [
        (t, s) for t in (0.0, 0.8) for s in ("ar", "lookup", "sdsat")
    ]
    for row in rows:
        assert row.prompts == 2 and 0 < row.new_tokens <= 16
        assert row.tokens_per_pass > 0 and row.tokens_per_second > 0
        if row.strategy == "ar":
            assert row.tokens_per_pass == 1.0 and row.speedup == 1.0
    assert "| 0.8 | lookup | 3 |" in table(rows)


def test_alternatives_batched_against_sequential(tiny_model_dir: Path) -> None:
    loaded = load_model(str(tiny_model_dir), device="cpu")
    engine = Engine(loaded, Settings(model=str(tiny_model_dir), device="cpu"))
    prompts = ["abcabcabc", "def f(x):\n    return x"]
    rows = measure_alternatives(engine, prompts, 3, [0.0, 2.0], max_new_tokens=6)
    assert [(r.temperature, r.mode) for r in rows] == [(2.0, "sequential"), (2.0, "batched")]
    sequential, batched = rows
    # the same draws: the same tokens, in fewer passes (one per step for all three samples)
    assert batched.new_tokens == sequential.new_tokens > 0
    assert batched.forward_passes < sequential.forward_passes
    assert sequential.speedup == 1.0 and batched.wall_ms > 0
    assert "| 2 | 3 | batched |" in alternatives_table(rows)
