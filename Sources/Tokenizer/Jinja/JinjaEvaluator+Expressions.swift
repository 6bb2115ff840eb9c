/// Evaluated call arguments: `f(1, 2, key=3)`.
struct Arguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    var isEmpty: Bool { positional.isEmpty && keyword.isEmpty }

    /// Python-style binding of `positional` then `keyword` onto parameter `names`.
    func bind(_ names: [String], function: String) throws -> [JinjaValue?] {
        guard positional.count <= names.count else {
            throw JinjaError.runtime("\(function)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        var bound: [JinjaValue?] = positional + Array(repeating: nil, count: names.count - positional.count)
        for (key, value) in keyword {
            guard let i = names.firstIndex(of: key) else {
                throw JinjaError.runtime("\(function)() got an unexpected keyword argument '\(key)'")
            }
            guard bound[i] == nil else {
                throw JinjaError.runtime("\(function)() got multiple values for argument '\(key)'")
            }
            bound[i] = value
        }
        return bound
    }
}

extension Renderer {
    /// Evaluates an expression; runtime errors get the expression's template position.
    func eval(_ expr: Expr, _ scope: Scope) throws -> JinjaValue {
        do {
            return try evaluate(expr, scope)
        } catch var error as JinjaError where error.line == 0 {
            error.line = expr.position.line
            error.column = expr.position.column
            throw error
        }
    }

    private func evaluate(_ expr: Expr, _ scope: Scope) throws -> JinjaValue {
        switch expr.kind {
        case .literal(let value):
            return value
        case .name(let name):
            return scope.lookup(name) ?? globalFunction(name) ?? .undefined
        case .list(let items), .tuple(let items):
            return .array(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var object = JinjaObject()
            for pair in pairs { try object.set(try eval(pair.value, scope), forKey: try eval(pair.key, scope)) }
            return .object(object)
        case .getAttr(let base, let name):
            if case .name("loop") = base.kind, let loop = scope.loopState() { return loop.attribute(name) }
            return try attribute(of: try defined(base, scope), name)
        case .getItem(let base, let index):
            let container = try defined(base, scope)
            if case .slice(let start, let stop, let step) = index.kind {
                return try slice(container, [start, stop, step].map { try $0.map { try eval($0, scope) } })
            }
            return try item(of: container, try eval(index, scope))
        case .slice:
            throw JinjaError.runtime("slice outside of a subscript")
        case .call:
            return try evalCall(expr, scope, caller: nil)
        case .filter(let base, let name, let args):
            return try applyFilter(name, to: try eval(base, scope), try evalArguments(args, scope))
        case .test(let base, let name, let args):
            return .bool(try applyTest(name, try eval(base, scope), try evalArguments(args, scope)))
        default:
            return try evaluateOperator(expr, scope)
        }
    }

    private func evaluateOperator(_ expr: Expr, _ scope: Scope) throws -> JinjaValue {
        switch expr.kind {
        case .unary(let op, let operand):
            return try Operators.unary(op, try defined(operand, scope))
        case .binary(let op, let lhs, let rhs):
            let a = try defined(lhs, scope)
            return try Operators.binary(op, a, try defined(rhs, scope), limits: limits)
        case .and(let lhs, let rhs):
            let a = try eval(lhs, scope)
            return a.isTruthy ? try eval(rhs, scope) : a
        case .or(let lhs, let rhs):
            let a = try eval(lhs, scope)
            return a.isTruthy ? a : try eval(rhs, scope)
        case .not(let operand):
            return .bool(!(try eval(operand, scope).isTruthy))
        case .compare(let lhs, let operations):
            var left = try eval(lhs, scope)
            for (op, rhsExpr) in operations {
                let right = try eval(rhsExpr, scope)
                if left.isUndefined, op != .eq, op != .ne, op != .isIn, op != .notIn { throw undefinedError(lhs) }
                if right.isUndefined, op != .eq, op != .ne, op != .isIn, op != .notIn { throw undefinedError(rhsExpr) }
                guard try Operators.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items):
            let text = try items.map { try eval($0, scope).pythonString }.joined()
            guard text.utf8.count <= limits.maxOutputBytes else { throw JinjaError.runtime("string result is too large") }
            return .string(text)
        case .conditional(let test, let then, let otherwise):
            if try eval(test, scope).isTruthy { return try eval(then, scope) }
            return try otherwise.map { try eval($0, scope) } ?? .undefined
        default:
            throw JinjaError.runtime("unsupported expression")
        }
    }

    /// Evaluates `expr`, failing like jinja2's `Undefined` when the result is undefined.
    private func defined(_ expr: Expr, _ scope: Scope) throws -> JinjaValue {
        let value = try eval(expr, scope)
        if value.isUndefined { throw undefinedError(expr) }
        return value
    }

    func undefinedError(_ expr: Expr) -> JinjaError {
        let message: String
        switch expr.kind {
        case .name(let name): message = "'\(name)' is undefined"
        case .getAttr(let base, let name): message = "'\(base.sourceText)' has no attribute '\(name)'"
        case .getItem(let base, let index): message = "'\(base.sourceText)' has no item \(index.sourceText)"
        default: message = "'\(expr.sourceText)' is undefined"
        }
        return JinjaError(.runtime, message, line: expr.position.line, column: expr.position.column)
    }

    func evalArguments(_ args: CallArguments, _ scope: Scope) throws -> Arguments {
        var result = Arguments()
        result.positional = try args.positional.map { try eval($0, scope) }
        if let varArgs = args.varArgs { result.positional += try iterate(try eval(varArgs, scope)) }
        result.keyword = try args.keyword.map { ($0.name, try eval($0.value, scope)) }
        if let varKeywords = args.varKeywords {
            guard case .object(let object) = try eval(varKeywords, scope) else {
                throw JinjaError.runtime("argument after ** must be a mapping")
            }
            result.keyword += object.pairs.map { ($0.key, $0.value) }
        }
        return result
    }

    // MARK: - Calls

    func evalCall(_ expr: Expr, _ scope: Scope, caller: Macro?) throws -> JinjaValue {
        guard case .call(let calleeExpr, let argExprs) = expr.kind else {
            throw JinjaError.runtime("expected a call")
        }
        let callee = try eval(calleeExpr, scope)
        let args = try evalArguments(argExprs, scope)
        switch callee {
        case .callable(let function):
            return try call(function, args, caller: caller)
        case .undefined:
            if case .getAttr(let baseExpr, let name) = calleeExpr.kind, let base = try? eval(baseExpr, scope),
               Methods.isUnsafe(name, on: base) {
                throw JinjaError.runtime("access to attribute '\(name)' of '\(base.typeName)' object is unsafe.")
            }
            throw undefinedError(calleeExpr)
        default:
            throw JinjaError.runtime("'\(callee.typeName)' object is not callable")
        }
    }

    func call(_ function: JinjaCallable, _ args: Arguments, caller: Macro? = nil) throws -> JinjaValue {
        switch function.kind {
        case .global(let name):
            return try callGlobal(name, args)
        case .macro(let macro):
            return try callMacro(macro, args, caller: caller)
        case .cycle(let index0):
            guard !args.positional.isEmpty else { throw JinjaError.runtime("no items for cycling given") }
            return args.positional[index0 % args.positional.count]
        case .method(let receiver, let name):
            return try callMethod(name, on: receiver, args)
        }
    }

    // MARK: - Attribute and item access (jinja2's sandboxed getattr / getitem)

    /// `obj.name`: Python attributes (methods) first, then dict keys; missing → undefined.
    func attribute(of value: JinjaValue, _ name: String) throws -> JinjaValue {
        if Methods.has(name, on: value) {
            return .callable(JinjaCallable(name: name, kind: .method(receiver: value, name: name)))
        }
        switch value {
        case .object(let object): return object[name] ?? .undefined
        case .namespace(let ns): return ns[name] ?? .undefined
        default: return .undefined
        }
    }

    /// `obj[key]`: items first, then attributes for string keys; missing → undefined.
    func item(of value: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch (value, key) {
        case (.object(let object), _):
            if let v = object[key: key] { return v }
        case (.array(let items), _):
            if let i = key.number, case .int(let n) = i { return items[pythonIndex: n] ?? .undefined }
        case (.string(let s), _):
            if let i = key.number, case .int(let n) = i {
                return Array(s.unicodeScalars)[pythonIndex: n].map { .string(String($0)) } ?? .undefined
            }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(of: value, name) }
        return .undefined
    }

    /// Python slicing `seq[start:stop:step]` of lists and strings.
    func slice(_ value: JinjaValue, _ bounds: [JinjaValue?]) throws -> JinjaValue {
        let ints = try bounds.map { bound -> Int? in
            switch bound {
            case nil, .none?: return nil
            case .int(let i)?: return i
            case .bool(let b)?: return b ? 1 : 0
            default: throw JinjaError.runtime("slice indices must be integers or None")
            }
        }
        switch value {
        case .array(let items):
            return .array(try PythonSlice.indices(count: items.count, ints[0], ints[1], ints[2]).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try PythonSlice.indices(count: scalars.count, ints[0], ints[1], ints[2]) { out.append(scalars[i]) }
            return .string(String(out))
        default:
            throw JinjaError.runtime("'\(value.typeName)' object is not subscriptable")
        }
    }
}

extension Array {
    /// Python indexing: negative counts from the end; out of range → nil.
    subscript(pythonIndex index: Int) -> Element? {
        let i = index < 0 ? index + count : index
        return i >= 0 && i < count ? self[i] : nil
    }
}

/// Python `slice.indices` semantics.
enum PythonSlice {
    static func indices(count: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws -> [Int] {
        let step = step ?? 1
        guard step != 0 else { throw JinjaError.runtime("slice step cannot be zero") }
        let lower = step > 0 ? 0 : -1
        let upper = step > 0 ? count : count - 1
        func clamp(_ value: Int?, _ fallback: Int) -> Int {
            guard var v = value else { return fallback }
            if v < 0 {
                v += count
                return Swift.max(v, lower)
            }
            return Swift.min(v, upper)
        }
        let begin = clamp(start, step > 0 ? lower : upper)
        let end = clamp(stop, step > 0 ? upper : lower)
        return Array(stride(from: begin, to: end, by: step))
    }
}

extension Expr {
    /// A short rendering of the expression for error messages (`message.tool_calls`).
    var sourceText: String {
        switch kind {
        case .name(let n): return n
        case .literal(let v): return v.pythonRepr
        case .getAttr(let base, let name): return base.sourceText + "." + name
        case .getItem(let base, let index): return base.sourceText + "[" + index.sourceText + "]"
        case .call(let base, _): return base.sourceText + "(...)"
        case .filter(let base, let name, _): return base.sourceText + "|" + name
        default: return "expression"
        }
    }
}
