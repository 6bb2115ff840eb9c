/// An `OutputGrammar` prepared for matching: each `anyOf` flattened to the distinct non-`anyOf` nodes it can
/// be, each object's keys and each literal set as a byte trie.
final class CompiledGrammar: Sendable {
    let nodes: [OutputGrammar.Node]
    let root: Int
    /// Per node: the nodes a value of it starts as (itself, or an `anyOf`'s alternatives, flattened, each once).
    /// Flattening keeps shared branches (two `$ref`s to one definition, nested) from multiplying at each value.
    let leaves: [[Int]]
    /// Per object node: its keys (JSON-escaped, without the opening quote, with the closing one), word j = property j.
    let keys: [ByteTrie?]
    /// Per literals (or raw choice) node: its texts.
    let literals: [ByteTrie?]
    /// The rule grammar at the root, if the root is one.
    let rules: RuleGrammar?

    init(_ grammar: OutputGrammar) {
        nodes = grammar.nodes
        root = grammar.root
        leaves = OutputGrammar.leaves(grammar.nodes)
        keys = grammar.nodes.map { node in
            guard case let .object(props, _) = node else { return nil }
            return ByteTrie(props.map { Array($0.key.dropFirst()) }, indexBelow: true)
        }
        literals = grammar.nodes.map { node in
            switch node {
            case let .literals(words), let .rawChoice(words): return ByteTrie(words)
            default: return nil
            }
        }
        if case let .rules(g) = grammar.nodes[grammar.root] { rules = g } else { rules = nil }
    }
}

extension OutputGrammar {
    /// Per node, the non-`anyOf` nodes it can be, in order, each once, at most `cap` + 1 of them (enough to tell
    /// that there are too many). Bottom-up over the `anyOf` edges (acyclic once `problem` is nil), so shared
    /// branches are flattened once, not once per path.
    public static func leaves(_ nodes: [Node], cap: Int = maxAlternatives) -> [[Int]] {
        var memo = [[Int]?](repeating: nil, count: nodes.count)
        for start in nodes.indices where memo[start] == nil {
            var stack: [(node: Int, expanded: Bool)] = [(start, false)]
            while let (n, expanded) = stack.popLast() {
                guard memo[n] == nil else { continue }
                guard case let .anyOf(alternatives) = nodes[n] else { memo[n] = [n]; continue }
                if !expanded {
                    stack.append((n, true))
                    for a in alternatives.reversed() where memo[a] == nil { stack.append((a, false)) }
                    continue
                }
                var out: [Int] = [], seen = Set<Int>()
                outer: for a in alternatives {
                    for l in memo[a] ?? [] where seen.insert(l).inserted {
                        out.append(l)
                        if out.count > cap { break outer }
                    }
                }
                memo[n] = out
            }
        }
        return memo.map { $0 ?? [] }
    }
}

/// A byte trie of words; each node knows which words end there and which lie below it.
struct ByteTrie: Sendable {
    private(set) var children: [[(byte: UInt8, next: Int32)]] = [[]]
    /// The word that ends at a node, or -1.
    private(set) var word: [Int32] = [-1]
    /// The words at or below a node, ascending.
    private(set) var below: [[Int32]] = [[]]

    /// `indexBelow`: also record the words below each node (for `reaches`; object keys need it, literals not).
    init(_ words: [[UInt8]], indexBelow: Bool = false) {
        for (w, bytes) in words.enumerated() {
            var at = 0
            if indexBelow { below[0].append(Int32(w)) }
            for b in bytes {
                if let next = child(at, b) {
                    at = next
                } else {
                    children.append([])
                    word.append(-1)
                    if indexBelow { below.append([]) }
                    children[at].append((b, Int32(children.count - 1)))
                    at = children.count - 1
                }
                if indexBelow { below[at].append(Int32(w)) }
            }
            if word[at] < 0 { word[at] = Int32(w) }
        }
    }

    func child(_ node: Int, _ byte: UInt8) -> Int? {
        for c in children[node] where c.byte == byte { return Int(c.next) }
        return nil
    }

    func isLeaf(_ node: Int) -> Bool { children[node].isEmpty }

    /// Whether a word in `range` ends at or below `node`.
    func reaches(_ node: Int, _ range: ClosedRange<Int>) -> Bool {
        let words = below[node]
        // The first word ≥ range.lowerBound, by binary search.
        var lo = 0, hi = words.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(words[mid]) < range.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        return lo < words.count && Int(words[lo]) <= range.upperBound
    }
}

/// The byte-level automata of JSON's scalars.
enum JSONScalars {
    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// Digits a number's integer part and fraction may have, and its exponent: every number written is then a
    /// finite double (at most ~1e117; a model left alone can write 1e4585, which most parsers refuse or make ∞),
    /// and every integer fits 64 bits, so it is read back exactly.
    static let maxMantissaDigits: Int32 = 18, maxExponentDigits: Int32 = 2

