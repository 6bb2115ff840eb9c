/// Builds the syntax tree from tokens, following jinja2's `Parser` grammar and precedence.
///
/// Statements are parsed here; expressions in `JinjaParser+Expressions.swift`.
struct JinjaParser {
    var tokens: [Token]
    var index = 0
    /// Nesting depth of blocks and expressions; capped so hostile templates cannot
    /// exhaust the stack.
    var depth = 0
    static let maxDepth = 64
    /// Inside how many `for` bodies we are (for `break`/`continue` checks); reset by macros.
    private var loopDepth = 0

    init(tokens: [Token]) {
        self.tokens = tokens
    }

    static func parse(source: String, options: JinjaOptions) throws -> [Node] {
        var lexer = JinjaLexer(source: source, options: options)
        var parser = JinjaParser(tokens: try lexer.tokenize())
        let (body, _) = try parser.parseBody(until: [])
        return body
    }

    // MARK: - Token helpers

    var current: Token { tokens[min(index, tokens.count - 1)] }

    func peek(_ offset: Int = 1) -> Token { tokens[min(index + offset, tokens.count - 1)] }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    func isOp(_ op: String, _ token: Token? = nil) -> Bool {
        if case .op(let o) = (token ?? current).kind { return o == op }
        return false
    }

    func isName(_ name: String, _ token: Token? = nil) -> Bool {
        if case .name(let n) = (token ?? current).kind { return n == name }
        return false
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        advance()
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw unexpected(expected: "'\(op)'") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = current.kind else { throw unexpected(expected: "name") }
        advance()
        return name
    }

