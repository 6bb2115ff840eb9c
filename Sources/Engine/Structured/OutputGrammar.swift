/// The JSON a request's output must be: a graph of value shapes, built by the API from `response_format`
/// (a JSON Schema subset) and followed byte by byte while sampling (`GrammarMatcher`). Nodes refer to each
/// other by index, so recursive schemas (`$ref` to an enclosing definition) are cycles in the graph.
public struct OutputGrammar: Sendable, Hashable {
    public indirect enum Node: Sendable, Hashable {
        /// An object: the listed properties in this order (each optional or required), then, if `additional` is
        /// set, any further keys with values of that node.
        case object(properties: [Property], additional: Int?)
        /// An array of `items` with a count in `minItems...maxItems` (nil: unbounded).
        case array(items: Int, minItems: Int, maxItems: Int?)
        /// Any string.
        case string
        /// A number (`integer`: digits only, no fraction or exponent).
        case number(integer: Bool)
        /// A string of `minLength...maxLength` characters (Unicode scalars, as JSON Schema counts; nil: no most).
        case boundedString(minLength: Int, maxLength: Int?)
        /// A number within bounds, written without an exponent (see `NumberRange`).
        case numberRange(NumberRange)
        /// A string whose characters match a pattern (JSON Schema `pattern`, or a `format` written as one).
        case patternString(PatternDFA)
        /// Exactly one of these JSON texts (enum, const, booleans, null), in compact form.
        case literals([[UInt8]])
        /// Any of these nodes.
        case anyOf([Int])
        /// Text, not JSON: the whole output is what the pattern matches, written as raw UTF-8 (vLLM's
        /// `guided_regex` and `guided_choice`). Only as the root.
        case rawText(PatternDFA)
        /// Text, not JSON: the whole output is exactly one of these byte strings (vLLM's `guided_choice`). Only as
        /// the root.
        case rawChoice([[UInt8]])
        /// Text, not JSON: the whole output is what a context-free grammar matches (vLLM's `guided_grammar`,
        /// llama.cpp's `grammar`). Only as the root.
        case rules(RuleGrammar)
    }

    /// The whole output matches a pattern, as plain text.
    public static func rawText(_ dfa: PatternDFA) -> OutputGrammar { OutputGrammar(nodes: [.rawText(dfa)], root: 0) }

    /// The whole output is one of these texts.
    public static func rawChoice(_ choices: [String]) -> OutputGrammar { OutputGrammar(nodes: [.rawChoice(choices.map { Array($0.utf8) })], root: 0) }

    /// The whole output is what the rule grammar matches.
    public static func rules(_ grammar: RuleGrammar) -> OutputGrammar { OutputGrammar(nodes: [.rules(grammar)], root: 0) }

    public struct Property: Sendable, Hashable {
        /// The key as JSON text, quotes included (`"name"`): the builder's escaping is what the output writes.
        public var key: [UInt8]
        public var value: Int
        public var required: Bool
        public init(key: [UInt8], value: Int, required: Bool) {
            self.key = key
            self.value = value
            self.required = required
        }
    }

    public var nodes: [Node]
    public var root: Int

    public init(nodes: [Node], root: Int) {
        self.nodes = nodes
        self.root = root
    }

    /// Any JSON object (OpenAI's `json_object` mode).
    public static var anyObject: OutputGrammar {
        var g = OutputGrammar(nodes: [], root: 0)
        let any = g.addAnyValue()
        g.root = g.add(.object(properties: [], additional: any))
        return g
    }

    /// Any JSON value.
    public static var anyValue: OutputGrammar {
        var g = OutputGrammar(nodes: [], root: 0)
        g.root = g.addAnyValue()
        return g
    }

