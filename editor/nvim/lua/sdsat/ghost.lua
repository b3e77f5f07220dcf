-- Ghost text: one suggestion shown with an extmark at the insert position.
--
-- The first line is inline virtual text (it pushes the rest of the line right); the following
-- lines are virtual lines below. This module draws and forgets; which text to show and when is
-- decided by sdsat.completion.

local api = vim.api

local M = {}

M.ns = api.nvim_create_namespace("sdsat.ghost")

---@class sdsat.Ghost
---@field bufnr integer
---@field row integer 0-based
---@field col integer 0-based byte column
---@field text string the whole suggestion (may contain newlines)
---@field request_id integer|nil
---@field extmark integer

---@type sdsat.Ghost|nil
local current = nil

local function expand_tabs(bufnr, line)
  if not line:find("\t", 1, true) then
    return line
  end
  local width = vim.bo[bufnr].tabstop
  return (line:gsub("\t", string.rep(" ", width)))
end

--- Draws `text` at (row, col) of `bufnr`, replacing whatever was shown.
---@return boolean shown
function M.show(bufnr, row, col, text, hl_group, request_id)
  if text == "" then
    M.clear()
    return false
  end
  local lines = vim.split(text, "\n", { plain = true })
  local virt_lines = {}
  for index = 2, #lines do
    table.insert(virt_lines, { { expand_tabs(bufnr, lines[index]), hl_group } })
  end
  local opts = {
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
    -- Text typed at the mark goes before it, so in insert mode the cursor shows before the
    -- ghost text (with false, Neovim draws the cursor after it).
    right_gravity = true,
  }
  if lines[1] ~= "" then
    opts.virt_text = { { expand_tabs(bufnr, lines[1]), hl_group } }
    opts.virt_text_pos = "inline"
  end
  if current and current.bufnr == bufnr then
    opts.id = current.extmark
  else
    M.clear()
  end
  local ok, extmark = pcall(api.nvim_buf_set_extmark, bufnr, M.ns, row, col, opts)
  if not ok then
    M.clear()
    return false
  end
  current = {
    bufnr = bufnr,
    row = row,
    col = col,
    text = text,
    request_id = request_id,
    extmark = extmark,
  }
  return true
end

--- Removes the ghost text, if any.
function M.clear()
  if current then
    pcall(api.nvim_buf_del_extmark, current.bufnr, M.ns, current.extmark)
    current = nil
  end
end

--- The suggestion now shown, or nil.
---@return sdsat.Ghost|nil
function M.current()
  return current
end

return M
