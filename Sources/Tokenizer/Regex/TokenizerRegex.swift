/// A compiled pre-tokenizer regex: a small backtracking matcher over Unicode scalars with
/// leftmost-first alternation and greedy/lazy quantifiers, i.e. Oniguruma's semantics for the
/// subset `RegexParser` accepts. It is the general path; the common patterns also have
/// hand-written scanners (`PatternScanner`) that the tests check against it.
public struct TokenizerRegex: Sendable {
    enum Anchor: Sendable { case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline }

    enum Inst: Sendable {
        case scalar(UInt32)
        /// Matches when the input scalar's case fold equals this (already folded) scalar.
        case scalarFold(UInt32)
        case charClass(Int)
        /// Try `first`, and on failure `second`.
        case split(Int, Int)
        case jump(Int)
        case look(program: Int, negated: Bool)
        case assert(Anchor)
        case match
    }

    public let pattern: String
    private var programs: [[Inst]] = []
    private var classes: [CharClass] = []

    public init(_ pattern: String) throws {
        self.pattern = pattern
        let root = try RegexParser.parse(pattern)
        _ = try compileProgram(root)
    }

    /// Non-empty, non-overlapping matches in `text` (scalar index ranges), leftmost first.
    public func matches(in text: UnsafeBufferPointer<UInt32>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var stack: [(Int, Int)] = []
        var start = 0
        while start < text.count {
            var found: Range<Int>? = nil
            for p in start..<text.count {
                if let e = run(0, text, p, &stack) { found = p..<e; break }
            }
            guard let m = found else { break }
            if m.isEmpty { start = m.lowerBound + 1 } else { out.append(m); start = m.upperBound }
        }
        return out
    }

    /// Convenience for tests: matches as substrings.
    public func matches(in text: String) -> [String] {
        let scalars = text.unicodeScalars.map(\.value)
        return scalars.withUnsafeBufferPointer { b in
            matches(in: b).map { r in String(String.UnicodeScalarView(scalars[r].map { Unicode.Scalar($0)! })) }
        }
    }

    // MARK: compiling

    private mutating func compileProgram(_ node: RegexNode) throws -> Int {
        let index = programs.count
        programs.append([])
        var p: [Inst] = []
        try emit(node, &p)
        p.append(.match)
        programs[index] = p
        return index
    }

    private mutating func emit(_ node: RegexNode, _ p: inout [Inst]) throws {
        switch node {
        case .empty: break
        case let .scalar(c, ci):
            let f = UnicodeClasses.fold(c)
            p.append(ci && (f != c || UnicodeClasses.upper(c) != c) ? .scalarFold(f) : .scalar(c))
        case let .charClass(cc):
            classes.append(cc)
            p.append(.charClass(classes.count - 1))
        case let .concat(nodes):
            for n in nodes { try emit(n, &p) }
        case let .alternation(branches):
            var jumps: [Int] = []
            for (k, b) in branches.enumerated() {
                if k == branches.count - 1 { try emit(b, &p); break }
                let split = p.count
                p.append(.split(split + 1, 0))
                try emit(b, &p)
                jumps.append(p.count)
                p.append(.jump(0))
                p[split] = .split(split + 1, p.count)
            }
            for j in jumps { p[j] = .jump(p.count) }
        case let .repetition(body, minCount, maxCount, greedy):
            try emitRepetition(body, minCount, maxCount, greedy, &p)
        case let .lookahead(body, negated):
            let program = try compileProgram(body)
            p.append(.look(program: program, negated: negated))
        case .lineStart: p.append(.assert(.lineStart))
        case .lineEnd: p.append(.assert(.lineEnd))
        case .textStart: p.append(.assert(.textStart))
        case .textEnd: p.append(.assert(.textEnd))
        case .textEndBeforeNewline: p.append(.assert(.textEndBeforeNewline))
        }
    }

    private mutating func emitRepetition(_ body: RegexNode, _ minCount: Int, _ maxCount: Int?, _ greedy: Bool, _ p: inout [Inst]) throws {
        for _ in 0..<minCount { try emit(body, &p) }
        func split(_ at: Int, body: Int, exit: Int) -> Inst { greedy ? .split(body, exit) : .split(exit, body) }
        guard let maxCount else {
            // NOTE: a body that can match empty would loop forever in this matcher; no shipped pattern has one.
            if Self.canMatchEmpty(body) { throw TokenizerError("regex \(pattern.debugDescription): unbounded repetition of something that can match empty is not supported") }
            let loop = p.count
            p.append(.jump(0))
            try emit(body, &p)
            p.append(.jump(loop))
            p[loop] = split(loop, body: loop + 1, exit: p.count)
            return
        }
        var splits: [Int] = []
        for _ in minCount..<maxCount {
            splits.append(p.count)
            p.append(.jump(0))
            try emit(body, &p)
        }
        for s in splits { p[s] = split(s, body: s + 1, exit: p.count) }
    }

    private static func canMatchEmpty(_ node: RegexNode) -> Bool {
        switch node {
        case .empty, .lookahead, .lineStart, .lineEnd, .textStart, .textEnd, .textEndBeforeNewline: return true
        case .scalar, .charClass: return false
        case let .concat(nodes): return nodes.allSatisfy(canMatchEmpty)
        case let .alternation(branches): return branches.contains(where: canMatchEmpty)
        case let .repetition(body, minCount, _, _): return minCount == 0 || canMatchEmpty(body)
        }
    }

    // MARK: matching

    /// End of the first match of program `index` anchored at `start`, in priority order.
    private func run(_ index: Int, _ text: UnsafeBufferPointer<UInt32>, _ start: Int, _ stack: inout [(Int, Int)]) -> Int? {
        let prog = programs[index]
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = 0, pos = start
        while true {
            var ok = true
            switch prog[pc] {
            case let .scalar(c): ok = pos < text.count && text[pos] == c; if ok { pos += 1; pc += 1 }
            case let .scalarFold(c): ok = pos < text.count && UnicodeClasses.fold(text[pos]) == c; if ok { pos += 1; pc += 1 }
            case let .charClass(k): ok = pos < text.count && classes[k].contains(text[pos]); if ok { pos += 1; pc += 1 }
            case let .split(a, b): stack.append((b, pos)); pc = a
            case let .jump(a): pc = a
            case let .look(program, negated):
                var sub: [(Int, Int)] = []
                ok = (run(program, text, pos, &sub) != nil) != negated
                if ok { pc += 1 }
            case let .assert(anchor): ok = Self.holds(anchor, text, pos); if ok { pc += 1 }
            case .match: return pos
            }
            if !ok {
                guard stack.count > base, let (bpc, bpos) = stack.popLast() else { return nil }
                pc = bpc; pos = bpos
            }
        }
    }

    private static func holds(_ anchor: Anchor, _ text: UnsafeBufferPointer<UInt32>, _ pos: Int) -> Bool {
        switch anchor {
        case .lineStart: return pos == 0 || text[pos - 1] == 0x0A
        case .lineEnd: return pos == text.count || text[pos] == 0x0A
        case .textStart: return pos == 0
        case .textEnd: return pos == text.count
        case .textEndBeforeNewline: return pos == text.count || (pos == text.count - 1 && text[pos] == 0x0A)
        }
    }
}
