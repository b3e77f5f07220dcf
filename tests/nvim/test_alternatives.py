"""Alternatives end to end: real Neovim, real server sampling a tiny real model. A manual
trigger (the `next` key with nothing shown) draws the first of several items; `next` and
`prev` cycle the ghost text through them, and accepting inserts the one shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nvim_harness import Editor, running_editor, tiny_settings, wait_until_ready

pytestmark = pytest.mark.slow  # a server of its own: 20-40 s on a busy 2-core machine


def test_next_and_prev_cycle_the_alternatives_of_a_manual_trigger(
    tmp_path: Path, server_command: list[str], tiny_model: Path
) -> None:
    settings = tiny_settings(tiny_model, tmp_path / "latency.jsonl")
    # The tiny random model's logits are sharp: a high temperature makes samples differ.
    settings |= {"temperature": 4.0, "alternatives": 4, "maxNewTokens": 8}
    keymaps = {"next": "<M-]>", "prev": "<M-[>"}
    with running_editor(tmp_path) as editor:
        editor.setup({"cmd": server_command, "settings": settings, "keymaps": keymaps})
        editor.edit(tmp_path / "cycle.py", ["def add(a, b):", "    return a"])
        wait_until_ready(editor)
        alternatives = None
        for _ in range(5):  # rarely the samples are all empty or all one text: ask again
            editor.type("<Esc>")
            editor.wait_for(lambda: editor.mode() == "n", what="normal mode")
            editor.type("GA")
            editor.wait_for(lambda: editor.mode() == "i", what="insert mode")
            editor.lua("require('sdsat.completion').dismiss()")  # drop the automatic one
            alternatives = trigger_and_wait_for_the_answer(editor)
            if alternatives is not None and len(alternatives["texts"]) >= 2:
                break
        assert alternatives is not None and len(alternatives["texts"]) >= 2, (
            alternatives,
            editor.renders()[-8:],
        )
        texts = alternatives["texts"]
        assert alternatives["index"] == 1 and shown(editor) == texts[0]
        editor.type("<M-]>")
        editor.wait_for(lambda: shown(editor) == texts[1], what="the second alternative")
        editor.type("<M-[>")
        editor.wait_for(lambda: shown(editor) == texts[0], what="back to the first")
        editor.type("<M-[>")
        editor.wait_for(lambda: shown(editor) == texts[-1], what="round to the last")
        editor.type("<Tab>")
        editor.wait_for(
            lambda: "\n".join(editor.lines()).endswith("return a" + texts[-1]),
            what="the shown alternative inserted",
        )
        assert editor.errors() == []


def trigger_and_wait_for_the_answer(editor: Editor) -> dict[str, Any] | None:
    """Presses `next` with nothing shown (a manual trigger) and waits for the answer's final
    render: the alternatives, or None when every sample came back empty."""
    renders_before = len(editor.renders())
    editor.type("<M-]>")
    editor.wait_for(
        lambda: any(render["final"] for render in editor.renders()[renders_before:]),
        timeout=90,
        what="the manual trigger's answer",
    )
    found = editor.lua("return require('sdsat').alternatives() or vim.NIL")
    return dict(found) if found else None


def shown(editor: Editor) -> str | None:
    ghost = editor.ghost()
    return None if ghost is None else str(ghost["text"])