    /// JSON number DFA in the low 4 bits: 0 start, 1 after '-', 2 a lone 0, 3 integer digits, 4 after '.',
    /// 5 fraction digits, 6 after 'e', 7 after the exponent's sign, 8 exponent digits; above them, the digits
    /// of the current part so far.
    static func numberStep(_ state: Int32, _ b: UInt8, integer: Bool) -> Int32? {
        let s = state & 15, n = state >> 4
        let digit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
        let e = b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        func to(_ next: Int32, digits: Int32 = 0) -> Int32 { next | (digits << 4) }
        switch s {
        case 0, 1:
            if s == 0, b == UInt8(ascii: "-") { return 1 }
            return b == UInt8(ascii: "0") ? to(2) : digit ? to(3, digits: 1) : nil
        case 2, 3:
            if s == 3, digit { return n < maxMantissaDigits ? to(3, digits: n + 1) : nil }
            if integer { return nil }
            return b == UInt8(ascii: ".") ? to(4) : e ? to(6) : nil
        case 4, 5:
            if digit { return n < maxMantissaDigits ? to(5, digits: n + 1) : nil }
            return (s == 5 && e) ? to(6) : nil
        case 6: return (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) ? to(7) : digit ? to(8, digits: 1) : nil
        case 7, 8: return digit && n < maxExponentDigits ? to(8, digits: n + 1) : nil
        default: return nil
        }
    }

    static func numberComplete(_ state: Int32) -> Bool { [2, 3, 5, 8].contains(state & 15) }

    /// Inside a string, after its opening quote. The state packs: bits 0–1 UTF-8 continuation bytes still due,
    /// bits 2–4 the range the next one must be in (0: 80–BF, 1: A0–BF, 2: 80–9F, 3: 90–BF, 4: 80–8F), bits 5–7
    /// the escape (0 none, 1 after '\', 2–5 in "\u" with 0–3 hex digits read, 6 a high surrogate's low half due:
    /// '\', 7: then 'u'), bit 8 this escape's first digit was D, bit 9 this escape must be a low surrogate
    /// (DC00–DFFF), bit 10 it is a high one (D800–DBFF), bit 11 (`canonical`, kept throughout) only the escapes
    /// `JSONString` writes: `\" \\ \b \f \n \r \t` and `\u00xx` (lowercase) for other control characters, so
    /// a string has one spelling (object keys: "a" and "\u0061" must not pass for two keys). Bit 12: a `\u`
    /// escape's third digit was 1. Returns the next state, -1 at the closing quote, nil for a byte that cannot
    /// come next (control characters, bad escapes, lone surrogates, invalid UTF-8).
    static func stringStep(_ state: Int32, _ b: UInt8) -> Int32? {
        guard let next = stringStepInner(state, b) else { return nil }
        return next < 0 ? next : next | (state & canonical)
    }

    static let canonical: Int32 = 1 << 11

    /// Whether the next byte, in string state `state`, starts a character: no UTF-8 continuation byte is due and
    /// no escape is open (a low surrogate's `\uDC00` belongs to the character its high half started).
    static func startsCharacter(_ state: Int32) -> Bool { state & 3 == 0 && (state >> 5) & 7 == 0 }

    private static func stringStepInner(_ state: Int32, _ b: UInt8) -> Int32? {
        let due = state & 3, range = (state >> 2) & 7, esc = (state >> 5) & 7
        let strict = state & canonical != 0
        let firstD = state & (1 << 8) != 0, low = state & (1 << 9) != 0, high = state & (1 << 10) != 0
        if due > 0 {
            let (lo, hi): (UInt8, UInt8) = [(0x80, 0xBF), (0xA0, 0xBF), (0x80, 0x9F), (0x90, 0xBF), (0x80, 0x8F)][Int(range)]
            guard b >= lo, b <= hi else { return nil }
            return due - 1
        }
        switch esc {
        case 0:
            switch b {
            case UInt8(ascii: "\""): return -1
            case UInt8(ascii: "\\"): return 1 << 5
            case 0..<0x20, 0x7F: return nil   // control characters (DEL is legal JSON, but no use in output)
            case 0x20..<0x80: return 0
            case 0xC2...0xDF: return 1
            case 0xE0: return 2 | (1 << 2)
            case 0xED: return 2 | (2 << 2)
            case 0xE1...0xEF: return 2
            case 0xF0: return 3 | (3 << 2)
            case 0xF1...0xF3: return 3
            case 0xF4: return 3 | (4 << 2)
            default: return nil
            }
        case 1:
            switch b {
            case UInt8(ascii: "/"): return strict ? nil : 0
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): return 0
            case UInt8(ascii: "u"): return 2 << 5
            default: return nil
            }
        case 6: return b == UInt8(ascii: "\\") ? 7 << 5 : nil
        case 7: return b == UInt8(ascii: "u") ? (2 << 5) | (1 << 9) : nil
        default:
            guard let v = hexValue(b) else { return nil }
            let read = esc - 2
            if strict {
                // \u00 then 0x or 1x, lowercase, not one with a short form (\b \t \n \f \r).
                if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F") { return nil }
                switch read {
                case 0, 1: if v != 0 { return nil }
                case 2: if v > 1 { return nil }
                default: if state & (1 << 12) == 0, [8, 9, 0xA, 0xC, 0xD].contains(v) { return nil }
                }
                if read == 2 { return (5 << 5) | (v == 1 ? 1 << 12 : 0) }
                if read == 3 { return 0 }
            }
            var flags = state & ((1 << 9) | (1 << 10))
            switch read {
            case 0:
                if low, v != 0xD { return nil }
                return (3 << 5) | flags | (v == 0xD ? 1 << 8 : 0)
            case 1:
                if low, !(0xC...0xF).contains(v) { return nil }
                if firstD, !low {
                    if (0xC...0xF).contains(v) { return nil }   // a low half with no high one before it
                    if (0x8...0xB).contains(v) { flags |= 1 << 10 }
                }
                return (4 << 5) | flags
            case 2: return (5 << 5) | flags
            default: return high ? 6 << 5 : 0
            }
        }
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A")) + 10
        default: return nil
        }
    }
}
