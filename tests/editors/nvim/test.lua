-- End-to-end test of heapsight in a real, headless Neovim (0.7 and 0.11):
--   nvim --headless --clean -u tests/editors/nvim/test.lua
-- Loads the plugin from editors/nvim the way a user does (setup() on 0.7, vim.lsp.enable on
-- 0.11), opens a file of a workspace that holds a real capture in .heapsight/, waits for
-- heapsight's diagnostics, asks for the quick fixes at the diagnostic on the expected line,
-- applies the expected one and writes what it saw to a JSON file that tests/tests/editors.rs
-- compares with the expectations. Exits non-zero when a step cannot be done.
--
-- Environment (set by tests/tests/editors.rs):
--   HEAPSIGHT_PLUGIN_DIR     editors/nvim
--   HEAPSIGHT_SERVER         the heapsight binary
--   HEAPSIGHT_TEST_WORKSPACE the workspace (app copy + .heapsight/)
--   HEAPSIGHT_TEST_FILE      the file to open, relative to the workspace
--   HEAPSIGHT_TEST_LINE      1-based line of the expected diagnostic
--   HEAPSIGHT_TEST_MAP_FROM  where the app ran when captured (mapped to the workspace)
--   HEAPSIGHT_TEST_FIX_TITLE the quick fix to apply (default: the first one)
--   HEAPSIGHT_TEST_RESULT    the JSON file to write
--   HEAPSIGHT_TEST_TIMEOUT_MS  how long to wait for the server (default 60000)

local env = vim.env
local result = { nvim = tostring(vim.version().major) .. '.' .. vim.version().minor .. '.' .. vim.version().patch }

local function encode(value)
  if vim.json and vim.json.encode then
    return vim.json.encode(value)
  end
  return vim.fn.json_encode(value)
end

local function write_result()
  local file = assert(io.open(env.HEAPSIGHT_TEST_RESULT, 'w'))
  file:write(encode(result))
  file:close()
end

local function fail(message)
  result.error = message
  write_result()
  io.stderr:write('heapsight nvim test: ' .. message .. '\n')
  vim.cmd('cquit 1')
end

local function required(name)
  local value = env[name]
  if value == nil or value == '' then
    fail(name .. ' is not set')
  end
  return value
end

local function diagnostic_code(d)
  if d.code ~= nil then
    return d.code
  end
  local lsp = d.user_data and d.user_data.lsp
  return lsp and lsp.code
end

local function heapsight_diagnostics(bufnr)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.source == 'heapsight' then
      table.insert(found, d)
    end
  end
  return found
end

-- The text of the virtual-text extmarks on a 0-based line, across all namespaces. Namespace
-- ids are small integers; anonymous ones (0.7 draws virtual text in one) are not listed by
-- nvim_get_namespaces(), so every id up to the newest is tried.
local function virtual_text_on(bufnr, line)
  local texts = {}
  local newest = vim.api.nvim_create_namespace('heapsight-test-probe')
  for ns = 1, newest do
    local ok, marks = pcall(vim.api.nvim_buf_get_extmarks, bufnr, ns, { line, 0 }, { line, -1 }, { details = true })
    for _, mark in ipairs(ok and marks or {}) do
      local details = mark[4] or {}
      for _, chunk in ipairs(details.virt_text or {}) do
        table.insert(texts, chunk[1])
      end
    end
  end
  return table.concat(texts, '')
end

-- The LSP form of a vim.diagnostic: 0.11 keeps the whole LSP diagnostic in user_data.lsp,
-- 0.7 only its extra fields (code, data, ...), so the rest is rebuilt (columns as UTF-16 on
-- the ASCII lines of the fixtures).
local function lsp_diagnostic(d)
  local lsp = vim.deepcopy((d.user_data and d.user_data.lsp) or {})
  lsp.range = lsp.range or {
    start = { line = d.lnum, character = d.col },
    ['end'] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
  }
  lsp.message = lsp.message or d.message
  lsp.severity = lsp.severity or d.severity
  lsp.source = lsp.source or d.source
  lsp.code = lsp.code or d.code
  return lsp
end

local function request_sync(client, method, params, timeout, bufnr)
  local done, response = false, nil
  local handler = function(err, res)
    response = { err = err, result = res }
    done = true
  end
  if vim.fn.has('nvim-0.11') == 1 then
    client:request(method, params, handler, bufnr)
  else
    client.request(method, params, handler, bufnr)
  end
  vim.wait(timeout, function()
    return done
  end, 20)
  return response
end

