-- heapsight for Neovim: starts `heapsight lsp` for JavaScript and TypeScript buffers, turns on
-- virtual text for its diagnostics, and adds :HeapsightCapture, :HeapsightAnalyze,
-- :HeapsightReport and :HeapsightClear.
--
-- Neovim 0.11+: `lsp/heapsight.lua` is the config, `vim.lsp.enable('heapsight')` starts it
-- (setup() does both). Neovim 0.7-0.10: setup() starts one client per project root with
-- `vim.lsp.start_client` from a FileType autocmd.

local M = {}

local FILETYPES = { 'javascript', 'javascriptreact', 'typescript', 'typescriptreact' }
local ROOT_MARKERS = { '.heapsight', 'package.json', '.git' }

--- The last `heapsight/status` the server sent: { state, findings, retainedBytes, message }.
M.status = { state = 'idle' }

local function has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

-- Neovim < 0.11 calls client methods with a dot, 0.11+ with a colon (the dot form warns).
local function client_request(client, method, params, handler, bufnr)
  if has('0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function clients(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ name = 'heapsight', bufnr = bufnr })
  end
  local found = {}
  for _, client in pairs(vim.lsp.get_active_clients()) do
    if client.name == 'heapsight' and (not bufnr or vim.lsp.buf_is_attached(bufnr, client.id)) then
      table.insert(found, client)
    end
  end
  return found
end

-- A table that vim.json encodes as an object even when empty (the server expects objects).
local function object(tbl)
  if tbl == nil or next(tbl) == nil then
    return vim.empty_dict()
  end
  return tbl
end

--- Formats bytes in decimal units, as the server's messages do (7.8 MB).
function M.format_bytes(bytes)
  local units = { 'B', 'kB', 'MB', 'GB', 'TB' }
  local value, unit = bytes or 0, 1
  while value >= 1000 and unit < #units do
    value = value / 1000
    unit = unit + 1
  end
  if unit == 1 then
    return string.format('%d B', value)
  end
  return string.format('%.1f %s', value, units[unit])
end

--- A short text for a statusline: `heapsight: 1 leak, 7.8 MB`.
function M.statusline()
  local s = M.status
  if s.state == 'analyzing' then
    return 'heapsight: analyzing'
  elseif s.state == 'error' then
    return 'heapsight: error'
  elseif s.state == 'ready' then
    local n = s.findings or 0
    if n == 0 then
      return 'heapsight: no leaks'
    end
    return string.format('heapsight: %d %s, %s', n, n == 1 and 'leak' or 'leaks', M.format_bytes(s.retainedBytes))
  end
  return ''
end

local function on_status(params)
  M.status = params or { state = 'idle' }
  if M.status.state == 'error' and M.status.message then
    vim.notify('heapsight: ' .. M.status.message, vim.log.levels.ERROR)
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'HeapsightStatus', modeline = false })
end

--- Handlers every heapsight client gets.
M.handlers = {
  ['heapsight/status'] = function(_, result)
    on_status(result)
  end,
}

--- Called when a client starts: virtual text for heapsight's diagnostics only, whatever the
--- global diagnostic config says (0.11 hides virtual text by default).
function M.on_init(client)
  local namespace = vim.lsp.diagnostic.get_namespace(client.id, false)
  vim.diagnostic.config({ virtual_text = { source = false }, underline = true, signs = true }, namespace)
end

