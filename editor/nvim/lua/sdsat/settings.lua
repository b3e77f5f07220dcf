-- The server's settings (sent as initializationOptions), mirrored from `sdsat-lsp settings --json`.
--
-- tests/nvim/test_setup.py checks this list against that command's output field by field, so a
-- setting added to sdsat_lsp/config.py fails the test until it is added here. This module only
-- validates names, types and enum values; ranges are the server's business.

local M = {}

-- stylua: ignore
M.schema = {
  { name = "model", type = "string", default = "smollm2-135m" },
  { name = "device", type = "string", default = "auto", enum = { "auto", "cpu", "cuda" } },
  { name = "dtype", type = "string", default = "auto", enum = { "auto", "float32", "float16", "bfloat16" } },
  { name = "strategy", type = "string", default = "auto", enum = { "auto", "ar", "sdsat", "sdsat-tree", "lookup" } },
  { name = "k", type = "integer", default = 0 },
  { name = "maxNewTokens", type = "integer", default = 64 },
  { name = "contextTokens", type = "integer", default = 1024 },
  { name = "satTokenId", type = "integer", default = -1 },
  { name = "prefixReuse", type = "boolean", default = true },
  { name = "debounceMs", type = "integer", default = 75 },
  { name = "forwardPath", type = "string", default = "auto", enum = { "auto", "static", "transformers" } },
  { name = "quantize", type = "string", default = "auto", enum = { "auto", "none", "int8", "int4" } },
  { name = "compile", type = "string", default = "auto", enum = { "auto", "on", "off" } },
  { name = "threads", type = "integer", default = 0 },
  { name = "temperature", type = "number", default = 0.0 },
  { name = "topP", type = "number", default = 1.0 },
  { name = "topK", type = "integer", default = 0 },
  { name = "seed", type = "integer", default = -1 },
  { name = "alternatives", type = "integer", default = 1 },
  { name = "backend", type = "string", default = "local", enum = { "local", "openai" } },
  { name = "backendUrl", type = "string", default = "" },
  { name = "backendModel", type = "string", default = "" },
  { name = "backendApiKeyEnv", type = "string", default = "" },
  { name = "backendTimeoutMs", type = "integer", default = 15000 },
  { name = "logFile", type = "string", default = "" },
  { name = "logLevel", type = "string", default = "info", enum = { "error", "warning", "info", "debug" } },
}

local by_name = {}
for _, entry in ipairs(M.schema) do
  by_name[entry.name] = entry
end

---@param value any
---@param wanted string "string" | "integer" | "number" | "boolean"
local function has_type(value, wanted)
  if wanted == "integer" then
    return type(value) == "number" and value == math.floor(value)
  end
  return type(value) == wanted
end

--- The default of one setting.
---@param name string
function M.default(name)
  return by_name[name].default
end

--- Keeps the valid part of `settings`.
---@param settings table user settings (camelCase names, as on the wire)
---@return table valid, string[] problems
function M.validate(settings)
  local valid, problems = {}, {}
  for name, value in pairs(settings) do
    local entry = by_name[name]
    if not entry then
      table.insert(problems, ("settings.%s: unknown setting"):format(tostring(name)))
    elseif not has_type(value, entry.type) then
      table.insert(
        problems,
        ("settings.%s: expected %s, got %s"):format(name, entry.type, vim.inspect(value))
      )
    elseif entry.enum and not vim.tbl_contains(entry.enum, value) then
      table.insert(
        problems,
        ("settings.%s: expected one of %s, got %s"):format(
          name,
          table.concat(entry.enum, "|"),
          vim.inspect(value)
        )
      )
    else
      valid[name] = value
    end
  end
  table.sort(problems)
  return valid, problems
end

return M
