-- The language server's lifecycle: start (one process for the whole editor), attach buffers,
-- the sdsat/status extension, and failure handling.
--
-- A missing command or a crashed server is reported once; afterwards the plugin stays quiet and
-- offers nothing until :SdsatRestart. Completion requests and ghost text live in sdsat.completion.

local api = vim.api

local M = {}

M.NAME = "sdsat"

local state = {
  config = nil, ---@type table|nil
  root_dir = nil, ---@type string|nil
  failed = nil, ---@type string|nil why the server is not available
  notified = false,
  stopping = false,
  status = nil, ---@type table|nil last sdsat/status params
  handlers = {}, ---@type table<string, function> extra handlers (set by sdsat.completion)
}

--- Calls a vim.lsp.Client method on Neovim 0.10 (functions) and 0.11+ (methods).
---@param client vim.lsp.Client
---@param name string
function M.call(client, name, ...)
  if vim.fn.has("nvim-0.11") == 1 then
    return client[name](client, ...)
  end
  return client[name](...)
end

--- Tells the user once; later failures stay quiet until a restart.
---@param message string
---@param level integer|nil
function M.notify_once(message, level)
  if state.notified then
    return
  end
  state.notified = true
  vim.schedule(function()
    vim.notify("[sdsat] " .. message, level or vim.log.levels.WARN)
  end)
end

---@param config table resolved options
function M.configure(config)
  state.config = config
  state.root_dir = vim.fn.getcwd()
end

---@param name string method of a server notification
---@param handler function lsp-handler
function M.set_handler(name, handler)
  state.handlers[name] = handler
end

--- Absolute path of the server program, or nil when it is not executable.
---@param cmd string[]|nil
---@return string|nil
function M.executable(cmd)
  cmd = cmd or (state.config and state.config.cmd)
  if not cmd or not cmd[1] then
    return nil
  end
  local path = vim.fn.exepath(cmd[1])
  return path ~= "" and path or nil
end

--- Why the server is unavailable, or nil.
function M.failure()
  return state.failed
end

--- The last `sdsat/status` the server sent, or nil.
function M.last_status()
  return state.status
end

--- The running client attached to `bufnr` (any buffer when nil).
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.NAME, bufnr = bufnr })
  for _, client in ipairs(clients) do
    if not M.call(client, "is_stopped") then
      return client
    end
  end
  return nil
end

local function on_status(_, params)
  if type(params) == "table" then
    state.status = params
    api.nvim_exec_autocmds("User", { pattern = "SdsatStatus", modeline = false, data = params })
  end
end

local function on_exit(code, signal)
  vim.schedule(function()
    if state.stopping then
      return
    end
    if code ~= 0 or (signal ~= 0 and signal ~= 15) then
      state.failed = ("the server stopped (exit code %s, signal %s)"):format(code, signal)
      M.notify_once(
        state.failed
          .. "; completions are off until :SdsatRestart. Details: :checkhealth sdsat, "
          .. vim.lsp.get_log_path(),
        vim.log.levels.WARN
      )
    end
    api.nvim_exec_autocmds("User", { pattern = "SdsatStopped", modeline = false })
  end)
end

local function client_config()
  local config = state.config
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.textDocument = capabilities.textDocument or {}
  capabilities.textDocument.inlineCompletion = capabilities.textDocument.inlineCompletion
    or { dynamicRegistration = false }
  capabilities.experimental = capabilities.experimental or {}
  capabilities.experimental.sdsat = require("sdsat.delta").CAPABILITY
  local handlers = { ["sdsat/status"] = on_status }
  for name, handler in pairs(state.handlers) do
    handlers[name] = handler
  end
  local init_options = next(config.settings) and vim.deepcopy(config.settings) or vim.empty_dict()
  return {
    name = M.NAME,
    cmd = config.cmd,
    root_dir = state.root_dir,
    init_options = init_options,
    settings = { sdsat = init_options },
    capabilities = capabilities,
    handlers = handlers,
    on_exit = on_exit,
  }
end

--- Starts the server if needed and attaches `bufnr`. Never throws.
---@param bufnr integer
---@return integer|nil client_id
function M.attach(bufnr)
  if state.failed or not state.config or not state.config.enabled then
    return nil
  end
  if not M.executable() then
    state.failed = ("server command %q not found"):format(state.config.cmd[1])
    M.notify_once(
      state.failed
        .. "; completions are off. Install it (pip install sdsat-lsp) or set `cmd` in setup(); see :checkhealth sdsat",
      vim.log.levels.WARN
    )
    return nil
  end
  local ok, client_id = pcall(vim.lsp.start, client_config(), {
    bufnr = bufnr,
    -- One model in memory for the whole editor, whatever the project root.
    reuse_client = function(client, config)
      return client.name == config.name and not M.call(client, "is_stopped")
    end,
    silent = true,
  })
  if not ok or not client_id then
    state.failed = ("the server could not start (%s)"):format(
      ok and "see " .. vim.lsp.get_log_path() or tostring(client_id)
    )
    M.notify_once(state.failed .. "; completions are off.", vim.log.levels.WARN)
    return nil
  end
  return client_id
end

--- Asks the running server for its status (`sdsat/status` request).
---@param timeout_ms integer
---@return table|nil status, string|nil error
function M.request_status(timeout_ms)
  local client = M.client()
  if not client then
    return nil, "not running"
  end
  local response, err = M.call(client, "request_sync", "sdsat/status", vim.empty_dict(), timeout_ms)
  if not response then
    return nil, err or "no response"
  end
  if response.err then
    return nil, response.err.message or vim.inspect(response.err)
  end
  return response.result, nil
end

--- Stops the server (if running), clears the failure and attaches the listed buffers again.
---@param buffers integer[]
function M.restart(buffers)
  state.stopping = true
  local clients = vim.lsp.get_clients({ name = M.NAME })
  for _, client in ipairs(clients) do
    M.call(client, "stop")
  end
  vim.wait(3000, function()
    for _, client in ipairs(clients) do
      if not M.call(client, "is_stopped") then
        return false
      end
    end
    return true
  end, 20)
  -- on_exit callbacks are scheduled: let them see `stopping` before clearing it.
  vim.schedule(function()
    state.stopping = false
    state.failed = nil
    state.notified = false
    state.status = nil
    for _, bufnr in ipairs(buffers) do
      if api.nvim_buf_is_valid(bufnr) then
        M.attach(bufnr)
      end
    end
  end)
end

return M
