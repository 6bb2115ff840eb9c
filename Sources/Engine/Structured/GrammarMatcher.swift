/// An `OutputGrammar` prepared for matching: object keys as the bytes that follow their opening quote, and
/// each literal set as a byte trie.
final class CompiledGrammar: Sendable {
    let nodes: [OutputGrammar.Node]
    let root: Int
    /// Per object node, per property: the JSON-escaped name and its closing quote.
    let keyBytes: [[[UInt8]]]
    /// Per literals node: its trie (node 0 is the root).
    let tries: [LiteralTrie?]

    init(_ grammar: OutputGrammar) {
        nodes = grammar.nodes
        root = grammar.root
        keyBytes = grammar.nodes.map { node in
            guard case let .object(props, _) = node else { return [] }
            return props.map { Array($0.key.dropFirst()) }
        }
        tries = grammar.nodes.map { node in
            guard case let .literals(words) = node else { return nil }
            return LiteralTrie(words)
        }
    }
}

/// Byte trie of a node's literal texts.
struct LiteralTrie: Sendable {
    private(set) var children: [[(byte: UInt8, next: Int32)]] = [[]]
    private(set) var terminal: [Bool] = [false]

    init(_ words: [[UInt8]]) {
        for w in words {
            var at = 0
            for b in w {
                if let next = child(at, b) { at = next; continue }
                children.append([])
                terminal.append(false)
                children[at].append((b, Int32(children.count - 1)))
                at = children.count - 1
            }
            terminal[at] = true
        }
    }

    func child(_ node: Int, _ byte: UInt8) -> Int? {
        for c in children[node] where c.byte == byte { return Int(c.next) }
        return nil
    }
}

/// Where one parse stands: the innermost open value (`top`, nil once the whole value is complete) above the
/// values that enclose it.
struct GrammarConfig: Hashable, Sendable {
    enum Phase: UInt8, Hashable, Sendable {
        case value, string, number, literal
        case objectOpen, objectKey, objectFreeKey, objectColon, objectAfterValue, objectNextKey
        case arrayOpen, arrayAfterItem, arrayNextItem
    }

    /// `a`, `b`, `c` by phase: string `a` = `StringState`; number `a` = DFA state; literal `a` = trie node;
    /// object `a` = next property index, `b` = property being read (-1: an additional key), `c` = position in
    /// its key, or the additional key's `StringState`; array `a` = items begun.
    struct Frame: Hashable, Sendable {
        var node: Int32
        var phase: Phase
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
    }

    var top: Frame?
    var rest: [Frame] = []
    /// Whitespace bytes in a row between tokens of the JSON (not inside strings).
    var whitespace: UInt8 = 0
}

/// Steps JSON text through a compiled grammar, one byte at a time, keeping every parse still possible (an
/// `anyOf` or an optional property can leave several open until the bytes decide).
struct GrammarMatcher: Sendable {
    /// Structural whitespace allowed in a row: enough for pretty-printed JSON, not enough to loop on.
    static let maxWhitespace: UInt8 = 40
    /// Open values at most (an object and its property value count as two).
    static let maxFrames = 128
    /// Parses kept at most when a schema leaves many open.
    static let maxConfigs = 64

    let grammar: CompiledGrammar

    init(_ grammar: CompiledGrammar) { self.grammar = grammar }

    var start: [GrammarConfig] { [GrammarConfig(top: .init(node: Int32(grammar.root), phase: .value))] }

    /// The parses after `bytes`, or an empty list when the bytes cannot continue any of them.
    func advance(_ state: [GrammarConfig], _ bytes: some Sequence<UInt8>) -> [GrammarConfig] {
        var current = state
        for b in bytes {
            current = step(current, b)
            if current.isEmpty { return [] }
        }
        return current
    }

    func step(_ state: [GrammarConfig], _ byte: UInt8) -> [GrammarConfig] {
        var out: [GrammarConfig] = []
        for c in state { feed(c, byte, into: &out) }
        if out.count > 1 {
            var seen = Set<GrammarConfig>()
            out = out.filter { seen.insert($0).inserted }
            if out.count > Self.maxConfigs { out.removeLast(out.count - Self.maxConfigs) }
        }
        return out
    }

    /// Whether the text so far may end here: a complete value, or a number or literal that is complete as is.
    func canEnd(_ state: [GrammarConfig]) -> Bool {
        state.contains { c in
            guard let top = c.top else { return true }
            return c.rest.isEmpty && completesWithoutByte(top)
        }
    }

    /// Whether the value is complete and nothing may follow.
    func mustEnd(_ state: [GrammarConfig]) -> Bool { !state.isEmpty && state.allSatisfy { $0.top == nil } }

    // MARK: stepping

