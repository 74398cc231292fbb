; Timers: a bare `setInterval(fn, ms)` or one reached through an object (`globalThis.setInterval`, `timers.setTimeout`).
(call_expression
  function: (identifier) @callee @method
  arguments: (arguments) @arguments
  (#any-of? @method "setInterval" "setTimeout" "setImmediate")) @call

(call_expression
  function: (member_expression
    object: (_) @receiver
    property: (property_identifier) @method) @callee
  arguments: (arguments) @arguments
  (#any-of? @method "setInterval" "setTimeout" "setImmediate")) @call
