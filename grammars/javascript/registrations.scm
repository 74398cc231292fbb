; Any call that may keep a function it is given: `promise.then(fn)`, `router.get(path, fn)`,
; `client.interceptors.request.use(fn)`, `register(fn)`. The more specific queries win over this one.
(call_expression
  function: (member_expression
    object: (_) @receiver
    property: (property_identifier) @method) @callee
  arguments: (arguments) @arguments) @call

(call_expression
  function: (identifier) @callee @method
  arguments: (arguments) @arguments) @call