    private func feed(_ c: GrammarConfig, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard var top = c.top else { return }   // complete: nothing may follow
        var c = c
        let ws = Self.isWhitespace(byte)
        if ws, Self.allowsWhitespace(top.phase) {
            guard c.whitespace < Self.maxWhitespace else { return }
            c.whitespace += 1
            out.append(c)
            return
        }
        if !ws { c.whitespace = 0 }
        let node = Int(top.node)
        switch top.phase {
        case .value:
            begin(node, byte, c, into: &out)
        case .string:
            guard let s = Self.stringStep(top.a, byte) else { return }
            if s < 0 { pop(c, into: &out); return }
            top.a = s
            c.top = top
            out.append(c)
        case .number:
            guard case let .number(integer) = grammar.nodes[node] else { return }
            if let s = Self.numberStep(top.a, byte, integer: integer) {
                top.a = s
                c.top = top
                out.append(c)
            } else if Self.numberComplete(top.a) {
                finishThenFeed(c, byte, into: &out)
            }
        case .literal:
            let trie = grammar.tries[node]!
            if let next = trie.child(Int(top.a), byte) {
                top.a = Int32(next)
                c.top = top
                out.append(c)
            } else if trie.terminal[Int(top.a)] {
                finishThenFeed(c, byte, into: &out)
            }
        case .objectOpen, .objectNextKey, .objectKey, .objectFreeKey, .objectColon, .objectAfterValue:
            objectStep(c, top, byte, into: &out)
        case .arrayOpen, .arrayAfterItem, .arrayNextItem:
            arrayStep(c, top, byte, into: &out)
        }
    }

    /// The first byte of a value of `node`; `c.top` is the value's frame (phase `.value`).
    private func begin(_ node: Int, _ byte: UInt8, _ c: GrammarConfig, into out: inout [GrammarConfig]) {
        var c = c
        let n = Int32(node)
        switch grammar.nodes[node] {
        case let .anyOf(alternatives):
            for a in alternatives { begin(a, byte, c, into: &out) }
            return
        case .string:
            guard byte == UInt8(ascii: "\"") else { return }
            c.top = .init(node: n, phase: .string)
        case let .number(integer):
            guard let s = Self.numberStep(0, byte, integer: integer) else { return }
            c.top = .init(node: n, phase: .number, a: s)
        case .literals:
            guard let next = grammar.tries[node]!.child(0, byte) else { return }
            c.top = .init(node: n, phase: .literal, a: Int32(next))
        case .object:
            guard byte == UInt8(ascii: "{"), c.rest.count < Self.maxFrames else { return }
            c.top = .init(node: n, phase: .objectOpen)
        case .array:
            guard byte == UInt8(ascii: "["), c.rest.count < Self.maxFrames else { return }
            c.top = .init(node: n, phase: .arrayOpen)
        }
        out.append(c)
    }

    /// The value on top is complete: the enclosing one continues (its phase was set when the value began).
    private func pop(_ c: GrammarConfig, into out: inout [GrammarConfig]) {
        var c = c
        c.top = c.rest.popLast()
        out.append(c)
    }

    /// A number or literal ends at a byte it cannot take; that byte belongs to the enclosing value.
    private func finishThenFeed(_ c: GrammarConfig, _ byte: UInt8, into out: inout [GrammarConfig]) {
        var popped: [GrammarConfig] = []
        pop(c, into: &popped)
        for p in popped { feed(p, byte, into: &out) }
    }

    /// Starts a value of `node` inside the enclosing frame `parent` (which continues in `after`), fed `byte`
    /// when given.
    private func push(_ c: GrammarConfig, parent: GrammarConfig.Frame, node: Int, byte: UInt8?, into out: inout [GrammarConfig]) {
        guard c.rest.count < Self.maxFrames else { return }
        var c = c
        c.rest.append(parent)
        c.top = .init(node: Int32(node), phase: .value)
        if let byte { begin(node, byte, c, into: &out) } else { out.append(c) }
    }

