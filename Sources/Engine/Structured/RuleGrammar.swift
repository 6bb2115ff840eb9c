/// A context-free grammar over text: vLLM's `guided_grammar` and `structured_outputs.grammar` (xgrammar's EBNF) and
/// llama.cpp's `grammar` (GBNF), read by `GrammarSyntax` and followed byte by byte as an output grammar's root
/// (`GrammarMatcher+Rules`). Groups and repeated items are rules of their own; a rule's alternatives are sequences.
///
/// `checked` leaves only what the matcher can follow to an end: no alternative that cannot finish (every prefix
/// the matcher lets through can be completed), no left recursion (it would open rules without end before a byte),
/// and no repeated item that may be empty with a least count (empty turns are never needed then).
public struct RuleGrammar: Sendable, Hashable {
    public enum Element: Sendable, Hashable {
        /// These bytes, in order (never empty).
        case bytes([UInt8])
        /// One character of the set.
        case chars(CharacterClass)
        /// One match of a rule.
        case rule(Int)
        /// `min...max` matches of a rule in a row (`max` nil: no most).
        case repeated(rule: Int, min: Int, max: Int?)
    }

    /// Every rule's alternatives, each a sequence of elements.
    public internal(set) var sequences: [[Element]]
    /// Per rule: the indices of its alternatives in `sequences`.
    public internal(set) var alternatives: [[Int]]
    /// Per rule: its name as written, or the rule it is part of ("expr (group)").
    public internal(set) var names: [String]
    public internal(set) var root: Int

    /// Why a grammar cannot be followed.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The grammar without alternatives that cannot finish, or why it cannot be followed at all.
    public static func checked(sequences: [[Element]], alternatives: [[Int]], names: [String], root: Int) throws(Problem) -> RuleGrammar {
        var g = RuleGrammar(sequences: sequences, alternatives: alternatives, names: names, root: root)
        try g.pruneUnfinishable()
        g.relaxEmptyRepetitions()
        if let rule = g.leftRecursiveRule() {
            throw Problem("rule '\(g.names[rule])' can begin with itself (left recursion), which this server does not follow; "
                          + "write the repetition with * or + instead (e.g. list ::= item (\",\" item)*)")
        }
        return g
    }

    // MARK: analysis

    /// What an element needs for an analysis to hold of it.
    enum Needs { case nothing, never, rule(Int) }

    /// Per rule: whether some alternative has every element's need met, to a fixed point, on a worklist (linear
    /// in the grammar's size: each rule found settles the elements that wait for it).
    func fixedPoint(_ needs: (Element) -> Needs) -> [Bool] {
        var found = [Bool](repeating: false, count: alternatives.count)
        var owner = [Int](repeating: -1, count: sequences.count)
        for (r, alts) in alternatives.enumerated() { for s in alts { owner[s] = r } }
        var unmet = [Int](repeating: 0, count: sequences.count)
        var waiting = [[Int]](repeating: [], count: alternatives.count)   // per rule: the sequences whose elements need it
        var queue: [Int] = []
        for (s, sequence) in sequences.enumerated() where owner[s] >= 0 {
            for e in sequence {
                switch needs(e) {
                case .nothing: break
                case .never: unmet[s] += 1
                case let .rule(q): unmet[s] += 1; waiting[q].append(s)
                }
            }
            if unmet[s] == 0, !found[owner[s]] { found[owner[s]] = true; queue.append(owner[s]) }
        }
        while let q = queue.popLast() {
            for s in waiting[q] {
                unmet[s] -= 1
                if unmet[s] == 0, !found[owner[s]] { found[owner[s]] = true; queue.append(owner[s]) }
            }
        }
        return found
    }

    /// Per rule: whether it can match some finite text.
    func finishable() -> [Bool] {
        fixedPoint { e in
            switch e {
            case .bytes: .nothing
            case let .chars(set): set.isEmpty ? .never : .nothing
            case let .rule(q): .rule(q)
            case let .repeated(q, min, max): min == 0 || max == 0 ? .nothing : .rule(q)
            }
        }
    }

    /// Per rule: whether it can match the empty text.
    func nullable() -> [Bool] {
        fixedPoint { e in
            switch e {
            case .bytes, .chars: .never
            case let .rule(q): .rule(q)
            case let .repeated(q, min, max): min == 0 || max == 0 ? .nothing : .rule(q)
            }
        }
    }

    static func isNullable(_ e: Element, _ empty: [Bool]) -> Bool {
        switch e {
        case .bytes, .chars: false
        case let .rule(q): empty[q]
        case let .repeated(q, min, max): min == 0 || max == 0 || empty[q]
        }
    }

