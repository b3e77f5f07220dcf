-- :checkhealth sdsat: Neovim version, configuration, server command and interpreter, (when the
-- server runs) its model, device and strategy from the sdsat/status request, and the report of
-- `sdsat-lsp doctor` for the plugin's settings.

local M = {}

local health = vim.health

--- The interpreter that runs `path`: itself when it is a Python, else its #! line.
local function interpreter(path)
  if vim.fs.basename(path):match("^python") then
    return path
  end
  local file = io.open(path, "r")
  if not file then
    return nil
  end
  local first = file:read("*l") or ""
  file:close()
  return first:match("^#!%s*(.-)%s*$")
end

local function check_neovim()
  health.start("sdsat: Neovim")
  local version = tostring(vim.version())
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. ": sdsat needs 0.10 or newer")
  end
  local inline = vim.lsp.inline_completion
  if type(inline) == "table" and type(inline.is_enabled) == "function" then
    local ok, enabled = pcall(inline.is_enabled, { bufnr = 0 })
    health.info(
      ("vim.lsp.inline_completion is available (enabled here: %s); sdsat streams into it"):format(
        ok and tostring(enabled) or "unknown"
      )
    )
  end
end

local function check_config(diagnostics)
  health.start("sdsat: configuration")
  if not diagnostics.did_setup then
    health.warn('setup() has not been called', { 'Add require("sdsat").setup({}) to your config' })
    return false
  end
  if #diagnostics.problems == 0 then
    health.ok("options are valid")
  else
    for _, problem in ipairs(diagnostics.problems) do
      health.error(problem)
    end
  end
  for _, err in ipairs(diagnostics.internal_errors) do
    health.warn("internal error since start: " .. err)
  end
  return true
end

local function check_settings_schema(path)
  local ok, result = pcall(function()
    return vim.system({ path, "settings", "--json" }, { text = true }):wait(20000)
  end)
  if not ok or result.code ~= 0 then
    health.warn(("`%s settings --json` failed; cannot compare settings"):format(path))
    return
  end
  local decoded_ok, entries = pcall(vim.json.decode, result.stdout)
  if not decoded_ok or type(entries) ~= "table" then
    health.warn("`sdsat-lsp settings --json` printed no JSON")
    return
  end
  local server_names, plugin_names = {}, {}
  for _, entry in ipairs(entries) do
    server_names[entry.name] = true
  end
  for _, entry in ipairs(require("sdsat.settings").schema) do
    plugin_names[entry.name] = true
  end
  local differences = {}
  for name in pairs(server_names) do
    if not plugin_names[name] then
      table.insert(differences, "server has " .. name)
    end
  end
  for name in pairs(plugin_names) do
    if not server_names[name] then
      table.insert(differences, "plugin has " .. name)
    end
  end
  if #differences == 0 then
    health.ok("the plugin knows the server's settings")
  else
    table.sort(differences)
    health.warn(
      "plugin and server settings differ: " .. table.concat(differences, ", "),
      { "Update the plugin and sdsat-lsp to the same release" }
    )
  end
end

local function check_server(config)
  health.start("sdsat: server")
  local server = require("sdsat.server")
  local cmd = config.cmd
  health.info("command: " .. table.concat(cmd, " "))
  local path = server.executable(cmd)
  if not path then
    health.error(("%q not found or not executable"):format(cmd[1]), {
      "Install the server: pip install sdsat-lsp (or `make setup` in a checkout)",
      'Or point `cmd` at it: setup({ cmd = { "/path/to/.venv/bin/sdsat-lsp", "serve" } })',
    })
    return
  end
  health.ok("found " .. path)
  local python = interpreter(path)
  if python then
    health.info("interpreter: " .. python)
  end
  check_settings_schema(path)

  local failure = server.failure()
  if failure then
    health.error(failure, { "Run :SdsatRestart; the server log is " .. vim.lsp.get_log_path() })
  end
  if not server.client() then
    health.info("not running (it starts when you open a file)")
    return
  end
  local status, err = server.request_status(3000)
  if not status then
    health.warn("running, but sdsat/status failed: " .. tostring(err))
    return
  end
  local summary = ("model %s, device %s, dtype %s, strategy %s"):format(
    tostring(status.model),
    tostring(status.device),
    tostring(status.dtype),
    tostring(status.strategy)
  )
  if status.state == "ready" then
    health.ok("ready: " .. summary)
  elseif status.state == "loading" then
    health.info("loading: " .. summary)
  else
    health.error(("%s: %s"):format(tostring(status.state), tostring(status.message)), {
      "Fix the `settings` in setup() (for example `model`) and run :SdsatRestart",
    })
  end
  if type(status.lastLatencyMs) == "number" then
    health.info(("last completion took %.0f ms"):format(status.lastLatencyMs))
  end
end

--- The server command with `serve` (and its flags) replaced by `doctor --json`, given the
--- plugin's server settings: doctor checks what this server would run.
function M.doctor_command(cmd, settings)
  local command = {}
  for _, word in ipairs(cmd) do
    if word == "serve" then
      break
    end
    table.insert(command, word)
  end
  local options = next(settings or {}) and vim.json.encode(settings) or "{}"
  vim.list_extend(command, { "doctor", "--json", "--options", options })
  return command
end

--- `sdsat-lsp doctor`: Python, torch, GPU, models, grammars, cache and a test completion.
local function check_doctor(config)
  health.start("sdsat: doctor")
  if not require("sdsat.server").executable(config.cmd) then
    health.warn("skipped: the server command is not found (see above)")
    return
  end
  local command = M.doctor_command(config.cmd, config.settings)
  health.info("`" .. table.concat(command, " ", 1, #command - 2) .. "` (loads the model once)")
  local ok, result = pcall(function()
    return vim.system(command, { text = true }):wait(300000)
  end)
  local decoded_ok, report = pcall(vim.json.decode, ok and result.stdout or "")
  if not decoded_ok or type(report) ~= "table" or type(report.checks) ~= "table" then
    local reason = ok and vim.trim(result.stderr or ""):match("[^\n]*$") or tostring(result)
    health.error("`sdsat-lsp doctor` gave no report: " .. reason, {
      "Update sdsat-lsp (doctor is new in 0.1), or run `sdsat-lsp doctor` in a terminal",
    })
    return
  end
  for _, check in ipairs(report.checks) do
    local line = check.name .. ": " .. check.summary
    if check.status == "ok" then
      health.ok(line)
    elseif check.status == "fail" then
      health.error(line, check.fix ~= "" and { check.fix } or nil)
    else
      health.info(check.fix ~= "" and (line .. " (" .. check.fix .. ")") or line)
    end
  end
end

function M.check()
  check_neovim()
  local ok, sdsat = pcall(require, "sdsat")
  if not ok then
    health.error("cannot load the plugin: " .. tostring(sdsat))
    return
  end
  local diagnostics = sdsat.diagnostics()
  local config = diagnostics.config or require("sdsat.config").defaults
  check_config(diagnostics)
  check_server(config)
  check_doctor(config)
end

return M
