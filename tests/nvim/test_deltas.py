"""The append form of sdsat/completionDelta in the plugin: offsets in UTF-16, gaps, the old form.

`sdsat.delta.apply` on its own, then the plugin end to end against a scripted server
(scripted_server.py) that sends exact deltas, so what is drawn is known to the character.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from nvim_harness import Editor

# Python's None arrives as vim.NIL; the plugin holds an unknown text as nil.
APPLY = """
local before, params = ...
return require("sdsat.delta").apply(before ~= vim.NIL and before or nil, params)
"""
SCRIPTED_SERVER = Path(__file__).with_name("scripted_server.py")


@pytest.mark.parametrize(
    ("before", "params", "after"),
    [
        ("", {"offset": 0, "text": "ret"}, "ret"),
        ("ret", {"offset": 3, "text": "urn"}, "return"),
        ("return a", {"offset": 6, "text": "\n"}, "return\n"),  # a rewritten tail
        ('x = "é', {"offset": 6, "text": '"'}, 'x = "é"'),  # é: 2 bytes, 1 unit
        ("😀 = 1", {"offset": 2, "text": " == 2"}, "😀 == 2"),  # 😀: 4 bytes, 2 units
        ("😀", {"offset": 1, "text": "x"}, None),  # inside a surrogate pair
        ("ret", {"offset": 4, "text": "x"}, None),  # past the text held: a delta is missing
        (None, {"offset": 2, "text": "x"}, None),  # unknown stays unknown ...
        (None, {"offset": 0, "text": "abc"}, "abc"),  # ... until an offset of 0
        ("ret", {"text": "return"}, "return"),  # no offset: the whole text so far
        (None, {"text": "return"}, "return"),
    ],
)
def test_apply(
    editor: Editor, before: str | None, params: dict[str, Any], after: str | None
) -> None:
    assert editor.lua(APPLY, before, params) == after


def scripted(editor: Editor, tmp_path: Path) -> Path:
    """The plugin on the scripted server; returns the file it writes the capabilities to."""
    capabilities = tmp_path / "capabilities.json"
    editor.setup({"cmd": [sys.executable, str(SCRIPTED_SERVER), str(capabilities)]})
    editor.edit(tmp_path / "script.py", ["x = 1"])
    editor.wait_for(capabilities.exists, timeout=30, what="initialize")
    return capabilities


def streamed(editor: Editor, script: str) -> tuple[list[str], str]:
    """Types `script` on a new line; returns the drawn deltas' texts and the drawn response."""
    editor.lua("_G.test_renders = {}")
    editor.type(f"o{script}")

    def answered() -> dict[str, Any] | None:
        return next((r for r in editor.renders() if r["final"]), None)

    final = editor.wait_for(answered, timeout=20, what=f"the response to {script!r}")
    drawn = [r for r in editor.renders() if r["request_id"] == final["request_id"]]
    deltas = [r["text"] for r in drawn if not r["final"]]
    editor.type("<Esc>")
    return deltas, final["text"]


def test_append_deltas_are_asked_for_and_drawn_exactly(editor: Editor, tmp_path: Path) -> None:
    capabilities = scripted(editor, tmp_path)
    assert json.loads(capabilities.read_text()) == {"sdsat": {"completionDelta": "append"}}
    deltas, final = streamed(editor, "unicode")
    assert deltas == ['x = "é', 'x = "é😀', 'x = "é😀" + 1', 'x = "é😀" + 2', 'x = "é😀" + 2\n']
    assert final == 'x = "é😀" + 2\n'
    stats = editor.stats()
    assert (stats["deltas_append"], stats["deltas_whole"], stats["delta_gaps"]) == (5, 0, 0)
    assert editor.errors() == []


def test_a_missing_delta_draws_nothing_until_offset_0_and_the_response_still_shows(
    editor: Editor, tmp_path: Path
) -> None:
    scripted(editor, tmp_path)
    deltas, final = streamed(editor, "gap")
    assert deltas == ["ab", "abcd", "abcde"]
    assert final == "abcdef"
    assert editor.stats()["delta_gaps"] == 2
    assert editor.errors() == []


def test_whole_text_deltas_still_work(editor: Editor, tmp_path: Path) -> None:
    scripted(editor, tmp_path)
    deltas, final = streamed(editor, "whole")
    assert deltas == ["a", "ab", "abc"]
    assert final == "abc"
    assert editor.stats()["deltas_whole"] == 3
