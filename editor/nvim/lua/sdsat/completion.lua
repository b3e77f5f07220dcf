-- Inline completion in insert mode: debounce, request, cancel, stream, accept.
--
-- One request is in flight at a time. Each keystroke cancels it ($/cancelRequest) and, after the
-- debounce, sends a new textDocument/inlineCompletion. While the server generates, its
-- sdsat/completionDelta notifications carry the text so far in the append form (sdsat.delta);
-- those for the request in flight and the buffer's current version are drawn as ghost text,
-- the rest are dropped. The final response is authoritative. Typing the characters the ghost
-- text shows keeps the rest of it visible until the next request answers.
--
-- On Neovim >= 0.12 with vim.lsp.inline_completion enabled for the buffer, the built-in sends
-- the requests and draws the final items; this module then only draws the streamed text of
-- the built-in's request in flight and clears it when that request completes.

local api = vim.api
local uv = vim.uv or vim.loop
local delta = require("sdsat.delta")
local ghost = require("sdsat.ghost")
local server = require("sdsat.server")
local util = vim.lsp.util

local M = {}

local INLINE_COMPLETION = "textDocument/inlineCompletion"
local TRIGGER_INVOKED = 1
local TRIGGER_AUTOMATIC = 2
local CONTENT_MODIFIED = -32801

---@class sdsat.Request
---@field client vim.lsp.Client
---@field id integer JSON-RPC id
---@field bufnr integer
---@field version integer buffer version the request was made for
---@field row integer 0-based
---@field col integer 0-based byte column
---@field position table|nil LSP position (nil for the built-in's requests: checked by byte)
---@field keystroke_ns integer when the keystroke that led to it happened
---@field shown boolean
---@field streamed string|nil text so far from the deltas (nil: unknown after a missing one)
---@field external boolean sent by vim.lsp.inline_completion, not by us

local config = nil ---@type table|nil
local debounce_ms = 75
local timer = nil
local pending = nil ---@type sdsat.Request|nil
local last_edit_key = nil ---@type string|nil
local keystroke_ns = uv.hrtime()
-- The items of the last answer, to cycle through: { bufnr, row, col, texts, index }.
local choices = nil ---@type table|nil

-- Measurements for tests and the latency script (bounded).
local stats = {
  first_ghost_ms = {}, -- per request that drew: keystroke to first ghost text
  first_ghost_ids = {}, -- the request id of each first_ghost_ms entry
  cancelled = {},
  requests = 0,
  deltas_drawn = 0,
  deltas_append = 0, -- deltas received per form (for the request in flight)
  deltas_whole = 0,
  delta_gaps = 0, -- append deltas that did not fit the text held
  errors = 0,
}

local function push_bounded(list, value)
  table.insert(list, value)
  if #list > 1000 then
    table.remove(list, 1)
  end
end

local function cursor()
  local position = api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == "i"
end

--- Whether the user enabled the built-in inline completion (Neovim >= 0.12) for `bufnr`.
local function builtin_enabled(bufnr)
  local inline = vim.lsp.inline_completion
  if type(inline) ~= "table" or type(inline.is_enabled) ~= "function" then
    return false
  end
  local ok, enabled = pcall(inline.is_enabled, { bufnr = bufnr })
  return ok and enabled == true
end

local function emit(pattern, data)
  api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = data })
end

---@param req sdsat.Request
---@param text string
---@param final boolean
local function draw(req, text, final)
  if not ghost.show(req.bufnr, req.row, req.col, text, config.hl_group, req.id) then
    return
  end
  if not req.shown then
    req.shown = true
    push_bounded(stats.first_ghost_ms, (uv.hrtime() - req.keystroke_ns) / 1e6)
    push_bounded(stats.first_ghost_ids, req.id)
  end
  if not final then
    stats.deltas_drawn = stats.deltas_drawn + 1
  end
  emit("SdsatGhostText", { request_id = req.id, text = text, final = final })
end

local function stop_timer()
  if timer then
    timer:stop()
  end
end

