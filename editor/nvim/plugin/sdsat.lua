-- Loaded by Neovim at start-up. Nothing starts here: call require("sdsat").setup({...}).
if vim.g.loaded_sdsat then
  return
end
vim.g.loaded_sdsat = true

if vim.fn.has("nvim-0.10") ~= 1 then
  vim.api.nvim_echo({ { "sdsat: needs Neovim 0.10 or newer", "WarningMsg" } }, true, {})
  return
end