    public mutating func add(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    /// Adds another grammar's nodes (renumbered) and returns the index of its root.
    public mutating func append(_ other: OutputGrammar) -> Int {
        let offset = nodes.count
        for node in other.nodes {
            switch node {
            case let .object(props, additional):
                nodes.append(.object(properties: props.map { .init(key: $0.key, value: $0.value + offset, required: $0.required) },
                                     additional: additional.map { $0 + offset }))
            case let .array(items, minItems, maxItems): nodes.append(.array(items: items + offset, minItems: minItems, maxItems: maxItems))
            case let .anyOf(alternatives): nodes.append(.anyOf(alternatives.map { $0 + offset }))
            case .string, .number, .literals, .boundedString, .numberRange, .patternString, .rawText, .rawChoice, .rules: nodes.append(node)
            }
        }
        return other.root + offset
    }

    /// Adds the nodes of "any JSON value" (objects and arrays of any values, recursively) and returns its index.
    public mutating func addAnyValue() -> Int {
        let any = add(.anyOf([]))
        let object = add(.object(properties: [], additional: any))
        let array = add(.array(items: any, minItems: 0, maxItems: nil))
        let string = add(.string)
        let number = add(.number(integer: false))
        let words = add(.literals([Array("true".utf8), Array("false".utf8), Array("null".utf8)]))
        nodes[any] = .anyOf([object, array, string, number, words])
        return any
    }

    /// Why the graph cannot be followed, if it cannot: an index out of range, or a cycle of `anyOf` nodes that
    /// consumes no input (`A = anyOf[A, …]`), which would expand without end.
    public var problem: String? {
        guard nodes.indices.contains(root) else { return "the root is not a node" }
        for node in nodes {
            let refs: [Int]
            switch node {
            case let .object(props, additional):
                if props.contains(where: { $0.key.count < 2 || $0.key.first != 0x22 || $0.key.last != 0x22 }) {
                    return "a property key is not a quoted JSON string"
                }
                refs = props.map(\.value) + (additional.map { [$0] } ?? [])
            case let .array(items, minItems, maxItems):
                if minItems < 0 || (maxItems.map { $0 < minItems } ?? false) { return "an array's item counts are out of order" }
                refs = [items]
            case let .anyOf(alternatives): refs = alternatives
            case let .literals(words): if words.contains(where: \.isEmpty) { return "an empty literal" }; refs = []
            case .string, .number: refs = []
            case let .boundedString(minLength, maxLength):
                if minLength < 0 || (maxLength.map { $0 < minLength } ?? false) { return "a string's length bounds are out of order" }
                refs = []
            case let .numberRange(r):
                if r.lower > r.upper { return "no number lies within the bounds" }
                refs = []
            case .patternString: refs = []
            case .rawText, .rawChoice, .rules:
                if node != nodes[root] || nodes.count != 1 { return "raw text is a whole grammar, never part of one" }
                if case let .rawChoice(words) = node, words.isEmpty || words.contains(where: \.isEmpty) { return "an empty choice" }
                refs = []
            }
            if refs.contains(where: { !nodes.indices.contains($0) }) { return "a node refers to a missing node" }
        }
        // Depth-first over anyOf edges only: a back edge is a cycle that reads nothing.
        var state = [UInt8](repeating: 0, count: nodes.count)   // 0 new, 1 on the path, 2 done
        func visit(_ i: Int) -> Bool {
            if state[i] == 1 { return false }
            if state[i] == 2 { return true }
            state[i] = 1
            if case let .anyOf(alternatives) = nodes[i] { for a in alternatives where !visit(a) { return false } }
            state[i] = 2
            return true
        }
        for i in nodes.indices where !visit(i) { return "the schema refers to itself without reading anything (an anyOf or $ref cycle)" }
        if Self.leaves(nodes).contains(where: { $0.count > Self.maxAlternatives }) {
            return "an anyOf has more than \(Self.maxAlternatives) alternatives (counting nested ones)"
        }
        if !finite[root] { return "no finite JSON value follows the schema (it requires itself without end)" }
        return nil
    }

    /// Alternatives one value may start as, at most.
    public static let maxAlternatives = 256

    /// Per node: whether some finite value has its shape (a fixed point: an object whose required properties
    /// all can be, an array that may be empty or whose items can be, an anyOf with one alternative that can be).
    var finite: [Bool] {
        var ok = [Bool](repeating: false, count: nodes.count)
        var changed = true
        while changed {
            changed = false
            for (i, node) in nodes.enumerated() where !ok[i] {
                let now: Bool
                switch node {
                case .string, .number, .literals, .boundedString, .numberRange, .patternString, .rawText, .rawChoice, .rules: now = true
                case let .array(items, minItems, _): now = minItems == 0 || ok[items]
                case let .object(props, _): now = props.allSatisfy { !$0.required || ok[$0.value] }
                case let .anyOf(alternatives): now = alternatives.contains { ok[$0] }
                }
                if now { ok[i] = true; changed = true }
            }
        }
        return ok
    }
}

/// The numbers a `numberRange` node allows: `lower...upper` in units of 10^-`scale` (`scale` 0 for integers, else
/// `fractionDigits`), written without an exponent, with at most `integerDigits` digits before the point and `scale`
/// after it. Every prefix the matcher lets through can still end inside the bounds: `feasible` checks each step
/// with exact integer arithmetic (the largest magnitude, 10^18 − 1 units, fits 64 bits).
public struct NumberRange: Sendable, Hashable {
    public var integer: Bool
    public var lower: Int64
    public var upper: Int64