--- Cancels the request in flight, if any.
function M.cancel()
  local req = pending
  pending = nil
  if req and not req.external then
    pcall(server.call, req.client, "cancel_request", req.id)
    push_bounded(stats.cancelled, req.id)
  end
end

--- Cancels the request and removes the ghost text.
function M.dismiss()
  stop_timer()
  M.cancel()
  ghost.clear()
  choices = nil
end

--- Byte column of an LSP position on its line, or nil.
local function byte_col(req, position)
  local ok, col = pcall(
    util._get_line_byte_from_position,
    req.bufnr,
    position,
    req.client.offset_encoding
  )
  return ok and col or nil
end

--- The text to show for `item`, relative to the request position, or nil.
---@param req sdsat.Request
---@param item table lsp.InlineCompletionItem
local function item_text(req, item)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value -- a snippet: shown and inserted as its plain text
  end
  if type(text) ~= "string" then
    return nil
  end
  local range = item.range
  if range == nil or range.start == nil then
    return text
  end
  -- A range that starts before the cursor repeats what is already typed: drop that prefix.
  if range.start.line ~= req.row or range["end"].line ~= req.row then
    return nil
  end
  local start_col = byte_col(req, range.start)
  if not start_col or start_col > req.col then
    return nil
  end
  local line = api.nvim_buf_get_lines(req.bufnr, req.row, req.row + 1, false)[1] or ""
  local typed = line:sub(start_col + 1, req.col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  return text:sub(#typed + 1)
end

---@param req sdsat.Request
local function on_response(req, err, result)
  if pending ~= req then
    return -- superseded or dismissed
  end
  pending = nil
  if err then
    if err.code ~= CONTENT_MODIFIED then
      stats.errors = stats.errors + 1
      require("vim.lsp.log").warn("sdsat: inline completion failed", err)
      if stats.errors == 1 then
        vim.notify(
          ("[sdsat] a completion request failed: %s (later failures go to %s only)"):format(
            tostring(err.message),
            vim.lsp.get_log_path()
          ),
          vim.log.levels.WARN
        )
      end
    end
    return
  end
  if util.buf_versions[req.bufnr] ~= req.version or api.nvim_get_current_buf() ~= req.bufnr then
    return
  end
  local row, col = cursor()
  if row ~= req.row or col ~= req.col then
    return
  end
  local items = type(result) == "table" and (result.items or result) or {}
  local texts = {}
  for _, item in ipairs(items) do
    local candidate = item_text(req, item)
    if candidate and candidate ~= "" and not vim.tbl_contains(texts, candidate) then
      table.insert(texts, candidate)
    end
  end
  local text = texts[1]
  choices = nil
  if text then
    choices = { bufnr = req.bufnr, row = req.row, col = req.col, texts = texts, index = 1 }
    draw(req, text, true)
  else
    ghost.clear()
    emit("SdsatGhostText", { request_id = req.id, text = "", final = true })
  end
end

--- lsp-handler for the server's `sdsat/completionDelta` notification.
function M.on_delta(_, params, ctx)
  local req = pending
  if not req or type(params) ~= "table" or type(params.text) ~= "string" then
    return
  end
  if tostring(params.id) ~= tostring(req.id) or (ctx and ctx.client_id ~= req.client.id) then
    return -- an older request's delta
  end
  -- Every delta of the request counts for the offsets of the next, drawn or not.
  local appended = params.offset ~= nil
  stats.deltas_append = stats.deltas_append + (appended and 1 or 0)
  stats.deltas_whole = stats.deltas_whole + (appended and 0 or 1)
  req.streamed = delta.apply(req.streamed, params)
  if req.streamed == nil then
    stats.delta_gaps = stats.delta_gaps + 1
    return -- the text is unknown: wait for the response
  end
  if params.version ~= util.buf_versions[req.bufnr] or req.version ~= params.version then
    return -- computed for a stale buffer
  end
  if params.uri ~= vim.uri_from_bufnr(req.bufnr) or type(params.position) ~= "table" then
    return
  end
  if req.position then
    if
      params.position.line ~= req.position.line
      or params.position.character ~= req.position.character
    then
      return
    end
  elseif params.position.line ~= req.row or byte_col(req, params.position) ~= req.col then
    return
  end
  draw(req, req.streamed, false)
end

local function send_request(bufnr, trigger_kind)
  if api.nvim_get_current_buf() ~= bufnr or not in_insert_mode() then
    return
  end
  local client = server.client(bufnr)
  if not client then
    return
  end
  M.cancel()
  local row, col = cursor()
  local params = util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = trigger_kind or TRIGGER_AUTOMATIC }
  ---@type sdsat.Request
  local req = {
    client = client,
    id = -1,
    bufnr = bufnr,
    version = -1,
    row = row,
    col = col,
    position = params.position,
    keystroke_ns = keystroke_ns,
    shown = false,
    streamed = "",
    external = false,
  }
  local ok, id = server.call(client, "request", INLINE_COMPLETION, params, function(err, result)
    on_response(req, err, result)
  end, bufnr)
  if not ok or not id then
    return
  end
  req.id = id
  req.version = util.buf_versions[bufnr]
  pending = req
  stats.requests = stats.requests + 1
end

--- Keeps the part of the ghost text the user has not typed yet, or clears it.
local function keep_typed_through(bufnr, row, col)
  local shown = ghost.current()
  if not shown then
    return
  end
  if shown.bufnr ~= bufnr or shown.row ~= row or col < shown.col then
    ghost.clear()
    return
  end
  if col == shown.col then
    return
  end
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local typed = line:sub(shown.col + 1, col)
  if #typed < #shown.text and shown.text:sub(1, #typed) == typed then
    ghost.show(bufnr, row, col, shown.text:sub(#typed + 1), config.hl_group, shown.request_id)
  else
    ghost.clear()
  end
end

--- TextChangedI / CursorMovedI: cancel, keep or clear the ghost text, request after the debounce.
function M.on_edit(bufnr)
  if not in_insert_mode() then
    return
  end
  if not server.client(bufnr) then
    M.dismiss() -- the server stopped: nothing shown can be current
    return
  end
  local row, col = cursor()
  local key = table.concat({ bufnr, api.nvim_buf_get_changedtick(bufnr), row, col }, ":")
  if key == last_edit_key then
    return -- TextChangedI and CursorMovedI for the same keystroke
  end
  last_edit_key = key
  keystroke_ns = uv.hrtime()
  M.cancel()
  keep_typed_through(bufnr, row, col)
  if builtin_enabled(bufnr) then
    return -- the built-in requests; we draw its stream (see on_lsp_request)
  end
  stop_timer()
  if debounce_ms == 0 then
    vim.schedule(function()
      send_request(bufnr)
    end)
    return
  end
  timer = timer or uv.new_timer()
  timer:start(
    debounce_ms,
    0,
    vim.schedule_wrap(function()
      send_request(bufnr)
    end)
  )
end

--- LspRequest autocmd: follows the built-in's inline completion requests (Neovim >= 0.12).
function M.on_lsp_request(args)
  local data = args.data or {}
  local request = data.request or {}
  if request.method ~= INLINE_COMPLETION then
    return
  end
  local client = vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= server.NAME then
    return
  end
  if request.type == "pending" then
    local bufnr = request.bufnr or args.buf
    if pending and pending.id == data.request_id then
      return -- ours
    end
    if bufnr ~= api.nvim_get_current_buf() or not builtin_enabled(bufnr) then
      return
    end
    local row, col = cursor()
    pending = {
      client = client,
      id = data.request_id,
      bufnr = bufnr,
      version = util.buf_versions[bufnr],
      row = row,
      col = col,
      position = nil,
      keystroke_ns = keystroke_ns,
      shown = false,
      streamed = "",
      external = true,
    }
  elseif pending and pending.external and pending.id == data.request_id then
    -- Complete or cancelled: the built-in draws the final item itself.
    pending = nil
    ghost.clear()
  end
end

--- Whether ghost text is shown at the cursor of the current window.
function M.visible()
  local shown = ghost.current()
  if not shown or shown.bufnr ~= api.nvim_get_current_buf() then
    return false
  end
  local row, col = cursor()
  return row == shown.row and col == shown.col
end

--- A manual trigger: request now (no debounce); the server may answer several alternatives.
function M.trigger()
  stop_timer()
  keystroke_ns = uv.hrtime()
  send_request(api.nvim_get_current_buf(), TRIGGER_INVOKED)
end

--- Shows the next (1) or previous (-1) alternative at the cursor; with none, triggers.
---@param step integer
function M.cycle(step)
  local shown = ghost.current()
  local row, col = cursor()
  local here = choices
    and shown
    and choices.bufnr == api.nvim_get_current_buf()
    and choices.row == row
    and choices.col == col
  if not here then
    M.trigger()
    return
  end
  local count = #choices.texts
  choices.index = (choices.index - 1 + step) % count + 1
  local text = choices.texts[choices.index]
  ghost.show(choices.bufnr, row, col, text, config.hl_group, shown.request_id)
  emit("SdsatGhostText", { request_id = shown.request_id, text = text, final = true })
end

--- The alternatives of the last answer and the index shown, or nil.
function M.alternatives()
  return choices and { texts = vim.deepcopy(choices.texts), index = choices.index } or nil
end

--- The part of `text` a partial accept takes.
---@param kind "all"|"word"|"line"
function M.take(text, kind)
  if kind == "word" then
    return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text
  elseif kind == "line" then
    local newline = text:find("\n", 1, true)
    if newline == 1 then
      newline = text:find("\n", 2, true)
    end
    return newline and text:sub(1, newline - 1) or text
  end
  return text
end

--- Inserts the shown suggestion (or its next word / line) at the cursor.
---@param kind "all"|"word"|"line"|nil
---@return boolean accepted
function M.accept(kind)
  if not M.visible() then
    return false
  end
  local shown = assert(ghost.current())
  local part = M.take(shown.text, kind or "all")
  stop_timer()
  M.cancel()
  local lines = vim.split(part, "\n", { plain = true })
  api.nvim_buf_set_text(shown.bufnr, shown.row, shown.col, shown.row, shown.col, lines)
  local end_row = shown.row + #lines - 1
  local end_col = (#lines == 1 and shown.col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  local rest = shown.text:sub(#part + 1)
  if rest ~= "" then
    ghost.show(shown.bufnr, end_row, end_col, rest, config.hl_group, shown.request_id)
  else
    ghost.clear()
  end
  emit("SdsatAccepted", { text = part })
  return true
end

--- With the built-in enabled: accept its item, else ours, else type `fallback`.
function M.accept_builtin_or_feed(fallback)
  local inline = vim.lsp.inline_completion
  if M.accept("all") then
    return
  end
  if type(inline) == "table" and type(inline.get) == "function" then
    local ok, accepted = pcall(inline.get)
    if ok and accepted then
      return
    end
  end
  api.nvim_feedkeys(api.nvim_replace_termcodes(fallback, true, false, true), "n", false)
end

--- Right-hand side of the accept key (an <expr> mapping): accept, or the key's own meaning.
---@param kind "all"|"word"|"line"
---@param key string
function M.accept_expr(kind, key)
  if M.visible() then
    return ("<Cmd>lua require('sdsat.completion').accept(%q)<CR>"):format(kind)
  end
  if kind == "all" and builtin_enabled(api.nvim_get_current_buf()) then
    return ("<Cmd>lua require('sdsat.completion').accept_builtin_or_feed(%q)<CR>"):format(key)
  end
  return key
end

---@param resolved table plugin options
function M.configure(resolved)
  config = resolved
  debounce_ms = require("sdsat.config").debounce_ms(resolved)
  server.set_handler("sdsat/completionDelta", M.on_delta)
end

--- Measurements since start: first-ghost latency per request (ms), cancelled request ids.
function M.stats()
  return vim.deepcopy(stats)
end

--- The request in flight (id and buffer), or nil.
function M.pending()
  return pending and { id = pending.id, bufnr = pending.bufnr, external = pending.external } or nil
end

return M