    private func objectStep(_ c: GrammarConfig, _ top: GrammarConfig.Frame, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard case let .object(props, additional) = grammar.nodes[Int(top.node)] else { return }
        var c = c, top = top
        let k = Int(top.a)
        switch top.phase {
        case .objectOpen, .objectNextKey:
            if byte == UInt8(ascii: "}"), top.phase == .objectOpen {
                if !Self.requiredRemain(props, from: k) { pop(c, into: &out) }
                return
            }
            guard byte == UInt8(ascii: "\"") else { return }
            for j in Self.keyCandidates(props, from: k) {
                top.phase = .objectKey
                top.b = Int32(j)
                top.c = 0
                c.top = top
                out.append(c)
            }
            if additional != nil, !Self.requiredRemain(props, from: k) {
                top.phase = .objectFreeKey
                top.b = -1
                top.c = 0
                c.top = top
                out.append(c)
            }
        case .objectKey:
            let key = grammar.keyBytes[Int(top.node)][Int(top.b)]
            guard byte == key[Int(top.c)] else { return }
            top.c += 1
            if Int(top.c) == key.count {
                top.phase = .objectColon
                top.a = top.b + 1
            }
            c.top = top
            out.append(c)
        case .objectFreeKey:
            guard let s = Self.stringStep(top.c, byte) else { return }
            if s < 0 { top.phase = .objectColon } else { top.c = s }
            c.top = top
            out.append(c)
        case .objectColon:
            guard byte == UInt8(ascii: ":") else { return }
            let value = top.b >= 0 ? props[Int(top.b)].value : additional!
            top.phase = .objectAfterValue
            push(c, parent: top, node: value, byte: nil, into: &out)
        case .objectAfterValue:
            if byte == UInt8(ascii: "}") {
                if !Self.requiredRemain(props, from: k) { pop(c, into: &out) }
            } else if byte == UInt8(ascii: ",") {
                guard !Self.keyCandidates(props, from: k).isEmpty || (additional != nil && !Self.requiredRemain(props, from: k)) else { return }
                top.phase = .objectNextKey
                c.top = top
                out.append(c)
            }
        default: return
        }
    }

    private func arrayStep(_ c: GrammarConfig, _ top: GrammarConfig.Frame, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard case let .array(items, minItems, maxItems) = grammar.nodes[Int(top.node)] else { return }
        var c = c, top = top
        let count = Int(top.a)
        switch top.phase {
        case .arrayOpen, .arrayNextItem:
            if byte == UInt8(ascii: "]"), top.phase == .arrayOpen {
                if minItems == 0 { pop(c, into: &out) }
                return
            }
            if let maxItems, count >= maxItems { return }
            top.phase = .arrayAfterItem
            top.a += 1
            push(c, parent: top, node: items, byte: byte, into: &out)
        case .arrayAfterItem:
            if byte == UInt8(ascii: "]") {
                if count >= minItems { pop(c, into: &out) }
            } else if byte == UInt8(ascii: ",") {
                if let maxItems, count >= maxItems { return }
                top.phase = .arrayNextItem
                c.top = top
                out.append(c)
            }
        default: return
        }
    }

    // MARK: objects

    static func requiredRemain(_ props: [OutputGrammar.Property], from k: Int) -> Bool {
        k < props.count && props[k...].contains(where: \.required)
    }

    /// Properties that may come next: in order from `k`, optional ones skippable, up to the first required one.
    static func keyCandidates(_ props: [OutputGrammar.Property], from k: Int) -> ArraySlice<Int> {
        guard k < props.count else { return [] }
        let end = props[k...].firstIndex(where: \.required).map { $0 + 1 } ?? props.count
        return Array(k..<end)[...]
    }

    // MARK: scalars

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    static func allowsWhitespace(_ p: GrammarConfig.Phase) -> Bool {
        switch p {
        case .value, .objectOpen, .objectColon, .objectAfterValue, .objectNextKey, .arrayOpen, .arrayAfterItem, .arrayNextItem: return true
        case .string, .number, .literal, .objectKey, .objectFreeKey: return false
        }
    }

    private func completesWithoutByte(_ f: GrammarConfig.Frame) -> Bool {
        switch f.phase {
        case .number: return Self.numberComplete(f.a)
        case .literal: return grammar.tries[Int(f.node)]!.terminal[Int(f.a)]
        default: return false
        }
    }

    /// Digits a number's integer part and fraction may have, and its exponent: every number written is then a
    /// finite double (at most ~1e115; a model left alone can write 1e4585, which most parsers refuse or make ∞).
    static let maxMantissaDigits: Int32 = 16, maxExponentDigits: Int32 = 2

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
    /// the escape (0 none, 1 after '\', 2–5 in "\u" with 0–3 hex digits read), bit 8 the escape's first digit
    /// was D (then the second must be 0–7: no surrogate halves). Returns the next state, -1 at the closing
    /// quote, nil for a byte that cannot come next (control characters, bad escapes, invalid UTF-8).
    static func stringStep(_ state: Int32, _ b: UInt8) -> Int32? {
        let due = state & 3, range = (state >> 2) & 7, esc = (state >> 5) & 7, firstD = (state >> 8) & 1
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
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): return 0
            case UInt8(ascii: "u"): return 2 << 5
            default: return nil
            }
        default:
            guard let v = hexValue(b) else { return nil }
            let read = esc - 2
            if read == 0 { return (3 << 5) | (v == 0xD ? 1 << 8 : 0) }
            if read == 1, firstD == 1, v > 7 { return nil }
            return read == 3 ? 0 : ((esc + 1) << 5)
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
