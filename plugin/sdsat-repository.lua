-- The Neovim plugin lives in editor/nvim. Plugin managers that install this repository from its
-- URL put the repository root on 'runtimepath' and source this file, which adds editor/nvim, so
-- that require("sdsat") and :checkhealth sdsat work without an rtp line in the user's config
-- (README, "Neovim"). It then sources the plugin's own start-up file, as Neovim would have.
local root = vim.fs.dirname(vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, "S").source:sub(2))))
local plugin = root .. "/editor/nvim"
local present = vim.tbl_contains(vim.tbl_map(vim.fs.normalize, vim.opt.runtimepath:get()), plugin)
if not present then
  vim.opt.runtimepath:append(plugin)
end
vim.cmd.source(vim.fn.fnameescape(plugin .. "/plugin/sdsat.lua"))
