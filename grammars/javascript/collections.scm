; Collection growth: `map.set(k, v)`, `set.add(v)`, `array.push(v)`, `array.unshift(v)`, and `object[key] = value`.
(call_expression
  function: (member_expression
    object: (_) @receiver
    property: (property_identifier) @method) @callee
  arguments: (arguments) @arguments
  (#any-of? @method "set" "add" "push" "unshift")) @call

(assignment_expression
  left: (subscript_expression
    object: (_) @receiver
    index: (_) @key) @callee
  right: (_) @value) @call