local function run()
  local plugin = required('HEAPSIGHT_PLUGIN_DIR')
  local workspace = required('HEAPSIGHT_TEST_WORKSPACE')
  local file = workspace .. '/' .. required('HEAPSIGHT_TEST_FILE')
  local line = tonumber(required('HEAPSIGHT_TEST_LINE'))
  required('HEAPSIGHT_SERVER')
  required('HEAPSIGHT_TEST_RESULT')
  local timeout = tonumber(env.HEAPSIGHT_TEST_TIMEOUT_MS or '') or 60000
  local fix_title = env.HEAPSIGHT_TEST_FIX_TITLE
  if fix_title == '' then
    fix_title = nil
  end

  vim.cmd('filetype on')
  vim.opt.runtimepath:prepend(plugin)
  local settings = {}
  if env.HEAPSIGHT_TEST_MAP_FROM and env.HEAPSIGHT_TEST_MAP_FROM ~= '' then
    settings.pathMappings = { { from = env.HEAPSIGHT_TEST_MAP_FROM, to = workspace } }
  end
  local heapsight = require('heapsight')
  if vim.fn.has('nvim-0.11') == 1 then
    -- The 0.11 way: lsp/heapsight.lua found on 'runtimepath', settings merged in.
    vim.lsp.config('heapsight', { settings = { heapsight = settings } })
    vim.lsp.enable('heapsight')
    result.started_with = 'vim.lsp.enable'
  else
    heapsight.setup({ settings = settings })
    result.started_with = 'setup'
  end

  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype

  local appeared = vim.wait(timeout, function()
    return #heapsight_diagnostics(bufnr) > 0
  end, 100)
  result.diagnostics = {}
  for _, d in ipairs(heapsight_diagnostics(bufnr)) do
    table.insert(result.diagnostics, {
      line = d.lnum + 1,
      column = d.col + 1,
      severity = vim.diagnostic.severity[d.severity],
      code = diagnostic_code(d),
      message = d.message,
    })
  end
  if not appeared then
    fail(string.format('no heapsight diagnostic in %s within %d ms', file, timeout))
    return
  end
  local target
  for _, d in ipairs(heapsight_diagnostics(bufnr)) do
    if d.lnum + 1 == line then
      target = d
    end
  end
  if not target then
    fail(string.format('no heapsight diagnostic on line %d', line))
    return
  end
  -- Diagnostics are drawn right after they are set; give the decoration a moment anyway.
  vim.wait(200)
  result.virtual_text = virtual_text_on(bufnr, target.lnum)
  result.commands = {}
  for _, name in ipairs({ 'HeapsightCapture', 'HeapsightAnalyze', 'HeapsightReport', 'HeapsightClear' }) do
    if vim.fn.exists(':' .. name) == 2 then
      table.insert(result.commands, name)
    end
  end

  local diagnostic = lsp_diagnostic(target)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = diagnostic.range,
    context = { diagnostics = { diagnostic }, only = { 'quickfix' } },
  }
  local responses = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', params, timeout) or {}
  local client, action
  result.actions = {}
  for client_id, response in pairs(responses) do
    if response.error then
      fail('textDocument/codeAction failed: ' .. encode(response.error))
      return
    end
    for _, candidate in ipairs(response.result or {}) do
      if candidate.kind and vim.startswith(candidate.kind, 'quickfix') then
        table.insert(result.actions, candidate.title)
        if not action and (fix_title == nil or candidate.title == fix_title) then
          client, action = vim.lsp.get_client_by_id(client_id), candidate
        end
      end
    end
  end
  if not action then
    fail(string.format('no quickfix code action %s at line %d', fix_title or '', line))
    return
  end
  result.applied = action.title

  if not action.edit and not action.command then
    local resolved = request_sync(client, 'codeAction/resolve', action, timeout, bufnr)
    if not resolved or resolved.err then
      fail('codeAction/resolve failed: ' .. encode(resolved and resolved.err or 'timeout'))
      return
    end
    action = resolved.result
  end
  local before = vim.api.nvim_buf_get_changedtick(bufnr)
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding or 'utf-16')
  end
  if action.command then
    local command = type(action.command) == 'table' and action.command or action
    local executed = request_sync(
      client,
      'workspace/executeCommand',
      { command = command.command, arguments = command.arguments },
      timeout,
      bufnr
    )
    if not executed or executed.err then
      fail('workspace/executeCommand failed: ' .. encode(executed and executed.err or 'timeout'))
      return
    end
  end
  if not vim.wait(timeout, function()
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= before
  end, 20) then
    fail('applying "' .. action.title .. '" did not change the buffer')
    return
  end
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  result.text = table.concat(lines, '\n') .. '\n'

  -- :HeapsightReport opens the report the server wrote (.heapsight/report.md).
  vim.cmd('HeapsightReport')
  local report
  vim.wait(timeout, function()
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(b) and vim.endswith(vim.api.nvim_buf_get_name(b), 'report.md') then
        report = b
        return vim.api.nvim_buf_line_count(b) > 1
      end
    end
    return false
  end, 50)
  if not report then
    fail(':HeapsightReport opened no report')
    return
  end
  result.report = {
    name = vim.api.nvim_buf_get_name(report),
    current = vim.api.nvim_get_current_buf() == report,
    text = table.concat(vim.api.nvim_buf_get_lines(report, 0, -1, false), '\n'),
  }

  -- :HeapsightClear takes the findings away.
  vim.api.nvim_set_current_buf(bufnr)
  vim.cmd('HeapsightClear')
  result.cleared = vim.wait(timeout, function()
    return #heapsight_diagnostics(bufnr) == 0
  end, 50)
  write_result()
  vim.cmd('qall!')
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  fail('error: ' .. tostring(err))
end
