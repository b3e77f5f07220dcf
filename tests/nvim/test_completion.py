"""Ghost text end to end: real Neovim, real server, a tiny real model.

One editor and one server serve the whole module (starting the server costs seconds); each test
opens its own file. The tiny model's text is arbitrary but deterministic.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nvim_harness import Editor, running_editor, tiny_settings, wait_until_ready

# Starting the server and loading the model takes 20-40 s on a busy 2-core machine.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(
    tmp_path_factory: pytest.TempPathFactory, server_command: list[str], tiny_model: Path
) -> Iterator[tuple[Editor, Path, Path]]:
    home = tmp_path_factory.mktemp("nvim-completion")
    log_file = home / "latency.jsonl"
    with running_editor(home) as editor:
        editor.setup({"cmd": server_command, "settings": tiny_settings(tiny_model, log_file)})
        editor.edit(home / "start.py", ["x = 1"])
        wait_until_ready(editor)
        yield editor, log_file, home


@pytest.fixture
def served(session: tuple[Editor, Path, Path]) -> Iterator[tuple[Editor, Path, Path]]:
    editor = session[0]
    editor.lua("_G.test_renders = {}; _G.test_notes = {}")
    yield session
    editor.type("<Esc>")
    editor.wait_for(lambda: editor.mode() == "n", what="normal mode")
    assert editor.errors() == []
    assert editor.stats()["errors"] == 0, editor.plugin_notes()


def log_records(log_file: Path) -> list[dict[str, Any]]:
    if not log_file.exists():
        return []
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]


def final_render(editor: Editor, timeout: float = 60.0) -> dict[str, Any]:
    """Waits for the response of the latest request to be drawn (non-empty)."""

    def check() -> dict[str, Any] | None:
        for render in reversed(editor.renders()):
            if render["final"] and render["text"]:
                return render
        return None

    return editor.wait_for(check, timeout=timeout, what="a final suggestion")


def type_until_suggested(editor: Editor, prefixes: list[str]) -> dict[str, Any]:
    """Types each prefix on a fresh line until the model suggests something non-empty."""
    for prefix in prefixes:
        editor.lua("_G.test_renders = {}")
        editor.type(f"o{prefix}")
        try:
            return final_render(editor, timeout=30)
        except AssertionError:
            editor.type("<Esc>")
    raise AssertionError(f"the tiny model suggested nothing after any of {prefixes}")


PREFIXES = ["    return a", "    total = ", "    if b:", "    # add", "    print("]


def test_ghost_text_grows_across_deltas_then_shows_the_response(
    served: tuple[Editor, Path, Path],
) -> None:
    editor, _, home = served
    editor.edit(home / "grow.py", ["def add(a, b):"])
    final = type_until_suggested(editor, PREFIXES)
    request_id = final["request_id"]
    renders = [render for render in editor.renders() if render["request_id"] == request_id]
    deltas = [render for render in renders if not render["final"]]

    assert len(deltas) >= 2, renders
    # The server sent the append form (offset + new text), and each delta fitted.
    stats = editor.stats()
    assert stats["deltas_append"] >= len(deltas) and stats["deltas_whole"] == 0, stats
    assert stats["delta_gaps"] == 0, stats
    texts = [render["text"] for render in deltas]
    for shorter, longer in itertools.pairwise(texts):
        assert longer.startswith(shorter) and len(longer) > len(shorter), texts
    cursor_row, cursor_col = editor.nvim.current.window.cursor
    tabstop = editor.nvim.current.buffer.options["tabstop"]
    for render in renders:
        # What the extmark shows at that moment is the text, at the cursor.
        [mark] = render["extmarks"]
        assert (mark["row"], mark["col"]) == (cursor_row - 1, cursor_col)
        assert mark["text"] == render["text"].replace("\t", " " * tabstop)
        if not render["text"].startswith("\n"):
            assert mark["pos"] == "inline"
    assert final["text"].startswith(texts[-1].rstrip()) or texts[-1].startswith(final["text"])
    # The cursor shows before the ghost text, where typed text goes.
    screen_col = editor.lua("vim.cmd.redraw() return vim.fn.wincol()")
    assert screen_col == len(editor.lines()[cursor_row - 1]) + 1


def test_tab_accepts_the_suggestion(served: tuple[Editor, Path, Path]) -> None:
    editor, _, home = served
    editor.edit(home / "accept.py", ["def add(a, b):"])
    final = type_until_suggested(editor, PREFIXES)
    line_before = editor.lines()[-1]
    row_before = len(editor.lines())
    shown = editor.ghost()
    assert shown is not None and shown["text"] == final["text"]

    editor.type("<Tab>")
    accepted = line_before + final["text"]
    editor.wait_for(
        lambda: "\n".join(editor.lines()[row_before - 1 :]).startswith(accepted),
        timeout=10,
        what="the accepted text in the buffer",
    )
    assert "\n".join(editor.lines()[row_before - 1 :]) == accepted
    row, col = editor.nvim.current.window.cursor
    last_line = accepted.split("\n")[-1]
    assert (row, col) == (row_before + accepted.count("\n"), len(last_line.encode()))


def test_tab_falls_through_when_nothing_is_shown(served: tuple[Editor, Path, Path]) -> None:
    editor, _, home = served
    editor.edit(home / "plain.txt", ["notes"])
    editor.wait_for(
        lambda: (
            editor.lua("return vim.fn.maparg('<Tab>', 'i', false, true).desc")
            == "sdsat: accept all"
        ),
        what="the buffer's <Tab> mapping",
    )
    editor.nvim.command("setlocal noexpandtab")
    # One batch of keys: <Tab> arrives before the debounce could even send a request.
    editor.type("oa<Tab>b")
    editor.wait_for(lambda: editor.lines()[-1] == "a\tb", timeout=10, what="a literal tab")


def test_typing_over_a_suggestion_cancels_its_request(served: tuple[Editor, Path, Path]) -> None:
    editor, log_file, home = served
    editor.edit(home / "cancel.py", ["def add(a, b):"])
    # On the first streamed delta, type one more character, as a user typing on would.
    install = """
      _G.test_cancel = { id = nil }
      vim.api.nvim_create_autocmd("User", {
        pattern = "SdsatGhostText",
        callback = function(args)
          if args.data.final or _G.test_cancel.id then return end
          _G.test_cancel.id = require("sdsat.completion").pending().id
          vim.api.nvim_feedkeys("Z", "t", false)
          return true  -- once
        end,
      })
    """
    outcome = None
    for prefix in PREFIXES:
        editor.lua(install)
        editor.type(f"o{prefix}")
        request_id = editor.wait_for(
            lambda: editor.lua("return _G.test_cancel.id or vim.NIL"),
            timeout=60,
            what="a streamed delta",
        )
        record = editor.wait_for(
            lambda rid=request_id: next(
                (r for r in log_records(log_file) if r["request_id"] == rid), None
            ),
            timeout=30,
            what="the latency record of the superseded request",
        )
        outcome = record["outcome"]
        editor.type("<Esc>")
        if outcome == "done":
            continue  # it finished before the cancellation arrived: try again
        break
    # Stopped early: "cancelled" when the server saw $/cancelRequest first, "stale" when it saw
    # the edit too by the time it checked (both mean: no result for the old text).
    assert outcome in ("cancelled", "stale"), outcome
    assert request_id in editor.stats()["cancelled"]
    assert not [r for r in editor.renders() if r["request_id"] == request_id and r["final"]]


def test_deltas_for_other_requests_or_versions_are_ignored(
    served: tuple[Editor, Path, Path],
) -> None:
    editor, _, home = served
    editor.edit(home / "stale.py", ["def add(a, b):"])
    editor.type("o    return")
    editor.wait_for(
        lambda: editor.lua("return require('sdsat.completion').pending() ~= nil"),
        what="a request in flight",
    )
    shown = editor.lua(
        """
        local completion = require("sdsat.completion")
        local pending = completion.pending()
        if not pending then return vim.NIL end
        local bufnr = vim.api.nvim_get_current_buf()
        local client = require("sdsat.server").client(bufnr)
        local position = vim.lsp.util.make_position_params(0, client.offset_encoding).position
        local version = vim.lsp.util.buf_versions[bufnr]
        local base = { uri = vim.uri_from_bufnr(bufnr), position = position, text = "STALE" }
        local ctx = { client_id = client.id }
        completion.on_delta(nil, vim.tbl_extend("force", base,
          { id = pending.id - 1, version = version }), ctx)
        completion.on_delta(nil, vim.tbl_extend("force", base,
          { id = pending.id, version = version - 1 }), ctx)
        completion.on_delta(nil, vim.tbl_extend("force", base,
          { id = pending.id, version = version, uri = "file:///elsewhere.py" }), ctx)
        local ghost = require("sdsat.ghost").current()
        return ghost and ghost.text or ""
        """
    )
    if shown is None:
        pytest.skip("the request finished before the check ran")
    assert "STALE" not in shown
    assert all("STALE" not in render["text"] for render in editor.renders())


def test_checkhealth_reports_the_running_server(served: tuple[Editor, Path, Path]) -> None:
    editor, _, _ = served
    editor.nvim.command("checkhealth sdsat")
    report = "\n".join(editor.lines())
    editor.nvim.command("bwipeout")
    assert "OK Neovim 0.1" in report
    assert "OK options are valid" in report
    assert "OK found " in report
    assert "interpreter: " in report
    assert "OK the plugin knows the server's settings" in report
    assert "OK ready: model" in report
    assert "device cpu" in report
    assert "strategy ar" in report
    assert "ERROR" not in report


def test_partial_accept_inserts_the_next_word(served: tuple[Editor, Path, Path]) -> None:
    editor, _, home = served
    editor.edit(home / "word.py", ["def add(a, b):"])
    final = type_until_suggested(editor, PREFIXES)
    line_before = editor.lines()[-1]
    word = editor.lua("return require('sdsat.completion').take(...)", final["text"], "word")
    assert word and len(word) <= len(final["text"])

    editor.type("<Cmd>lua require('sdsat').accept('word')<CR>")
    expected = (line_before + word).split("\n")
    editor.wait_for(
        lambda: editor.lines()[-len(expected) :] == expected,
        timeout=10,
        what="the accepted word in the buffer",
    )


def test_typing_what_the_ghost_text_shows_keeps_the_rest(
    served: tuple[Editor, Path, Path],
) -> None:
    editor, _, home = served
    editor.edit(home / "through.py", ["def add(a, b):"])
    for prefix in PREFIXES:
        final = type_until_suggested(editor, [prefix])
        first = final["text"][:1]
        if first.isascii() and first.isprintable() and first != "<":
            break
        editor.type("<Esc>")
    else:
        pytest.skip("no suggestion starting with a printable character")
    editor.type(first)
    # Right after the keystroke (before the next request could answer) the rest stays shown.
    shown = editor.wait_for(editor.ghost, timeout=5, what="ghost text after typing through")
    assert shown["text"] == final["text"][1:]
