-- sdsat.nvim: streamed ghost-text completions from the local sdsat-lsp server.
--
--   require("sdsat").setup({ settings = { model = "smollm2-135m" } })
--
-- This module is the entry point: options, autocommands, keys and user commands. The server
-- lifecycle is in sdsat.server, requests and ghost text in sdsat.completion / sdsat.ghost.

local api = vim.api

local M = {}

local did_setup = false
local setup_problems = {} ---@type string[]
local resolved = nil ---@type table|nil
local internal_errors = {} ---@type string[]

--- Runs `fn` so that a bug in the plugin never raises inside the user's typing.
local function safely(fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok then
      table.insert(internal_errors, tostring(err))
      if #internal_errors == 1 then
        vim.schedule(function()
          vim.notify("[sdsat] internal error: " .. tostring(err), vim.log.levels.WARN)
        end)
      end
    end
  end
end

local function wanted(bufnr)
  if not api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return false
  end
  if api.nvim_buf_get_name(bufnr) == "" then
    return false -- the server needs a file URI
  end
  local filetypes = resolved.filetypes
  return #filetypes == 0 or vim.tbl_contains(filetypes, vim.bo[bufnr].filetype)
end

local function maybe_attach(bufnr)
  if wanted(bufnr) and not require("sdsat.server").client(bufnr) then
    require("sdsat.server").attach(bufnr)
  end
end

local function map_keys(bufnr)
  local completion = require("sdsat.completion")
  local keymaps = resolved.keymaps
  local accept_kinds = { accept = "all", accept_word = "word", accept_line = "line" }
  for option, kind in pairs(accept_kinds) do
    local key = keymaps[option]
    if key then
      vim.keymap.set("i", key, function()
        return completion.accept_expr(kind, key)
      end, { buffer = bufnr, expr = true, silent = true, desc = "sdsat: accept " .. kind })
    end
  end
  for option, step in pairs({ next = 1, prev = -1 }) do
    if keymaps[option] then
      vim.keymap.set("i", keymaps[option], function()
        completion.cycle(step)
      end, { buffer = bufnr, silent = true, desc = "sdsat: " .. option .. " alternative" })
    end
  end
  if keymaps.dismiss then
    local key = keymaps.dismiss
    vim.keymap.set("i", key, function()
      if completion.visible() then
        return "<Cmd>lua require('sdsat.completion').dismiss()<CR>"
      end
      return key
    end, { buffer = bufnr, expr = true, silent = true, desc = "sdsat: dismiss" })
  end
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= require("sdsat.server").NAME then
    return
  end
  local bufnr = args.buf
  local completion = require("sdsat.completion")
  local group = api.nvim_create_augroup("sdsat.buffer." .. bufnr, { clear = true })
  api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group,
    buffer = bufnr,
    callback = safely(function()
      completion.on_edit(bufnr)
    end),
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = safely(completion.dismiss),
  })
  map_keys(bufnr)
end

local function attached_buffers()
  local buffers = {}
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and wanted(bufnr) then
      table.insert(buffers, bufnr)
    end
  end
  return buffers
end

local function create_commands()
  api.nvim_create_user_command("SdsatRestart", function()
    require("sdsat.completion").dismiss()
    require("sdsat.server").restart(attached_buffers())
  end, { desc = "Restart the sdsat-lsp server" })
  api.nvim_create_user_command("SdsatStatus", function()
    local status, err = require("sdsat.server").request_status(2000)
    if status then
      vim.notify("[sdsat] " .. vim.inspect(status), vim.log.levels.INFO)
    else
      local failure = require("sdsat.server").failure()
      vim.notify("[sdsat] " .. (failure or err or "not running"), vim.log.levels.INFO)
    end
  end, { desc = "Show the sdsat-lsp server status" })
end

--- Configures and starts the plugin. Call it once; later calls are ignored with a warning.
---@param opts table|nil see README (editor/nvim/README.md)
function M.setup(opts)
  if did_setup then
    vim.notify("[sdsat] setup() was already called; ignoring this call", vim.log.levels.WARN)
    return
  end
  did_setup = true
  if vim.fn.has("nvim-0.10") ~= 1 then
    vim.notify("[sdsat] needs Neovim 0.10 or newer", vim.log.levels.ERROR)
    return
  end

  local config, problems = require("sdsat.config").resolve(opts)
  resolved = config
  setup_problems = problems
  if #problems > 0 then
    vim.notify(
      "[sdsat] invalid configuration (the defaults apply instead):\n  "
        .. table.concat(problems, "\n  "),
      vim.log.levels.ERROR
    )
  end

  api.nvim_set_hl(0, "SdsatGhostText", { link = "Comment", default = true })
  require("sdsat.server").configure(config)
  require("sdsat.completion").configure(config)
  create_commands()
  if not config.enabled then
    return
  end

  local group = api.nvim_create_augroup("sdsat", { clear = true })
  api.nvim_create_autocmd("LspAttach", { group = group, callback = safely(on_attach) })
  api.nvim_create_autocmd("LspRequest", {
    group = group,
    callback = safely(require("sdsat.completion").on_lsp_request),
  })
  api.nvim_create_autocmd("User", {
    group = group,
    pattern = "SdsatStopped",
    callback = safely(require("sdsat.completion").dismiss),
  })
  api.nvim_create_autocmd({ "FileType", "BufEnter" }, {
    group = group,
    callback = safely(function(args)
      maybe_attach(args.buf)
    end),
  })
  for _, bufnr in ipairs(attached_buffers()) do
    safely(maybe_attach)(bufnr)
  end
end

--- Accepts the shown suggestion; false when none is shown (for your own <Tab> logic).
---@param kind "all"|"word"|"line"|nil
function M.accept(kind)
  return require("sdsat.completion").accept(kind)
end

--- Whether a suggestion is shown at the cursor.
function M.visible()
  return require("sdsat.completion").visible()
end

--- Asks for completions at the cursor now, as a manual trigger (the server returns up to
--- `settings.alternatives` items; `next`/`prev` cycle through them).
function M.trigger()
  require("sdsat.completion").trigger()
end

--- Shows the next (step 1) or previous (-1) alternative; with none shown, triggers a request.
---@param step integer|nil
function M.cycle(step)
  require("sdsat.completion").cycle(step or 1)
end

--- The alternatives of the last manual request and which one is shown, or nil.
function M.alternatives()
  return require("sdsat.completion").alternatives()
end

--- Removes the suggestion and cancels its request.
function M.dismiss()
  require("sdsat.completion").dismiss()
end

--- The server's last `sdsat/status` (model, device, strategy, lastLatencyMs), or nil.
function M.status()
  return require("sdsat.server").last_status()
end

--- What setup() found wrong, and internal errors caught since (for :checkhealth and tests).
function M.diagnostics()
  return {
    did_setup = did_setup,
    problems = vim.deepcopy(setup_problems),
    internal_errors = vim.deepcopy(internal_errors),
    config = vim.deepcopy(resolved),
  }
end

return M
