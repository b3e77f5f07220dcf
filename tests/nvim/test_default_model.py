"""A real streamed completion on the default model, in the append form, drawn as it grows."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from nvim_harness import Editor, wait_until_ready

pytestmark = [pytest.mark.default_model, pytest.mark.slow]


def test_ghost_text_grows_over_append_deltas_on_the_default_model(
    editor: Editor, server_command: list[str], tmp_path: Path
) -> None:
    settings = {"device": "cpu", "maxNewTokens": 48, "logFile": str(tmp_path / "latency.jsonl")}
    editor.setup({"cmd": server_command, "settings": settings})
    editor.edit(tmp_path / "area.py", ["import math", "", "", "def area_of_circle(radius):"])
    wait_until_ready(editor)
    editor.lua("_G.test_renders = {}")
    editor.type("o    return math.")

    def answered() -> dict[str, object] | None:
        return next((r for r in reversed(editor.renders()) if r["final"] and r["text"]), None)

    final = editor.wait_for(answered, timeout=120, what="a suggestion from the default model")
    drawn = [r for r in editor.renders() if r["request_id"] == final["request_id"]]
    texts = [str(r["text"]) for r in drawn if not r["final"]]
    # Each text so far continues the one before (a stop rule may cut the tail back once the
    # model writes past the end of the block); a wrong offset would garble it.
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before) or before.startswith(after), texts
    growth = [after for before, after in itertools.pairwise(texts) if len(after) > len(before)]
    assert len(growth) >= 2, texts
    final_text = str(final["text"])
    assert final_text.startswith(texts[-1].rstrip()) or texts[-1].startswith(final_text)
    stats = editor.stats()
    assert stats["deltas_append"] >= len(texts) and stats["deltas_whole"] == 0, stats
    assert stats["delta_gaps"] == 0, stats
    assert editor.errors() == []