    /// Drops alternatives that cannot finish, and optional repetitions of items that cannot: a model led into one
    /// could never end its output.
    mutating func pruneUnfinishable() throws(Problem) {
        let ok = finishable()
        guard ok[root] else {
            throw Problem("no finite text matches rule '\(names[root])' (every way through it needs a rule that never ends)")
        }
        for s in sequences.indices {
            sequences[s] = sequences[s].filter { e in
                // An optional repetition of an item that cannot finish can only be skipped; a required one drops
                // its alternative below.
                if case let .repeated(q, min, max) = e, max == 0 || (min == 0 && !ok[q]) { return false }
                return true
            }
        }
        for r in alternatives.indices {
            alternatives[r] = alternatives[r].filter { s in
                sequences[s].allSatisfy { e in
                    switch e {
                    case .bytes: true
                    case let .chars(set): !set.isEmpty
                    case let .rule(q): ok[q]
                    case let .repeated(q, _, _): ok[q]
                    }
                }
            }
        }
    }

    /// A repeated item that may match nothing needs no least count (empty turns fill it); past the least count
    /// the matcher drops a turn that adds nothing (`RuleSettle`), so empty turns are never counted through.
    mutating func relaxEmptyRepetitions() {
        let empty = nullable()
        for s in sequences.indices {
            for (i, e) in sequences[s].enumerated() {
                if case let .repeated(q, min, max) = e, min > 0, empty[q] { sequences[s][i] = .repeated(rule: q, min: 0, max: max) }
            }
        }
    }

    /// A rule that can reach itself before reading a byte, if any: the rules each alternative can open at its
    /// start (past elements that may be empty) are edges, and a cycle among them is left recursion.
    func leftRecursiveRule() -> Int? {
        let empty = nullable()
        var edges = [[Int]](repeating: [], count: alternatives.count)
        for r in alternatives.indices {
            for s in alternatives[r] {
                for e in sequences[s] {
                    switch e {
                    case let .rule(q), let .repeated(q, _, _): edges[r].append(q)
                    case .bytes, .chars: break
                    }
                    if !Self.isNullable(e, empty) { break }
                }
            }
        }
        var state = [UInt8](repeating: 0, count: alternatives.count)   // 0 new, 1 on the path, 2 done
        for start in alternatives.indices where state[start] == 0 {
            var stack: [(rule: Int, next: Int)] = [(start, 0)]
            state[start] = 1
            while let (r, next) = stack.last {
                if next < edges[r].count {
                    stack[stack.count - 1].next += 1
                    let q = edges[r][next]
                    if state[q] == 1 { return q }
                    if state[q] == 0 { state[q] = 1; stack.append((q, 0)) }
                } else {
                    state[r] = 2
                    stack.removeLast()
                }
            }
        }
        return nil
    }
}

/// A set of Unicode scalars (never surrogates) as sorted, disjoint, non-touching ranges.
public struct CharacterClass: Sendable, Hashable {
    public private(set) var ranges: [ClosedRange<UInt32>]

    public static let all = CharacterClass([0...0x10FFFF])

    /// `negated`: the scalars not in `ranges`.
    public init(_ ranges: [ClosedRange<UInt32>], negated: Bool = false) {
        var merged: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        if negated {
            var out: [ClosedRange<UInt32>] = [], next: UInt32 = 0
            for r in merged {
                if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
                next = r.upperBound &+ 1
            }
            if next <= 0x10FFFF, merged.last.map({ $0.upperBound < 0x10FFFF }) ?? true { out.append(next...0x10FFFF) }
            merged = out
        }
        // No surrogates: they are not characters, and UTF-8 cannot write them.
        self.ranges = merged.flatMap { r -> [ClosedRange<UInt32>] in
            var parts: [ClosedRange<UInt32>] = []
            if r.lowerBound < 0xD800 { parts.append(r.lowerBound...min(r.upperBound, 0xD7FF)) }
            if r.upperBound > 0xDFFF { parts.append(max(r.lowerBound, 0xE000)...min(r.upperBound, 0x10FFFF)) }
            return parts.filter { $0.lowerBound <= $0.upperBound && $0.lowerBound <= 0x10FFFF }
        }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func contains(_ scalar: UInt32) -> Bool { intersects(scalar, scalar) }

    /// Whether a scalar in `low...high` is in the set.
    public func intersects(_ low: UInt32, _ high: UInt32) -> Bool {
        var lo = 0, hi = ranges.count   // the first range that ends at or past `low`
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < low { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].lowerBound <= high
    }
}
