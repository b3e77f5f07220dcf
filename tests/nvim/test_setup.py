"""setup(): option validation, the double-call guard, and the settings mirrored from the server."""

from __future__ import annotations

import json
import subprocess

import pytest
from nvim_harness import SERVER, Editor

ERROR = 4
WARN = 3


def server_settings_schema() -> list[dict[str, object]]:
    result = subprocess.run(
        [str(SERVER), "settings", "--json"], capture_output=True, text=True, check=True
    )
    return list(json.loads(result.stdout))


def test_plugin_settings_match_the_server_schema(editor: Editor) -> None:
    if not SERVER.exists():
        pytest.skip("sdsat-lsp not installed")
    expected = [
        {key: value for key, value in entry.items() if key != "doc"}
        for entry in server_settings_schema()
    ]
    actual = editor.lua("return require('sdsat.settings').schema")
    assert actual == expected


def test_valid_options_are_accepted_quietly(editor: Editor) -> None:
    editor.setup(
        {
            "cmd": ["sdsat-lsp-that-does-not-exist", "serve"],
            "settings": {"strategy": "ar", "maxNewTokens": 16, "prefixReuse": False},
            "filetypes": ["python"],
            "keymaps": {"accept": "<C-l>", "accept_word": "<M-Right>", "dismiss": False},
            "hl_group": "Comment",
        }
    )
    diagnostics = editor.lua("return require('sdsat').diagnostics()")
    assert diagnostics["problems"] == []
    assert editor.notes() == []
    assert diagnostics["config"]["keymaps"]["accept"] == "<C-l>"
    assert diagnostics["config"]["settings"] == {
        "strategy": "ar",
        "maxNewTokens": 16,
        "prefixReuse": False,
    }


def test_invalid_options_are_reported_once_and_defaults_apply(editor: Editor) -> None:
    editor.setup(
        {
            "cmd": "sdsat-lsp serve",
            "colour": "blue",
            "keymaps": {"accept": 1, "explode": "<F1>"},
            "settings": {
                "maxNewTokens": "16",
                "strategy": "fast",
                "k": 1.5,
                "bogus": True,
                "device": "cpu",
            },
        }
    )
    notes = editor.notes()
    assert len(notes) == 1
    assert notes[0]["level"] == ERROR
    message = notes[0]["message"]
    for fragment in [
        'unknown option "colour"',
        "cmd: expected a non-empty list of strings",
        "keymaps.accept: expected a key",
        "keymaps.explode: unknown key",
        "settings.maxNewTokens: expected integer",
        "settings.strategy: expected one of auto|ar|sdsat|sdsat-tree|lookup",
        "settings.k: expected integer",
        "settings.bogus: unknown setting",
    ]:
        assert fragment in message, message
    config = editor.lua("return require('sdsat').diagnostics().config")
    assert config["cmd"] == ["sdsat-lsp", "serve"]
    assert config["keymaps"]["accept"] == "<Tab>"
    assert config["settings"] == {"device": "cpu"}
    assert editor.errors() == []


def test_setup_twice_warns_and_keeps_the_first_configuration(editor: Editor) -> None:
    editor.setup({"enabled": False, "hl_group": "Comment"})
    editor.setup({"enabled": True, "hl_group": "Error"})
    notes = editor.notes()
    assert [note["level"] for note in notes] == [WARN]
    assert "already called" in notes[0]["message"]
    assert editor.lua("return require('sdsat').diagnostics().config.hl_group") == "Comment"


def test_setup_with_a_non_table_is_reported(editor: Editor) -> None:
    editor.lua("require('sdsat').setup('yes please')")
    notes = editor.notes()
    assert len(notes) == 1 and "expects a table" in notes[0]["message"]


def test_disabled_starts_nothing(editor: Editor, tmp_path) -> None:
    editor.setup({"enabled": False})
    editor.edit(tmp_path / "a.py", ["x = 1"])
    assert not editor.client_running()
    assert editor.notes() == []


def test_plugin_file_is_guarded_and_starts_nothing(editor: Editor) -> None:
    assert editor.lua("return vim.g.loaded_sdsat") is True
    editor.lua("vim.cmd.runtime('plugin/sdsat.lua')")
    assert editor.notes() == []
    # Nothing is set up until setup() is called.
    assert editor.lua("return vim.fn.exists('#sdsat')") == 0
    assert editor.lua("return require('sdsat').diagnostics().did_setup") is False


def test_partial_accept_takes_a_word_or_a_line(editor: Editor) -> None:
    take = "return require('sdsat.completion').take(...)"
    assert editor.lua(take, "foo_bar(x)", "word") == "foo_bar"
    assert editor.lua(take, "  (x, y)", "word") == "  ("
    assert editor.lua(take, "\n    return 1", "word") == "\n    return"
    assert editor.lua(take, "a + b\n    c", "line") == "a + b"
    assert editor.lua(take, "\n    return 1\nx", "line") == "\n    return 1"
    assert editor.lua(take, "abc", "all") == "abc"
