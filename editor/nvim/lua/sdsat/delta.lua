-- The text so far of a streamed request, from its sdsat/completionDelta notifications.
--
-- The plugin asks for the append form (docs/protocol.md): a delta carries `offset`, in UTF-16
-- code units, and only the new text; the text so far is the previous text's first `offset` units
-- followed by `text`. A delta without `offset` (the default form, e.g. an older server) is the
-- whole text so far. The server counts offsets against every delta it wrote for the request, so
-- each delta of the request in flight is applied here before anything decides whether to draw
-- it. An offset past the text held means a delta is missing: the text is unknown (nil) until an
-- offset of 0, and the response, which is authoritative, still comes.

local M = {}

--- The `initialize` capability (under `experimental.sdsat`) that opts into the append form.
M.CAPABILITY = { completionDelta = "append" }

--- Bytes of the first `units` UTF-16 code units of UTF-8 `text`, or nil when it has fewer.
---@param text string
---@param units integer
---@return integer|nil
function M.utf16_prefix_bytes(text, units)
  local byte, seen = 1, 0
  while seen < units do
    local lead = text:byte(byte)
    if lead == nil then
      return nil
    end
    local size = lead < 0x80 and 1 or lead < 0xE0 and 2 or lead < 0xF0 and 3 or 4
    seen = seen + (size == 4 and 2 or 1) -- 4-byte sequences are surrogate pairs in UTF-16
    byte = byte + size
  end
  if seen ~= units then
    return nil -- inside a surrogate pair: the server never splits one
  end
  return byte - 1
end

--- The text so far after the delta `params`, given the text before it (nil: unknown).
---@param before string|nil
---@param params table sdsat/completionDelta params (`text` is a string)
---@return string|nil text nil when it cannot be known
function M.apply(before, params)
  local offset = params.offset
  if offset == nil or offset == 0 then
    return params.text
  end
  if type(offset) ~= "number" or offset < 0 or before == nil then
    return nil
  end
  local keep = M.utf16_prefix_bytes(before, offset)
  return keep and before:sub(1, keep) .. params.text or nil
end

return M
