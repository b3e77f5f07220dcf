"""Training data: .gitignore, binaries, huge files, duplicates, a stable held-out split, and
rows of earlier runs joined to a run's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from tiny_model import build_tokenizer

from sdsat_lsp.training.data import (
    CodeDataset,
    DataError,
    DataSummary,
    build_dataset,
    list_source_files,
    load_dataset,
    merge_datasets,
    save_dataset,
)


def _tree(root: Path) -> Path:
    files = {
        "keep.py": "print('kept')\n",
        "pkg/module.py": "def f():\n    return 1\n",
        "pkg/copy.py": "def f():\n    return 1   \n",  # duplicate modulo trailing spaces
        "build/generated.py": "x = 1\n",
        "notes.txt": "not code\n",
        "pkg/tests/test_module.py": "def test(): pass\n",
        "secret.py": "ignored by a negation-free rule\n",
        "pkg/__pycache__/module.py": "cached\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "big.py").write_text("x = 1\n" * 50_000)
    (root / "blob.py").write_bytes(b"\x00\x01\x02" * 10)
    (root / ".gitignore").write_text("build/\n/secret.py\n")
    return root


@pytest.mark.parametrize("with_git", [False, True])
def test_listing_respects_gitignore_and_excludes(tmp_path: Path, with_git: bool) -> None:
    root = _tree(tmp_path / "src")
    if with_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    names = {
        path.relative_to(root).as_posix() for path in list_source_files(root, exclude=["tests"])
    }
    assert names == {"keep.py", "pkg/module.py", "pkg/copy.py", "big.py", "blob.py"}


def test_dataset_skips_binary_huge_and_duplicates(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    dataset = build_dataset(
        build_tokenizer(), [root], seq_len=8, held_out_percent=0.0, max_file_bytes=10_000
    )
    summary = dataset.summary
    assert (summary.skipped_binary, summary.skipped_large, summary.duplicates) == (1, 1, 1)
    assert summary.train_files == 3  # keep, module (or its copy), test_module
    assert dataset.train.shape[1] == 8


def test_held_out_split_is_by_file_and_stable(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    for index in range(40):
        (root / f"m{index}.py").write_text(f"value_{index} = {index * 7}\n" * 20)
    first = build_dataset(build_tokenizer(), [root], seq_len=16, held_out_percent=25.0)
    second = build_dataset(build_tokenizer(), [root], seq_len=16, held_out_percent=25.0, seed=3)
    assert 0 < first.summary.held_out_files < 40
    assert first.summary.held_out_files == second.summary.held_out_files
    held_out_text = {tuple(row.tolist()) for row in first.held_out}
    assert not held_out_text & {tuple(row.tolist()) for row in first.train}


def test_no_code_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("# nothing\n")
    with pytest.raises(DataError, match="0 code files"):
        build_dataset(build_tokenizer(), [tmp_path], seq_len=8)


def _saved(directory: Path, first: int, rows: int, seq_len: int, spans: bool) -> Path:
    """A dataset of `rows` training rows (+1 held out) whose tokens count up from `first`."""
    tokens = torch.arange(first, first + (rows + 1) * seq_len).view(rows + 1, seq_len)
    span = torch.tensor([[1, seq_len]] * (rows + 1)) if spans else None
    summary = DataSummary(directories=[str(directory)], seq_len=seq_len, train_sequences=rows)
    dataset = CodeDataset(
        tokens[:rows],
        tokens[rows:],
        summary,
        None if span is None else span[:rows],
        None if span is None else span[rows:],
    )
    save_dataset(dataset, directory)
    return directory


def test_earlier_runs_rows_join_this_runs(tmp_path: Path) -> None:
    own = _saved(tmp_path / "own", 0, rows=3, seq_len=4, spans=True)
    earlier = _saved(tmp_path / "earlier", 1000, rows=2, seq_len=4, spans=True)
    merged = merge_datasets(load_dataset(own), [earlier])  # type: ignore[arg-type]
    assert merged.train[:, 0].tolist() == [0, 4, 8, 1000, 1004]
    assert merged.held_out[:, 0].tolist() == [12, 1008]
    assert merged.train_spans is not None and merged.train_spans.shape == (5, 2)
    assert merged.held_out_spans is not None and merged.held_out_spans.shape == (2, 2)
    summary = merged.summary
    assert (summary.train_sequences, summary.held_out_sequences) == (5, 2)
    assert (summary.train_tokens, summary.held_out_tokens) == (20, 8)
    assert summary.merged_from == [str(earlier.resolve())]


def test_rows_of_another_length_or_kind_are_refused(tmp_path: Path) -> None:
    own = load_dataset(_saved(tmp_path / "own", 0, rows=2, seq_len=4, spans=True))
    assert own is not None
    longer = _saved(tmp_path / "longer", 0, rows=2, seq_len=5, spans=True)
    with pytest.raises(DataError, match="rows of 5 tokens, this run's are 4"):
        merge_datasets(own, [longer])
    code = _saved(tmp_path / "code", 0, rows=2, seq_len=4, spans=False)
    with pytest.raises(DataError, match="code as written rows, unlike this run's"):
        merge_datasets(own, [code])
    with pytest.raises(DataError, match="no saved dataset"):
        merge_datasets(own, [tmp_path / "missing"])
