; Listener registrations: `emitter.on('event', handler)` and its relatives, `target.addEventListener(...)`.
(call_expression
  function: (member_expression
    object: (_) @receiver
    property: (property_identifier) @method) @callee
  arguments: (arguments) @arguments
  (#any-of? @method "on" "addListener" "prependListener" "once" "prependOnceListener" "addEventListener")) @call