    mutating func expectName(_ name: String) throws {
        guard skipName(name) else { throw unexpected(expected: "'\(name)'") }
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw unexpected(expected: "end of statement block") }
        advance()
    }

    func unexpected(expected: String? = nil) -> JinjaError {
        let found = JinjaParser.describe(current.kind)
        let message = expected.map { "unexpected \(found), expected \($0)" } ?? "unexpected \(found)"
        return JinjaError.syntax(message, at: current.position)
    }

    static func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .text: return "template data"
        case .variableBegin: return "'begin of print statement'"
        case .variableEnd: return "'end of print statement'"
        case .blockBegin: return "'begin of statement block'"
        case .blockEnd: return "'end of statement block'"
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string \(PythonString.repr(s))"
        case .integer(let i): return "integer \(i)"
        case .float(let d): return "float \(PythonFloat.repr(d))"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    mutating func enter() throws {
        depth += 1
        if depth > JinjaParser.maxDepth {
            throw JinjaError.syntax("template nesting is too deep (limit \(JinjaParser.maxDepth))", at: current.position)
        }
    }

    mutating func leave() { depth -= 1 }

    // MARK: - Bodies

    /// Parses nodes until a block tag whose name is in `endTags` (left unconsumed, current
    /// token is that name) or end of input (only allowed when `endTags` is empty).
    mutating func parseBody(until endTags: Set<String>, opener: String? = nil) throws -> (nodes: [Node], end: String?) {
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                nodes.append(Node(kind: .text(text), position: token.position))
                advance()
            case .variableBegin:
                advance()
                let expr = try parseTuple()
                guard current.kind == .variableEnd else { throw unexpected(expected: "end of print statement") }
                advance()
                nodes.append(Node(kind: .output(expr), position: token.position))
            case .blockBegin:
                advance()
                if case .name(let name) = current.kind, endTags.contains(name) { return (nodes, name) }
                if let node = try parseStatement() { nodes.append(node) }
                try expectBlockEnd()
            case .eof:
                guard endTags.isEmpty else { throw unexpectedEnd(endTags, opener: opener) }
                return (nodes, nil)
            default:
                throw unexpected()
            }
        }
    }

    private func unexpectedEnd(_ endTags: Set<String>, opener: String?) -> JinjaError {
        let looking = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
        var message = "Unexpected end of template. Jinja was looking for the following tags: \(looking)."
        if let opener { message += " The innermost block that needs to be closed is '\(opener)'." }
        return JinjaError.syntax(message, at: current.position)
    }

    /// Parses a statement's header end (`%}`), then its body up to one of `endTags`.
    /// Returns the body and the end tag found; the end tag's name is consumed.
    private mutating func parseBlockBody(_ endTags: Set<String>, opener: String) throws -> (nodes: [Node], end: String) {
        try expectBlockEnd()
        try enter()
        defer { leave() }
        let (nodes, end) = try parseBody(until: endTags, opener: opener)
        advance()  // the end tag's name
        return (nodes, end ?? "")
    }

    // MARK: - Statements

    private mutating func parseStatement() throws -> Node? {
        let position = current.position
        let keyword = try expectName()
        let kind: Node.Kind
        switch keyword {
        case "if": kind = try parseIf()
        case "for": kind = try parseFor()
        case "set": kind = try parseSet()
        case "macro": kind = try parseMacro()
        case "call": kind = try parseCallBlock()
        case "filter": kind = try parseFilterBlock()
        case "with": kind = try parseWith()
        case "print": kind = .output(try parseTuple())
        case "generation":
            // HF's AssistantTracker: the body renders as-is (in its own scope, like a call block).
            kind = .with(assignments: [], body: try parseBlockBody(["endgeneration"], opener: keyword).nodes)
        case "break", "continue":
            guard loopDepth > 0 else {
                throw JinjaError.syntax("'\(keyword)' outside loop", at: position)
            }
            kind = keyword == "break" ? .breakLoop : .continueLoop
        case "block", "extends", "include", "import", "from", "autoescape", "do":
            throw JinjaError.syntax("'\(keyword)' tags are not supported", at: position)
        default:
            throw JinjaError.syntax("Encountered unknown tag '\(keyword)'.", at: position)
        }
        return Node(kind: kind, position: position)
    }

    private mutating func parseIf() throws -> Node.Kind {
        var branches: [(condition: Expr, body: [Node])] = []
        var otherwise: [Node] = []
        while true {
            let condition = try parseTuple(withConditional: false)
            let (body, end) = try parseBlockBody(["elif", "else", "endif"], opener: "if")
            branches.append((condition, body))
            if end == "elif" { continue }
            if end == "else" { otherwise = try parseBlockBody(["endif"], opener: "if").nodes }
            break
        }
        return .ifChain(branches: branches, otherwise: otherwise)
    }

    private mutating func parseFor() throws -> Node.Kind {
        let target = try parseAssignTarget(extraEnd: ["in"])
        try expectName("in")
        let iterable = try parseTuple(withConditional: false, extraEnd: ["recursive"])
        var filter: Expr?
        if skipName("if") { filter = try parseExpression() }
        if isName("recursive") {
            throw JinjaError.syntax("recursive for loops are not supported", at: current.position)
        }
        loopDepth += 1
        let (body, end) = try parseBlockBody(["endfor", "else"], opener: "for")
        loopDepth -= 1
        let otherwise = end == "else" ? try parseBlockBody(["endfor"], opener: "for").nodes : []
        return .forLoop(ForLoop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise))
    }

    private mutating func parseSet() throws -> Node.Kind {
        let target = try parseAssignTarget(withNamespace: true)
        if skipOp("=") { return .set(target, try parseTuple()) }
        let filters = try parseFilterCalls(inline: false)
        return .setBlock(target, filters: filters, body: try parseBlockBody(["endset"], opener: "set").nodes)
    }

    private mutating func parseMacro() throws -> Node.Kind {
        let name = try expectName()
        let parameters = try parseSignature()
        let savedLoopDepth = loopDepth
        loopDepth = 0
        defer { loopDepth = savedLoopDepth }
        let body = try parseBlockBody(["endmacro"], opener: "macro").nodes
        return .macro(MacroDefinition(name: name, parameters: parameters, body: body))
    }

    private mutating func parseSignature() throws -> [MacroParameter] {
        try expectOp("(")
        var parameters: [MacroParameter] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            let name = try expectName()
            var defaultValue: Expr?
            if skipOp("=") {
                defaultValue = try parseExpression()
            } else if parameters.contains(where: { $0.defaultValue != nil }) {
                throw JinjaError.syntax("non-default argument follows default argument", at: current.position)
            }
            parameters.append(MacroParameter(name: name, defaultValue: defaultValue))
        }
        try expectOp(")")
        return parameters
    }

    private mutating func parseCallBlock() throws -> Node.Kind {
        let parameters = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw JinjaError.syntax("expected call", at: call.position) }
        let savedLoopDepth = loopDepth
        loopDepth = 0
        defer { loopDepth = savedLoopDepth }
        let body = try parseBlockBody(["endcall"], opener: "call").nodes
        return .callBlock(call: call, parameters: parameters, body: body)
    }

    private mutating func parseFilterBlock() throws -> Node.Kind {
        let filters = try parseFilterCalls(inline: true)
        return .filterBlock(filters: filters, body: try parseBlockBody(["endfilter"], opener: "filter").nodes)
    }

    private mutating func parseWith() throws -> Node.Kind {
        var assignments: [(target: AssignTarget, value: Expr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget()
            try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        return .with(assignments: assignments, body: try parseBlockBody(["endwith"], opener: "with").nodes)
    }

    /// `| f(args) | g` after `set x` (inline: false, needs the leading `|`) or after `filter`.
    private mutating func parseFilterCalls(inline: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        var first = inline
        while first || isOp("|") {
            if !first { advance() }
            first = false
            let position = current.position
            let name = try parseDottedName()
            let arguments = isOp("(") ? try parseCallArguments() : CallArguments()
            filters.append(FilterCall(name: name, arguments: arguments, position: position))
        }
        return filters
    }

    // MARK: - Assignment targets

    mutating func parseAssignTarget(extraEnd: Set<String> = [], withNamespace: Bool = false) throws -> AssignTarget {
        let position = current.position
        if withNamespace, case .name(let ns) = current.kind, isOp(".", peek()) {
            advance()
            advance()
            return .namespaceAttribute(namespace: ns, attribute: try expectName())
        }
        let expr = try parseTuple(simplified: true, extraEnd: extraEnd)
        guard let target = JinjaParser.assignTarget(expr) else {
            throw JinjaError.syntax("can't assign to this expression", at: position)
        }
        return target
    }

    private static func assignTarget(_ expr: Expr) -> AssignTarget? {
        switch expr.kind {
        case .name(let n): return .name(n)
        case .tuple(let items):
            let targets = items.compactMap(assignTarget)
            return targets.count == items.count ? .tuple(targets) : nil
        default: return nil
        }
    }
}
