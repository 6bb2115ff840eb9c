// Expression grammar, lowest to highest precedence (as in jinja2's parser):
//   conditional (`a if c else b`) < or < and < not < comparisons/in < + - < ~ < * / // % < **
//   < unary - + < primary with postfix (`.x`, `[i]`, `(args)`) and filters/tests (`|f`, `is t`).

extension JinjaParser {
    /// A comma-separated expression list; a single item without a comma is returned as is.
    mutating func parseTuple(simplified: Bool = false, withConditional: Bool = true,
                             extraEnd: Set<String> = [], explicitParentheses: Bool = false) throws -> Expr {
        let position = current.position
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(simplified ? try parsePrimary() : try parseExpression(withConditional: withConditional))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses {
                throw JinjaError.syntax("Expected an expression, got \(JinjaParser.describe(current.kind))",
                                        at: current.position)
            }
        }
        return Expr(kind: .tuple(items), position: position)
    }

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op(let o): return o == ")"
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    mutating func parseExpression(withConditional: Bool = true) throws -> Expr {
        try enter()
        defer { leave() }
        return withConditional ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws -> Expr {
        var expr = try parseOr()
        while isName("if") {
            let position = current.position
            advance()
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseConditional() : nil
            expr = Expr(kind: .conditional(test: test, then: expr, otherwise: otherwise), position: position)
        }
        return expr
    }

    private mutating func parseOr() throws -> Expr {
        var lhs = try parseAnd()
        while isName("or") {
            let position = current.position
            advance()
            lhs = Expr(kind: .or(lhs, try parseAnd()), position: position)
        }
        return lhs
    }

    private mutating func parseAnd() throws -> Expr {
        var lhs = try parseNot()
        while isName("and") {
            let position = current.position
            advance()
            lhs = Expr(kind: .and(lhs, try parseNot()), position: position)
        }
        return lhs
    }

    private mutating func parseNot() throws -> Expr {
        guard isName("not") else { return try parseCompare() }
        let position = current.position
        advance()
        try enter()
        defer { leave() }
        return Expr(kind: .not(try parseNot()), position: position)
    }

    private mutating func parseCompare() throws -> Expr {
        let position = current.position
        let lhs = try parseMath1()
        var operations: [(op: CompareOp, rhs: Expr)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOp(rawValue: o), o != "in" {
                advance()
                operations.append((op, try parseMath1()))
            } else if skipName("in") {
                operations.append((.isIn, try parseMath1()))
            } else if isName("not"), isName("in", peek()) {
                advance()
                advance()
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? lhs : Expr(kind: .compare(lhs, operations), position: position)
    }

    private mutating func parseMath1() throws -> Expr {
        var lhs = try parseConcat()
        while isOp("+") || isOp("-") {
            let op: BinaryOp = isOp("+") ? .add : .subtract
            let position = current.position
            advance()
            lhs = Expr(kind: .binary(op, lhs, try parseConcat()), position: position)
        }
        return lhs
    }

    private mutating func parseConcat() throws -> Expr {
        let position = current.position
        var items = [try parseMath2()]
        while skipOp("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : Expr(kind: .concat(items), position: position)
    }

    private mutating func parseMath2() throws -> Expr {
        var lhs = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o), let op = BinaryOp(rawValue: o) {
            let position = current.position
            advance()
            lhs = Expr(kind: .binary(op, lhs, try parsePow()), position: position)
        }
        return lhs
    }

    private mutating func parsePow() throws -> Expr {
        var lhs = try parseUnary()
        while isOp("**") {
            let position = current.position
            advance()
            lhs = Expr(kind: .binary(.power, lhs, try parseUnary()), position: position)
        }
        return lhs
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        let position = current.position
        var expr: Expr
        if isOp("-") || isOp("+") {
            let op: UnaryOp = isOp("-") ? .minus : .plus
            advance()
            try enter()
            defer { leave() }
            expr = Expr(kind: .unary(op, try parseUnary(withFilter: false)), position: position)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        return withFilter ? try parseFilterExpr(expr) : expr
    }

    // MARK: - Primary and postfix

    mutating func parsePrimary() throws -> Expr {
        let token = current
        let position = token.position
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return Expr(kind: .literal(.bool(true)), position: position)
            case "false", "False": return Expr(kind: .literal(.bool(false)), position: position)
            case "none", "None": return Expr(kind: .literal(.none), position: position)
            default: return Expr(kind: .name(n), position: position)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind {
                s += more
                advance()
            }
            return Expr(kind: .literal(.string(s)), position: position)
        case .integer(let i):
            advance()
            return Expr(kind: .literal(.int(i)), position: position)
        case .float(let d):
            advance()
            return Expr(kind: .literal(.double(d)), position: position)
        case .op("("):
            advance()
            try enter()
            defer { leave() }
            let expr = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return expr
        case .op("["):
            return Expr(kind: .list(try parseItems(close: "]") { try $0.parseExpression() }), position: position)
        case .op("{"):
            return Expr(kind: .dict(try parseItems(close: "}") { parser in
                let key = try parser.parseExpression()
                try parser.expectOp(":")
                return (key, try parser.parseExpression())
            }), position: position)
        default:
            throw unexpected()
        }
    }

    /// `[a, b,]` / `{k: v,}` items after the opening bracket (trailing comma allowed).
    private mutating func parseItems<T>(close: String, _ item: (inout JinjaParser) throws -> T) throws -> [T] {
        advance()
        try enter()
        defer { leave() }
        var items: [T] = []
        while !isOp(close) {
            if !items.isEmpty {
                try expectOp(",")
                if isOp(close) { break }
            }
            items.append(try item(&self))
        }
        advance()
        return items
    }

    private mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var expr = base
        while true {
            if isOp(".") || isOp("[") {
                expr = try parseSubscript(expr)
            } else if isOp("(") {
                expr = Expr(kind: .call(expr, try parseCallArguments()), position: current.position)
            } else {
                return expr
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr) throws -> Expr {
        let position = current.position
        if skipOp(".") {
            switch current.kind {
            case .name(let n):
                advance()
                return Expr(kind: .getAttr(base, n), position: position)
            case .integer(let i):
                advance()
                return Expr(kind: .getItem(base, Expr(kind: .literal(.int(i)), position: position)), position: position)
            default:
                throw unexpected(expected: "name or number")
            }
        }
        try expectOp("[")
        var args: [Expr] = []
        while !isOp("]") {
            if !args.isEmpty { try expectOp(",") }
            args.append(try parseSubscribed())
        }
        try expectOp("]")
        let index = args.count == 1 ? args[0] : Expr(kind: .tuple(args), position: position)
        return Expr(kind: .getItem(base, index), position: position)
    }

    private mutating func parseSubscribed() throws -> Expr {
        let position = current.position
        var parts: [Expr?] = []
        if skipOp(":") {
            parts.append(nil)
        } else {
            let expr = try parseExpression()
            guard skipOp(":") else { return expr }
            parts.append(expr)
        }
        parts.append(isOp(":") || isOp("]") || isOp(",") ? nil : try parseExpression())
        if skipOp(":") {
            parts.append(isOp("]") || isOp(",") ? nil : try parseExpression())
        } else {
            parts.append(nil)
        }
        return Expr(kind: .slice(start: parts[0], stop: parts[1], step: parts[2]), position: position)
    }

    mutating func parseCallArguments() throws -> CallArguments {
        try expectOp("(")
        try enter()
        defer { leave() }
        var args = CallArguments()
        var first = true
        while !isOp(")") {
            if !first {
                try expectOp(",")
                if isOp(")") { break }
            }
            first = false
            if skipOp("*") {
                args.varArgs = try parseExpression()
            } else if skipOp("**") {
                args.varKeywords = try parseExpression()
            } else if case .name(let key) = current.kind, isOp("=", peek()) {
                advance()
                advance()
                args.keyword.append((key, try parseExpression()))
            } else {
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    // MARK: - Filters and tests

    private mutating func parseFilterExpr(_ base: Expr) throws -> Expr {
        var expr = base
        while true {
            if isOp("|") {
                expr = try parseFilter(expr)
            } else if isName("is") {
                expr = try parseTest(expr)
            } else if isOp("(") {
                expr = Expr(kind: .call(expr, try parseCallArguments()), position: current.position)
            } else {
                return expr
            }
        }
    }

    private mutating func parseFilter(_ base: Expr) throws -> Expr {
        var expr = base
        while skipOp("|") {
            let position = current.position
            let name = try parseDottedName()
            let args = isOp("(") ? try parseCallArguments() : CallArguments()
            expr = Expr(kind: .filter(expr, name: name, args), position: position)
        }
        return expr
    }

    private mutating func parseTest(_ base: Expr) throws -> Expr {
        let position = current.position
        advance()  // `is`
        let negated = skipName("not")
        let name = try parseDottedName()
        var args = CallArguments()
        if isOp("(") {
            args = try parseCallArguments()
        } else if startsBareTestArgument() {
            if isName("is") { throw JinjaError.syntax("You cannot chain multiple tests with is", at: current.position) }
            args.positional = [try parsePostfix(try parsePrimary())]
        }
        let test = Expr(kind: .test(base, name: name, args), position: position)
        return negated ? Expr(kind: .not(test), position: position) : test
    }

    /// `x is divisibleby 3`: a test may take one argument without parentheses.
    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }

    mutating func parseDottedName() throws -> String {
        var name = try expectName()
        while isOp("."), case .name(let more) = peek().kind {
            advance()
            advance()
            name += "." + more
        }
        return name
    }
}
