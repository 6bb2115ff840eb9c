import Foundation

/// Variables visible at one point of a render. A new scope is opened for each `for`
/// iteration, macro call and `with`/`call` body, like jinja2's frames: `set` inside a loop
/// body does not leak out (hence `namespace()`), while `if` shares the enclosing scope.
///
/// NOTE: a scope lives only inside one `render` call on one thread. It is `@unchecked
/// Sendable` only because macros (stored in the Sendable `JinjaValue.callable`) capture it.
final class Scope: @unchecked Sendable {
    private var variables: [String: JinjaValue]
    let parent: Scope?
    /// Set on a `for` iteration's scope; `loop` is built from it only when read whole.
    var loop: LoopState?

    init(parent: Scope?, variables: [String: JinjaValue] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: Scope? = self
        while let s = scope {
            if let value = s.variables[name] { return value }
            if name == "loop", let loop = s.loop { return .object(loop.object) }
            scope = s.parent
        }
        return nil
    }

    /// The innermost loop state, unless a variable named `loop` shadows it.
    func loopState() -> LoopState? {
        var scope: Scope? = self
        while let s = scope {
            if s.variables["loop"] != nil { return nil }
            if let loop = s.loop { return loop }
            scope = s.parent
        }
        return nil
    }

    subscript(name: String) -> JinjaValue? {
        get { variables[name] }
        set { variables[name] = newValue }
    }

    func removeAll() { variables.removeAll() }
}

/// The `loop` variable of one `for` iteration (jinja2's `LoopContext`).
struct LoopState {
    var index: Int
    var items: [JinjaValue]

    /// `loop.<name>`; previtem/nextitem are undefined at the ends.
    func attribute(_ name: String) -> JinjaValue {
        let count = items.count
        switch name {
        case "index": return .int(index + 1)
        case "index0": return .int(index)
        case "revindex": return .int(count - index)
        case "revindex0": return .int(count - index - 1)
        case "first": return .bool(index == 0)
        case "last": return .bool(index == count - 1)
        case "length": return .int(count)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return index > 0 ? items[index - 1] : .undefined
        case "nextitem": return index + 1 < count ? items[index + 1] : .undefined
        case "cycle": return .callable(JinjaCallable(name: "cycle", kind: .cycle(index0: index)))
        default: return .undefined
        }
    }

    var object: JinjaObject {
        let names = ["index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
                     "previtem", "nextitem", "cycle"]
        return JinjaObject(names.compactMap { name in
            let value = attribute(name)
            return value.isUndefined ? nil : (name, value)
        })
    }
}

/// A macro value: its definition plus the scope it was defined in (its closure).
struct Macro: Sendable {
    var definition: MacroDefinition
    var scope: Scope
}

/// Safety limits of one render; a template that exceeds one fails with a `JinjaError`.
public struct JinjaLimits: Sendable, Equatable {
    /// Maximum rendered output, in UTF-8 bytes.
    public var maxOutputBytes = 64 << 20
    /// Maximum `for` iterations plus items visited by filters, across the whole render.
    public var maxIterations = 2_000_000
    /// Maximum macro call depth.
    public var maxCallDepth = 64
    /// Largest `range()` (jinja2's sandbox uses the same 100,000).
    public var maxRange = 100_000

    public init() {}
}

/// Control flow out of a statement list.
enum Flow {
    case normal, breakLoop, continueLoop
}

/// Executes a parsed template: statements here, expressions in `JinjaEvaluator+Expressions`,
/// and filters, tests, methods and globals in their own files.
final class Renderer {
    var output = ""
    let limits: JinjaLimits
    let now: @Sendable () -> Date
    private var iterations = 0
    private var callDepth = 0
    /// Scopes captured by macros and namespaces made during the render. A macro stored in
    /// the scope it captures is a reference cycle, so both are emptied when the render ends.
    private var macroScopes: [Scope] = []
    var createdNamespaces: [JinjaNamespace] = []

    init(limits: JinjaLimits, now: @escaping @Sendable () -> Date) {
        self.limits = limits
        self.now = now
    }

    func render(_ nodes: [Node], context: [String: JinjaValue]) throws -> String {
        defer {
            for scope in macroScopes { scope.removeAll() }
            for namespace in createdNamespaces { namespace.removeAll() }
        }
        let root = Scope(parent: nil, variables: context)
        _ = try execute(nodes, Scope(parent: root))
        return output
    }

    // MARK: - Statements

    func execute(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        for node in nodes {
            do {
                let flow = try execute(node, scope)
                if flow != .normal { return flow }
            } catch var error as JinjaError where error.line == 0 {
                error.line = node.position.line
                error.column = node.position.column
                throw error
            }
        }
        return .normal
    }

