"""The user cache of saved compiled passes stays bounded: least recently used go first."""

from __future__ import annotations

import os
from pathlib import Path

from sdsat_lsp.engine.forward.precompiled import prune_saved_passes


def test_pruning_keeps_the_most_recently_used_saved_passes_and_nothing_else(
    tmp_path: Path,
) -> None:
    paths = []
    for age, name in enumerate(["decode-1-a", "decode-5-a", "decode-1-b", "decode-5-b"]):
        path = tmp_path / f"{name}.pt2"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))  # a is newest
        paths.append(path)
    other = tmp_path / "notes.txt"  # not a saved pass: never touched
    other.write_text("keep")
    os.utime(paths[3], None)  # loaded just now: the most recently used

    deleted = prune_saved_passes(tmp_path, keep=2)

    assert sorted(p.name for p in deleted) == ["decode-1-b.pt2", "decode-5-a.pt2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "decode-1-a.pt2",
        "decode-5-b.pt2",
        "notes.txt",
    ]
    assert prune_saved_passes(tmp_path, keep=2) == []
