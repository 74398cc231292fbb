; Bindings a name can refer to: variables, functions, classes, imports, and member assignments
; such as `exports.cache = new Map()` or `this.cache = new Map()`.
(variable_declarator
  name: (identifier) @name) @declaration

(function_declaration
  name: (identifier) @name) @declaration

(class_declaration
  name: (_) @name) @declaration

(import_specifier
  name: (identifier) @name
  !alias) @declaration

(import_specifier
  alias: (identifier) @name) @declaration

(import_clause
  (identifier) @name) @declaration

(namespace_import
  (identifier) @name) @declaration

(expression_statement
  (assignment_expression
    left: (member_expression) @name)) @declaration