    private func execute(_ node: Node, _ scope: Scope) throws -> Flow {
        switch node.kind {
        case .text(let text):
            try write(text)
        case .output(let expr):
            try write(try eval(expr, scope).pythonString)
        case .ifChain(let branches, let otherwise):
            for branch in branches {
                if try eval(branch.condition, scope).isTruthy { return try execute(branch.body, scope) }
            }
            return try execute(otherwise, scope)
        case .forLoop(let loop):
            try executeFor(loop, scope)
        case .set(let target, let expr):
            try assign(target, try eval(expr, scope), scope)
        case .setBlock(let target, let filters, let body):
            let text = try capture { _ = try execute(body, Scope(parent: scope)) }
            try assign(target, try applyFilters(filters, to: .string(text), scope), scope)
        case .macro(let definition):
            let macro = Macro(definition: definition, scope: scope)
            macroScopes.append(scope)
            scope[definition.name] = .callable(JinjaCallable(name: definition.name, kind: .macro(macro)))
        case .callBlock(let call, let parameters, let body):
            let definition = MacroDefinition(name: "caller", parameters: parameters, body: body)
            let caller = Macro(definition: definition, scope: scope)
            try write(try evalCall(call, scope, caller: caller).pythonString)
        case .filterBlock(let filters, let body):
            let text = try capture { _ = try execute(body, Scope(parent: scope)) }
            try write(try applyFilters(filters, to: .string(text), scope).pythonString)
        case .with(let assignments, let body):
            let inner = Scope(parent: scope)
            for (target, value) in assignments { try assign(target, try eval(value, scope), inner) }
            return try execute(body, inner)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    func write(_ text: String) throws {
        output += text
        if output.utf8.count > limits.maxOutputBytes {
            throw JinjaError.runtime("rendered output exceeds \(limits.maxOutputBytes) bytes")
        }
    }

    /// Renders `body` into a string instead of the output (macros, `set` blocks, filters).
    func capture(_ body: () throws -> Void) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    /// Counts work done on behalf of the template so a runaway loop fails instead of hanging.
    func countIterations(_ n: Int = 1) throws {
        iterations += n
        if iterations > limits.maxIterations {
            throw JinjaError.runtime("template exceeded \(limits.maxIterations) loop iterations")
        }
    }

    private func applyFilters(_ filters: [FilterCall], to value: JinjaValue, _ scope: Scope) throws -> JinjaValue {
        var result = value
        for filter in filters {
            let args = try evalArguments(filter.arguments, scope)
            result = try applyFilter(filter.name, to: result, args)
        }
        return result
    }

    // MARK: - Loops

    private func executeFor(_ loop: ForLoop, _ scope: Scope) throws {
        var items = try iterate(try eval(loop.iterable, scope), loop.iterable)
        if let filter = loop.filter {
            items = try items.filter { item in
                let inner = Scope(parent: scope)
                try assign(loop.target, item, inner)
                return try eval(filter, inner).isTruthy
            }
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, Scope(parent: scope))
            return
        }
        for (index, item) in items.enumerated() {
            try countIterations()
            let inner = Scope(parent: scope)
            try assign(loop.target, item, inner)
            inner.loop = LoopState(index: index, items: items)
            if try execute(loop.body, inner) == .breakLoop { break }
        }
    }

    /// The items of a Python iterable: list items, dict keys, string characters.
    func iterate(_ value: JinjaValue, _ expr: Expr? = nil) throws -> [JinjaValue] {
        switch value {
        case .array(let items): return items
        case .object(let object): return object.keyValues
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        case .namespace(let ns): return ns.snapshot.keys.map { .string($0) }
        default: throw JinjaError.runtime("'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: - Assignment

    func assign(_ target: AssignTarget, _ value: JinjaValue, _ scope: Scope) throws {
        switch target {
        case .name(let name):
            scope[name] = value
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let ns)? = scope.lookup(name) else {
                throw JinjaError.runtime("cannot assign attribute on non-namespace object")
            }
            ns[attribute] = value
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                let problem = items.count > targets.count ? "too many" : "not enough"
                throw JinjaError.runtime("\(problem) values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, item) in zip(targets, items) { try assign(t, item, scope) }
        }
    }

    // MARK: - Macros

    func callMacro(_ macro: Macro, _ args: Arguments, caller: Macro? = nil) throws -> JinjaValue {
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxCallDepth {
            throw JinjaError.runtime("macro calls nested deeper than \(limits.maxCallDepth)")
        }
        let definition = macro.definition
        let scope = Scope(parent: macro.scope)
        var keywords = JinjaObject(args.keyword)
        for (i, parameter) in definition.parameters.enumerated() {
            if i < args.positional.count {
                scope[parameter.name] = args.positional[i]
            } else if let value = keywords[parameter.name] {
                scope[parameter.name] = value
                keywords[parameter.name] = nil
            } else if let defaultValue = parameter.defaultValue {
                scope[parameter.name] = try eval(defaultValue, scope)
            } else {
                scope[parameter.name] = .undefined
            }
        }
        let extra = Array(args.positional.dropFirst(definition.parameters.count))
        try checkMacroArguments(macro, extra: extra, keywords: keywords)
        scope["varargs"] = .array(extra)
        scope["kwargs"] = .object(keywords)
        if let caller {
            scope["caller"] = .callable(JinjaCallable(name: "caller", kind: .macro(caller)))
        }
        return .string(try capture { _ = try execute(definition.body, scope) })
    }

    private func checkMacroArguments(_ macro: Macro, extra: [JinjaValue], keywords: JinjaObject) throws {
        let name = macro.definition.name
        if !extra.isEmpty, !macro.definition.usesVarargs {
            throw JinjaError.runtime(
                "macro '\(name)' takes not more than \(macro.definition.parameters.count) argument(s)")
        }
        if let key = keywords.keys.first, !macro.definition.usesKwargs {
            throw JinjaError.runtime("macro '\(name)' takes no keyword argument '\(key)'")
        }
    }
}
