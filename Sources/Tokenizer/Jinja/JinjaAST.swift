// The syntax tree of a parsed template: statements (`Node`) and expressions (`Expr`).
// Every node keeps its source position so runtime errors can name the template line.

/// An expression with its position in the template.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(JinjaValue)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(key: Expr, value: Expr)])
        case getAttr(Expr, String)
        case getItem(Expr, Expr)
        case slice(start: Expr?, stop: Expr?, step: Expr?)
        case call(Expr, CallArguments)
        case filter(Expr, name: String, CallArguments)
        case test(Expr, name: String, CallArguments)
        case unary(UnaryOp, Expr)
        case binary(BinaryOp, Expr, Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case not(Expr)
        case compare(Expr, [(op: CompareOp, rhs: Expr)])
        case concat([Expr])
        case conditional(test: Expr, then: Expr, otherwise: Expr?)
    }

    var kind: Kind
    var position: SourcePosition
}

/// Arguments of a call, filter or test: `f(a, b, key=c, *rest, **more)`.
struct CallArguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(name: String, value: Expr)] = []
    var varArgs: Expr?
    var varKeywords: Expr?
}

enum UnaryOp: Sendable { case minus, plus }

enum BinaryOp: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//"
    case modulo = "%", power = "**"
}

enum CompareOp: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case isIn = "in", notIn = "not in"
}

/// The left side of `set` and the variables of `for`.
indirect enum AssignTarget: Sendable {
    case name(String)
    case namespaceAttribute(namespace: String, attribute: String)
    case tuple([AssignTarget])
}

/// A filter applied by `{% filter %}` blocks and `{% set x | f %}`.
struct FilterCall: Sendable {
    var name: String
    var arguments: CallArguments
    var position: SourcePosition
}

/// A macro parameter with its optional default value.
struct MacroParameter: Sendable {
    var name: String
    var defaultValue: Expr?
}

/// A statement or piece of output.
struct Node: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(Expr)
        case ifChain(branches: [(condition: Expr, body: [Node])], otherwise: [Node])
        case forLoop(ForLoop)
        case set(AssignTarget, Expr)
        case setBlock(AssignTarget, filters: [FilterCall], body: [Node])
        case macro(MacroDefinition)
        case callBlock(call: Expr, parameters: [MacroParameter], body: [Node])
        case filterBlock(filters: [FilterCall], body: [Node])
        case with(assignments: [(target: AssignTarget, value: Expr)], body: [Node])
        case breakLoop
        case continueLoop
    }

    var kind: Kind
    var position: SourcePosition
}

struct ForLoop: Sendable {
    var target: AssignTarget
    var iterable: Expr
    var filter: Expr?
    var body: [Node]
    var otherwise: [Node]
}

struct MacroDefinition: Sendable {
    var name: String
    var parameters: [MacroParameter]
    var body: [Node]
    /// Whether the body reads `varargs` / `kwargs`; jinja2 rejects extra arguments otherwise.
    var usesVarargs: Bool
    var usesKwargs: Bool

    init(name: String, parameters: [MacroParameter], body: [Node]) {
        self.name = name
        self.parameters = parameters
        self.body = body
        let names = NameCollector.names(in: body)
        usesVarargs = names.contains("varargs")
        usesKwargs = names.contains("kwargs")
    }
}

/// Collects every variable name read anywhere in a statement list.
enum NameCollector {
    static func names(in nodes: [Node]) -> Set<String> {
        var names = Set<String>()
        for node in nodes { collect(node, into: &names) }
        return names
    }

    private static func collect(_ node: Node, into names: inout Set<String>) {
        var exprs: [Expr] = []
        var bodies: [[Node]] = []
        switch node.kind {
        case .text, .breakLoop, .continueLoop: break
        case .output(let e), .set(_, let e): exprs = [e]
        case .ifChain(let branches, let otherwise):
            exprs = branches.map(\.condition)
            bodies = branches.map(\.body) + [otherwise]
        case .forLoop(let loop):
            exprs = [loop.iterable] + (loop.filter.map { [$0] } ?? [])
            bodies = [loop.body, loop.otherwise]
        case .setBlock(_, let filters, let body), .filterBlock(let filters, let body):
            exprs = filters.flatMap { arguments($0.arguments) }
            bodies = [body]
        case .macro(let definition):
            exprs = definition.parameters.compactMap(\.defaultValue)
            bodies = [definition.body]
        case .callBlock(let call, _, let body):
            exprs = [call]
            bodies = [body]
        case .with(let assignments, let body):
            exprs = assignments.map(\.value)
            bodies = [body]
        }
        for e in exprs { collect(e, into: &names) }
        for body in bodies { for n in body { collect(n, into: &names) } }
    }

    private static func arguments(_ args: CallArguments) -> [Expr] {
        args.positional + args.keyword.map(\.value) + [args.varArgs, args.varKeywords].compactMap { $0 }
    }

    private static func collect(_ expr: Expr, into names: inout Set<String>) {
        var children: [Expr] = []
        switch expr.kind {
        case .literal: break
        case .name(let n): names.insert(n)
        case .list(let items), .tuple(let items), .concat(let items): children = items
        case .dict(let pairs): children = pairs.flatMap { [$0.key, $0.value] }
        case .getAttr(let base, _), .unary(_, let base), .not(let base): children = [base]
        case .getItem(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): children = [a, b]
        case .slice(let a, let b, let c): children = [a, b, c].compactMap { $0 }
        case .call(let base, let args), .filter(let base, _, let args), .test(let base, _, let args):
            children = [base] + arguments(args)
        case .compare(let lhs, let ops): children = [lhs] + ops.map(\.rhs)
        case .conditional(let test, let then, let otherwise): children = [test, then] + (otherwise.map { [$0] } ?? [])
        }
        for child in children { collect(child, into: &names) }
    }
}
