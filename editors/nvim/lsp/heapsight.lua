-- heapsight's language server config for Neovim 0.11+: with this plugin on 'runtimepath',
-- `vim.lsp.enable('heapsight')` starts `heapsight lsp` in JavaScript and TypeScript buffers.
-- Override fields with `vim.lsp.config('heapsight', { settings = { heapsight = {...} } })`.
-- `HEAPSIGHT_SERVER` names the binary when it is not `heapsight` on PATH.

local heapsight = require('heapsight')

---@type vim.lsp.Config
return {
  cmd = heapsight.default_cmd(),
  filetypes = { 'javascript', 'javascriptreact', 'typescript', 'typescriptreact' },
  root_markers = { '.heapsight', 'package.json', '.git' },
  -- snapshotDir, captureCommand, thresholds = { warningBytes, errorBytes }, minRetainedBytes,
  -- pathMappings = { { from = ..., to = ... } }, kinds, limit ('512MiB'). captureCommand is the
  -- whole capture command line, e.g. { 'heapsight', 'capture', '--', 'npm', 'start' }.
  settings = { heapsight = vim.empty_dict() },
  handlers = heapsight.handlers,
  before_init = function(params, config)
    -- The same settings as initializationOptions, as the server reads them at start.
    local settings = (config.settings or {}).heapsight
    params.initializationOptions = (settings and next(settings)) and settings or vim.empty_dict()
  end,
  on_init = function(client)
    heapsight.on_init(client)
    heapsight.create_commands()
  end,
}