    /// Fraction digits of bounded non-integers: enough for any probability or measurement a model writes.
    public static let fractionDigits = 6

    public init(integer: Bool, lower: Int64, upper: Int64) {
        self.integer = integer
        self.lower = lower
        self.upper = upper
    }

    public var scale: Int { integer ? 0 : Self.fractionDigits }
    public var integerDigits: Int { integer ? 18 : 12 }
    /// Units per 1 (10^scale).
    public var unit: Int64 { Self.pow10(scale) }
    /// The largest magnitude writable, in units.
    public var maxMagnitude: Int64 { Self.pow10(integerDigits + scale) - 1 }

    static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(1) { v, _ in v * 10 } }

    /// The DFA of a bounded number, in `state`'s low 4 bits: 0 start, 1 after '-', 2 a lone 0, 3 integer digits,
    /// 4 after '.', 5 fraction digits; above them, the digits of the current part. `magnitude` is the value so far
    /// in units, `negative` its sign. nil for a byte that cannot come, or after which no value within the bounds
    /// could be completed.
    func step(_ state: Int32, magnitude: Int64, negative: Bool, _ b: UInt8) -> (state: Int32, magnitude: Int64, negative: Bool)? {
        let s = state & 15, n = Int(state >> 4)
        let digit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
        let d = Int64(b) - Int64(UInt8(ascii: "0"))
        var next: (state: Int32, magnitude: Int64, negative: Bool)
        switch s {
        case 0, 1:
            if s == 0, b == UInt8(ascii: "-") { next = (1, 0, true) }
            else if b == UInt8(ascii: "0") { next = (2, 0, negative) }
            else if digit { next = (3 | 1 << 4, d * unit, negative) }
            else { return nil }
        case 2, 3:
            if s == 3, digit {
                guard n < integerDigits else { return nil }
                next = (3 | Int32(n + 1) << 4, (magnitude / unit * 10 + d) * unit, negative)
            } else if b == UInt8(ascii: "."), !integer {
                next = (4, magnitude, negative)
            } else { return nil }
        case 4, 5:
            let k = s == 4 ? 0 : n
            guard digit, k < scale else { return nil }
            next = (5 | Int32(k + 1) << 4, magnitude + d * Self.pow10(scale - k - 1), negative)
        default: return nil
        }
        return feasible(next.state, magnitude: next.magnitude, negative: next.negative) ? next : nil
    }

    /// Whether the text so far is a whole number within the bounds.
    func complete(_ state: Int32, magnitude: Int64, negative: Bool) -> Bool {
        guard [2, 3, 5].contains(state & 15) else { return false }
        let v = negative ? -magnitude : magnitude
        return v >= lower && v <= upper
    }

    /// Whether some completion of the text so far lies within the bounds: the magnitudes its completions can have
    /// are a few intervals (more integer digits, or fraction digits), each checked against the bounds.
    func feasible(_ state: Int32, magnitude m: Int64, negative: Bool) -> Bool {
        let s = state & 15, n = Int(state >> 4)
        var intervals: [(Int64, Int64)] = []
        switch s {
        case 1: intervals = [(0, maxMagnitude)]
        case 2: intervals = [(0, unit - 1)]
        case 3:
            let i = m / unit
            for j in 0...(integerDigits - n) { intervals.append((i * Self.pow10(j) * unit, (i + 1) * Self.pow10(j) * unit - 1)) }
        case 4: intervals = [(m, m + unit - 1)]
        case 5: intervals = [(m, m + Self.pow10(scale - n) - 1)]
        default: return false
        }
        return intervals.contains { lo, hi in
            let (a, b) = negative ? (-hi, -lo) : (lo, hi)
            return a <= upper && b >= lower
        }
    }
}
