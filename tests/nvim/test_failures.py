"""The plugin never raises when the server is missing or dies: it says so once, then stays quiet."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from nvim_harness import Editor, wait_until_ready

WARN = 3


def test_missing_server_command_notifies_once_and_typing_still_works(
    editor: Editor, tmp_path: Path
) -> None:
    editor.setup({"cmd": ["sdsat-lsp-not-installed-here", "serve"]})
    editor.edit(tmp_path / "a.txt", ["x = 1"])  # a text file: <Tab> inserts a tab
    editor.type("Ogreet<Tab>y<Esc>")
    editor.edit(tmp_path / "b.py", ["y = 2"])
    editor.type("Ahello<Esc>")
    editor.wait_for(lambda: editor.mode() == "n", what="normal mode")

    assert editor.lines() == ["y = 2hello"]
    editor.nvim.command("buffer 1")
    assert editor.lines()[0] == "greet\ty"
    notes = editor.plugin_notes()
    assert len(notes) == 1, notes
    assert notes[0]["level"] == WARN
    assert "sdsat-lsp-not-installed-here" in notes[0]["message"]
    assert "not found" in notes[0]["message"]
    assert editor.errors() == []
    assert not editor.client_running()


def test_server_that_exits_at_start_notifies_once(editor: Editor, tmp_path: Path) -> None:
    editor.setup({"cmd": [sys.executable, "-c", "import sys; sys.exit(3)"]})
    editor.edit(tmp_path / "a.py", ["x = 1"])
    editor.wait_for(lambda: editor.plugin_notes(), timeout=20, what="the failure notification")
    editor.type("Oabc<Tab>d<Esc>")
    editor.edit(tmp_path / "b.py", ["y = 2"])
    editor.type("Aef<Esc>")
    editor.wait_for(lambda: editor.mode() == "n", what="normal mode")

    notes = editor.plugin_notes()
    assert len(notes) == 1, notes
    assert "exit code 3" in notes[0]["message"]
    assert ":SdsatRestart" in notes[0]["message"]
    assert editor.lines() == ["y = 2ef"]
    assert editor.errors() == []
    # The failure stays put: no second process for the second buffer.
    assert not editor.client_running()


@pytest.mark.slow
def test_server_killed_while_typing_raises_nothing(
    served: tuple[Editor, Path], tmp_path: Path
) -> None:
    editor, _ = served
    editor.edit(tmp_path / "a.py", ["def add(a, b):", ""])
    editor.wait_for(editor.client_running, what="the server")
    editor.type("Gi    ret")
    editor.wait_for(lambda: editor.renders(), timeout=60, what="ghost text")

    children = editor.lua("return vim.api.nvim_get_proc_children(vim.fn.getpid())")
    assert children, "the server should be a child of Neovim"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    editor.wait_for(lambda: not editor.client_running(), what="the client to stop")
    editor.type("urn a<Tab>b<Esc>")
    editor.wait_for(lambda: editor.plugin_notes(), timeout=20, what="the failure notification")
    editor.type("ox<Esc>")
    editor.wait_for(lambda: editor.mode() == "n", what="normal mode")

    notes = editor.plugin_notes()
    assert len(notes) == 1, notes
    assert "stopped" in notes[0]["message"]
    assert editor.lines()[-1] == "x"
    assert editor.errors() == []

    # :SdsatRestart brings completions back.
    editor.nvim.command("SdsatRestart")
    wait_until_ready(editor)
    assert editor.lua("return require('sdsat.server').failure()") is None
    editor.lua("_G.test_renders = {}")
    editor.type("o    ret")
    editor.wait_for(lambda: editor.renders(), timeout=120, what="ghost text after the restart")
    assert editor.errors() == []


def test_checkhealth_reports_a_missing_server(editor: Editor) -> None:
    editor.setup({"cmd": ["sdsat-lsp-not-installed-here", "serve"]})
    editor.nvim.command("checkhealth sdsat")
    report = "\n".join(editor.lines())
    assert "OK Neovim 0.1" in report
    assert 'ERROR "sdsat-lsp-not-installed-here" not found' in report
    assert "pip install" in report or "make setup" in report
    assert editor.errors() == []


def test_checkhealth_runs_before_setup(editor: Editor) -> None:
    editor.nvim.command("checkhealth sdsat")
    report = "\n".join(editor.lines())
    assert "setup() has not been called" in report
    assert editor.errors() == []
