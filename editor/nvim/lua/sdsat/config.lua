-- The plugin's options: defaults and validation of what `setup()` receives.
--
-- An invalid option is reported (by the caller, once) and replaced by its default; the rest of
-- the configuration still applies. Server settings are checked by sdsat.settings.

local settings = require("sdsat.settings")

local M = {}

M.defaults = {
  -- false: load the plugin but start nothing.
  enabled = true,
  -- How to start the server (a list: program and arguments).
  cmd = { "sdsat-lsp", "serve" },
  -- Server settings, sent as initializationOptions; names as in `sdsat-lsp settings`.
  settings = {},
  -- Filetypes to complete in; empty means every buffer that has a file name.
  filetypes = {},
  -- Insert-mode keys; false disables one.
  keymaps = {
    accept = "<Tab>", -- accept the whole suggestion, else a normal <Tab>
    accept_word = false, -- e.g. "<M-Right>"
    accept_line = false, -- e.g. "<M-Down>"
    dismiss = false, -- e.g. "<C-]>"; leaving insert mode always dismisses
    -- Alternatives (settings.alternatives > 1 with settings.temperature > 0): `next` with no
    -- suggestion shown asks for one by a manual trigger (several items), then cycles; `prev`
    -- cycles back.
    next = false, -- e.g. "<M-]>"
    prev = false, -- e.g. "<M-[>"
  },
  -- Highlight of the ghost text (linked to Comment unless you define it).
  hl_group = "SdsatGhostText",
}

local function is_list_of_strings(value, allow_empty)
  if type(value) ~= "table" or (not allow_empty and #value == 0) then
    return false
  end
  if not vim.islist(value) and next(value) ~= nil then
    return false
  end
  for _, item in ipairs(value) do
    if type(item) ~= "string" or item == "" then
      return false
    end
  end
  return true
end

local function is_key_or_false(value)
  return value == false or (type(value) == "string" and value ~= "")
end

-- option name -> { check, description of the expected value }
local checks = {
  enabled = {
    function(v)
      return type(v) == "boolean"
    end,
    "a boolean",
  },
  cmd = {
    function(v)
      return is_list_of_strings(v, false)
    end,
    "a non-empty list of strings",
  },
  settings = {
    function(v)
      return type(v) == "table"
    end,
    "a table",
  },
  filetypes = {
    function(v)
      return is_list_of_strings(v, true)
    end,
    "a list of strings",
  },
  keymaps = {
    function(v)
      return type(v) == "table"
    end,
    "a table",
  },
  hl_group = {
    function(v)
      return type(v) == "string" and v ~= ""
    end,
    "a highlight group name",
  },
}

local function sorted_keys(tbl)
  local keys = vim.tbl_keys(tbl)
  table.sort(keys)
  return keys
end

--- Resolves user options against the defaults.
---@param opts table|nil
---@return table config, string[] problems
function M.resolve(opts)
  local config = vim.deepcopy(M.defaults)
  local problems = {}
  if opts == nil then
    return config, problems
  end
  if type(opts) ~= "table" then
    return config, { ("setup() expects a table, got %s"):format(type(opts)) }
  end

  for _, name in ipairs(sorted_keys(opts)) do
    local value = opts[name]
    local check = checks[name]
    if not check then
      table.insert(
        problems,
        ("unknown option %q (known: %s)"):format(
          tostring(name),
          table.concat(sorted_keys(M.defaults), ", ")
        )
      )
    elseif not check[1](value) then
      table.insert(
        problems,
        ("%s: expected %s, got %s"):format(name, check[2], vim.inspect(value))
      )
    elseif name == "keymaps" then
      for _, key in ipairs(sorted_keys(value)) do
        if M.defaults.keymaps[key] == nil then
          table.insert(
            problems,
            ("keymaps.%s: unknown key (known: %s)"):format(
              tostring(key),
              table.concat(sorted_keys(M.defaults.keymaps), ", ")
            )
          )
        elseif not is_key_or_false(value[key]) then
          table.insert(
            problems,
            ("keymaps.%s: expected a key such as \"<Tab>\" or false, got %s"):format(
              key,
              vim.inspect(value[key])
            )
          )
        else
          config.keymaps[key] = value[key]
        end
      end
    elseif name == "settings" then
      local valid, setting_problems = settings.validate(value)
      config.settings = valid
      vim.list_extend(problems, setting_problems)
    else
      config[name] = vim.deepcopy(value)
    end
  end
  return config, problems
end

--- Client-side debounce: the server's `debounceMs` setting (it is declared there once).
---@param config table
---@return integer milliseconds
function M.debounce_ms(config)
  local value = config.settings.debounceMs
  if value == nil then
    value = settings.default("debounceMs")
  end
  return math.max(0, value)
end

return M