local function execute(command, arguments, on_result)
  local bufnr = vim.api.nvim_get_current_buf()
  local found = clients(bufnr)
  if #found == 0 then
    found = clients(nil)
  end
  local client = found[1]
  if not client then
    vim.notify('heapsight: no heapsight language server is running for this buffer', vim.log.levels.WARN)
    return
  end
  client_request(client, 'workspace/executeCommand', { command = command, arguments = arguments or {} }, function(err, result)
    if err then
      vim.notify(string.format('heapsight: %s failed: %s', command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

local function show_report(result)
  if type(result) ~= 'table' then
    return
  end
  if type(result.uri) == 'string' and result.uri ~= '' then
    vim.cmd('edit ' .. vim.fn.fnameescape(vim.uri_to_fname(result.uri)))
    return
  end
  local markdown = type(result.markdown) == 'string' and result.markdown or ''
  vim.cmd('new')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(markdown, '\n', { plain = true }))
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'markdown'
  vim.api.nvim_buf_set_name(buf, 'heapsight://report')
end

--- Defines the user commands (global; calling it again redefines them).
function M.create_commands()
  local command = vim.api.nvim_create_user_command
  command('HeapsightCapture', function()
    execute('heapsight.capture', {})
  end, { desc = 'heapsight: capture three heap snapshots of the app' })
  command('HeapsightAnalyze', function(opts)
    local args = {}
    local paths = vim.tbl_map(function(p)
      return vim.fn.fnamemodify(vim.fn.expand(p), ':p')
    end, opts.fargs)
    if #paths == 1 then
      args = { paths[1] }
    elseif #paths == 3 then
      args = { { a = paths[1], b = paths[2], c = paths[3] } }
    elseif #paths ~= 0 then
      vim.notify('heapsight: :HeapsightAnalyze takes no path, a folder or JSON report, or three snapshots A B C', vim.log.levels.ERROR)
      return
    end
    execute('heapsight.analyze', args)
  end, { nargs = '*', complete = 'file', desc = 'heapsight: analyze the latest capture, a folder, a JSON report or A B C' })
  command('HeapsightReport', function()
    execute('heapsight.showReport', {}, show_report)
  end, { desc = 'heapsight: open the leak report' })
  command('HeapsightClear', function()
    execute('heapsight.clear', {})
  end, { desc = 'heapsight: clear the findings' })
end

--- Finds the project root of a file: the nearest folder upwards holding one of the markers.
function M.find_root(path, markers)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  while dir and dir ~= '' do
    for _, marker in ipairs(markers) do
      if (vim.uv or vim.loop).fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return nil
end

--- The server settings of `opts` (the `settings` of the LSP config, section `heapsight`).
local function server_settings(opts)
  return object(vim.deepcopy(opts.settings or {}))
end

local defaults = {
  -- The command that starts the server; `HEAPSIGHT_SERVER` overrides the binary.
  cmd = nil,
  filetypes = FILETYPES,
  root_markers = ROOT_MARKERS,
  -- Server settings: snapshotDir, captureCommand, thresholds = { warningBytes, errorBytes },
  -- minRetainedBytes, pathMappings = { { from = ..., to = ... } }, kinds, limit ('512MiB').
  -- captureCommand is the whole capture command line, e.g.
  -- { 'heapsight', 'capture', '--', 'npm', 'start' }.
  settings = {},
  -- On 0.11+, use `vim.lsp.config` + `vim.lsp.enable` (set false to force the old path).
  use_enable = true,
  on_attach = nil,
}

--- The command that starts the server: `opts.cmd`, else `$HEAPSIGHT_SERVER lsp`, else `heapsight lsp`.
function M.default_cmd()
  local binary = vim.env.HEAPSIGHT_SERVER
  if binary == nil or binary == '' then
    binary = 'heapsight'
  end
  return { binary, 'lsp' }
end

local function start_legacy(opts)
  local by_root = {}
  local group = vim.api.nvim_create_augroup('heapsight', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = opts.filetypes,
    callback = function(args)
      local bufnr = args.buf
      local name = vim.api.nvim_buf_get_name(bufnr)
      if name == '' or vim.bo[bufnr].buftype ~= '' then
        return
      end
      local root = M.find_root(name, opts.root_markers) or vim.fn.fnamemodify(name, ':p:h')
      local id = by_root[root]
      if id == nil or vim.lsp.get_client_by_id(id) == nil or vim.lsp.client_is_stopped(id) then
        local settings = server_settings(opts)
        id = vim.lsp.start_client({
          name = 'heapsight',
          cmd = opts.cmd or M.default_cmd(),
          root_dir = root,
          workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
          init_options = settings,
          settings = { heapsight = settings },
          handlers = M.handlers,
          on_init = M.on_init,
          on_attach = opts.on_attach,
        })
        if id == nil then
          vim.notify('heapsight: could not start ' .. table.concat(opts.cmd or M.default_cmd(), ' '), vim.log.levels.ERROR)
          return
        end
        by_root[root] = id
      end
      vim.lsp.buf_attach_client(bufnr, id)
    end,
  })
end

--- Sets heapsight up. `opts`: see `defaults` above; every field is optional.
function M.setup(opts)
  opts = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  M.create_commands()
  if has('0.11') and opts.use_enable then
    local overrides = {
      filetypes = opts.filetypes,
      root_markers = opts.root_markers,
      settings = { heapsight = server_settings(opts) },
    }
    if opts.cmd then
      overrides.cmd = opts.cmd
    end
    if opts.on_attach then
      overrides.on_attach = opts.on_attach
    end
    vim.lsp.config('heapsight', overrides)
    vim.lsp.enable('heapsight')
  else
    start_legacy(opts)
    -- Buffers opened before setup() ran.
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(opts.filetypes, vim.bo[bufnr].filetype) then
        vim.api.nvim_exec_autocmds('FileType', { group = 'heapsight', buffer = bufnr })
      end
    end
  end
end

return M
