"""Self-distilled training rows: prompts cut where completion happens, continued greedily by the
base model itself, with SAT groups only inside the continuations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from train_config import tiny_train_config

from sdsat_lsp.model.artifact import load_adapter
from sdsat_lsp.training.config import TrainConfig
from sdsat_lsp.training.distill import completion_points, editor_points, prompt_tokens
from sdsat_lsp.training.evaluate import evaluation_engine, greedy_continuation
from sdsat_lsp.training.loop import Trainer, sample_batch

SOURCE = '''import os


def first(value):
    """Return the first item."""
    items = list(value)
    return items[0]


class Box:
    def size(self, scale):
        width = self.width * scale
        height = self.height * scale
        return width * height
'''


def write_documented_corpus(directory: Path, files: int = 12) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        functions = [
            f'def function_{index}_{n}(value):\n    """Add {n} to value."""\n'
            f"    result = value + {n}\n    return result\n"
            for n in range(6)
        ]
        (directory / f"module_{index}.py").write_text("\n\n".join(functions))
    (directory / "notes.py").write_text("this is not python (\n")
    return directory


def test_completion_points_are_after_docstrings_and_inside_bodies() -> None:
    points = completion_points(SOURCE, random.Random(0), per_file=4)
    lines = [SOURCE[:offset].splitlines()[-1] for offset in points]
    assert all(SOURCE[offset - 1] == "\n" for offset in points)  # line starts
    assert '    """Return the first item."""' in lines  # just after the docstring
    assert any(line.startswith("        ") for line in lines)  # inside Box.size's body
    assert completion_points("def broken(:\n", random.Random(0), 4) == []


def test_editor_points_are_the_quality_benchmarks_kinds_in_turn() -> None:
    points = editor_points(SOURCE, random.Random(0), per_file=6)
    tails = [SOURCE[:offset].splitlines()[-1] for offset in points]
    # next_line: a body line's indentation; body: the end of a def line; rest_of_line: inside
    assert any(tail.strip() == "" and tail.startswith("    ") for tail in tails)
    assert any(tail.lstrip().startswith("def ") and tail.endswith(":") for tail in tails)
    assert any(tail.strip() and not tail.endswith(":") for tail in tails)
    assert len(points) == 6 and points == sorted(points)
    assert editor_points(SOURCE, random.Random(0), per_file=2) != []
    assert editor_points("def broken(:\n", random.Random(0), 4) == []


class _CharTokenizer:
    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        return {"input_ids": [ord(char) for char in text]}


def test_distill_prompts_end_at_the_chosen_cursors() -> None:
    tokenizer = _CharTokenizer()
    for points in ("docstring-lines", "editor"):
        prompts = prompt_tokens(tokenizer, [SOURCE], 10_000, 0, 4, points)
        texts = ["".join(map(chr, ids)) for ids in prompts]
        assert texts and all(SOURCE.startswith(text) for text in texts)
        ends = {len(text) for text in texts}
        expected = editor_points if points == "editor" else completion_points
        assert ends == set(expected(SOURCE, random.Random(0), 4))


def _config(base: Path, corpus: Path, output: Path, **overrides: object) -> TrainConfig:
    distilled: dict[str, object] = dict(
        max_steps=4,
        sat_groups_per_seq=8,
        eval_sequences=4,
        eval_prompts=2,
        eval_new_tokens=8,
        distill_prompts=30,
        distill_context=24,
        distill_new_tokens=16,
    )
    return tiny_train_config(base, corpus, output, **{**distilled, **overrides})


def test_distilled_rows_are_the_base_models_greedy_continuations(
    pretrained_tiny_dir: Path, tmp_path: Path
) -> None:
    corpus = write_documented_corpus(tmp_path / "corpus")
    trainer = Trainer(_config(pretrained_tiny_dir, corpus, tmp_path / "out"))
    dataset = trainer.dataset
    assert dataset.train_spans is not None and dataset.held_out_spans is not None
    assert 10 <= dataset.train.shape[0] <= 30 and dataset.train.shape[1] == 24 + 16
    assert dataset.summary.options["distill_prompts"] == 30
    # No SAT in these rows: the attached adapter leaves plain greedy decoding as the base's.
    base = evaluation_engine(trainer.loaded, trainer.sat.id, trainer.config.k)
    spans = dataset.train_spans.tolist()
    for row, (start, end) in list(zip(dataset.train, spans, strict=True))[:6]:
        assert 16 <= start <= 24 and start + 8 <= end <= start + 16
        continuation = greedy_continuation(base, row[:start].tolist(), end - start)
        assert continuation == row[start:end].tolist()
    real, layout = sample_batch(dataset, trainer.config, step=0)
    rows = torch.randint(dataset.train.shape[0], (4,), generator=torch.Generator().manual_seed(0))
    row_spans = dataset.train_spans[rows]
    assert torch.equal(real, dataset.train[rows])
    targets = layout.target_indices()  # every SAT target inside the continuation
    inside = (targets >= row_spans[:, :1, None]) & (targets < row_spans[:, 1:, None])
    assert bool(inside.all())
    result = trainer.run(progress=False)
    assert result.state.step == 4
    # a second run can start from the first one's adapter
    again = Trainer(
        _config(pretrained_tiny_dir, corpus, tmp_path / "again", init_from=str(tmp_path / "out"))
    )
    saved = load_adapter(tmp_path / "out")
    assert torch.equal(again.adapter.sat_embedding.detach(), saved.sat_embedding)
    with pytest.raises(ValueError, match="lora_rank"):
        Trainer(
            _config(
                pretrained_tiny_dir,
                corpus,
                tmp_path / "mismatch",
                init_from=str(tmp_path / "out"),
                lora_rank=2,
            )
        )
