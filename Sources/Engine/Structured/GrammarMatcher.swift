/// Where one parse stands: the innermost open value (`top`, nil once the whole value is complete) above the
/// values that enclose it.
struct GrammarConfig: Hashable, Sendable {
    enum Phase: UInt8, Hashable, Sendable {
        case value, string, number, literal
        case objectOpen, objectKey, objectFreeKey, objectColon, objectAfterValue, objectNextKey
        case arrayOpen, arrayAfterItem, arrayNextItem
        /// Raw text through a pattern (`a` = continuation bytes still due, `b` = the next byte's range as
        /// low | high << 8 when a lead byte narrows it, else 0; `c` = characters written, `d` = DFA state,
        /// `magnitude` = the character so far).
        case raw
        /// A rule grammar's element (`GrammarMatcher+Rules`).
        case rule
    }

    /// Fields by phase: string `a` = `JSONScalars.stringStep` state, `b` = characters so far (bounded strings, and
    /// pattern strings with length bounds),
    /// `d` = the pattern's DFA state and `magnitude` the character being decoded (pattern strings only);
    /// number `a` = its DFA state (a bounded number's: `NumberRange.step`, with `b` its sign and `magnitude`); literal `a` = trie
    /// node; object `a` = the first property that may still come, `b` = the property being read (-1: an additional
    /// key), `c` = the node in the key trie, or the additional key's string state, `d` = the additional key's node in
    /// the key trie (-1 once it is none of the declared keys), `hash` = the additional key's bytes hashed so far,
    /// `used` = the hashes of the additional keys already written (no key twice: JSON parsers keep one of two,
    /// and this server's refuses them); array `a` = items begun.
    struct Frame: Hashable, Sendable {
        var node: Int32
        var phase: Phase
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
        var d: Int32 = 0
        var hash: UInt64 = 0
        var used: [UInt64] = []
        /// A bounded number's magnitude so far (`NumberRange` units); its sign is `b` (1: negative).
        var magnitude: Int64 = 0
    }

    var top: Frame?
    var rest: [Frame] = []
    /// Whitespace bytes in a row between tokens of the JSON (not inside strings).
    var whitespace: UInt8 = 0
}

/// Steps JSON text through a compiled grammar, one byte at a time, keeping every parse still possible (an
/// `anyOf` whose alternatives start alike leaves several open until the bytes decide).
struct GrammarMatcher: Sendable {
    /// Structural whitespace allowed in a row: enough for pretty-printed JSON, not enough to loop on.
    static let maxWhitespace: UInt8 = 40
    /// Open values at most (an object and its property value count as two).
    static let maxFrames = 128
    /// Parses kept at most (alternatives of an `anyOf` that stay alike for long).
    static let maxConfigs = 512

    let grammar: CompiledGrammar

    /// A rule grammar's stacks: one table per matcher (per request), dropped with it.
    let stacks: RuleStacks?

    init(_ grammar: CompiledGrammar) {
        self.grammar = grammar
        stacks = grammar.rules == nil ? nil : RuleStacks()
    }

    var start: [GrammarConfig] {
        switch grammar.nodes[grammar.root] {
        case let .rawText(dfa):
            return dfa.start >= 0 ? [GrammarConfig(top: .init(node: Int32(grammar.root), phase: .raw, d: dfa.start))] : []
        case .rawChoice:   // a literal from its trie's root, without the whitespace a JSON value may have before it
            return [GrammarConfig(top: .init(node: Int32(grammar.root), phase: .literal, a: 0))]
        case let .rules(g): return ruleStart(g)
        default: break
        }
        return [GrammarConfig(top: .init(node: Int32(grammar.root), phase: .value))]
    }

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
        if let g = grammar.rules { return ruleStep(state, byte, g) }
        var out: [GrammarConfig] = []
        for c in state { feed(c, byte, into: &out) }
        if out.count > 1 {
            var seen = Set<GrammarConfig>()
            out = out.filter { seen.insert($0).inserted }
            if out.count > Self.maxConfigs { out.removeLast(out.count - Self.maxConfigs) }
        }
        return out
    }

    /// Whether the text so far may end here: a complete value, or a number that is complete as is.
    func canEnd(_ state: [GrammarConfig]) -> Bool {
        state.contains { c in
            guard let top = c.top else { return true }
            return c.rest.isEmpty && completesWithoutByte(top)
        }
    }

    /// Whether the value is complete and nothing may follow (a number is, once no digit may follow).
    func mustEnd(_ state: [GrammarConfig]) -> Bool {
        !state.isEmpty && state.allSatisfy { c in
            guard let top = c.top else { return true }
            guard c.rest.isEmpty, completesWithoutByte(top) else { return false }
            var probe: [GrammarConfig] = []
            for b in 0...255 { feed(c, UInt8(b), into: &probe); if !probe.isEmpty { return false } }
            return true
        }
    }

    // MARK: stepping

    private func feed(_ c: GrammarConfig, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard var top = c.top else { return }   // complete: nothing may follow
        var c = c
        let ws = JSONScalars.isWhitespace(byte)
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
            guard let s = JSONScalars.stringStep(top.a, byte) else { return }
            if case let .patternString(dfa) = grammar.nodes[node] {
                guard patternStep(dfa, &top, byte) else { return }
            } else if case let .boundedString(minLength, maxLength) = grammar.nodes[node] {
                if s < 0 {
                    guard top.b >= minLength else { return }
                } else if JSONScalars.startsCharacter(top.a) {
                    // A byte that starts a character (a UTF-8 lead byte, a '\' opening an escape, or ASCII).
                    if let maxLength, top.b >= maxLength { return }
                    top.b += 1
                }
            }
            if s < 0 { pop(c, into: &out); return }
            top.a = s
            c.top = top
            out.append(c)
        case .number:
            if case let .numberRange(r) = grammar.nodes[node] {
                if let next = r.step(top.a, magnitude: top.magnitude, negative: top.b != 0, byte) {
                    (top.a, top.magnitude, top.b) = (next.state, next.magnitude, next.negative ? 1 : 0)
                    c.top = top
                    out.append(c)
                } else if r.complete(top.a, magnitude: top.magnitude, negative: top.b != 0) {
                    finishThenFeed(c, byte, into: &out)
                }
                return
            }
            guard case let .number(integer) = grammar.nodes[node] else { return }
            if let s = JSONScalars.numberStep(top.a, byte, integer: integer) {
                top.a = s
                c.top = top
                out.append(c)
            } else if JSONScalars.numberComplete(top.a) {
                finishThenFeed(c, byte, into: &out)
            }
        case .literal:
            let trie = grammar.literals[node]!
            if let next = trie.child(Int(top.a), byte) {
                top.a = Int32(next)
                c.top = top
                // A text nothing extends is complete at its last byte.
                if trie.word[next] >= 0, trie.isLeaf(next) { pop(c, into: &out) } else { out.append(c) }
            } else if trie.word[Int(top.a)] >= 0 {
                finishThenFeed(c, byte, into: &out)
            }
        case .raw:
            guard case let .rawText(dfa) = grammar.nodes[node], rawStep(dfa, &top, byte) else { return }
            c.top = top
            out.append(c)
        case .rule:
            return   // rule grammars step all their parses at once (`ruleStep`)
        case .objectOpen, .objectNextKey, .objectKey, .objectFreeKey, .objectColon, .objectAfterValue:
            objectStep(c, top, byte, into: &out)
        case .arrayOpen, .arrayAfterItem, .arrayNextItem:
            arrayStep(c, top, byte, into: &out)
        }
    }

    /// The first byte of a value of `node`; `c.top` is the value's frame (phase `.value`).
    private func begin(_ node: Int, _ byte: UInt8, _ c: GrammarConfig, into out: inout [GrammarConfig]) {
        for leaf in grammar.leaves[node] {
            var c = c
            let n = Int32(leaf)
            switch grammar.nodes[leaf] {
            case .anyOf, .rawText, .rawChoice, .rules: continue   // flattened away; raw text is only a root, begun in `start`
            case .string, .boundedString:
                guard byte == UInt8(ascii: "\"") else { continue }
                c.top = .init(node: n, phase: .string)
            case let .patternString(dfa):
                guard byte == UInt8(ascii: "\""), dfa.start >= 0 else { continue }
                c.top = .init(node: n, phase: .string, d: dfa.start)
            case let .numberRange(r):
                guard let s = r.step(0, magnitude: 0, negative: false, byte) else { continue }
                c.top = .init(node: n, phase: .number, a: s.state, b: s.negative ? 1 : 0)
                c.top!.magnitude = s.magnitude
            case let .number(integer):
                guard let s = JSONScalars.numberStep(0, byte, integer: integer) else { continue }
                c.top = .init(node: n, phase: .number, a: s)
            case .literals:
                let trie = grammar.literals[leaf]!
                guard let next = trie.child(0, byte) else { continue }
                c.top = .init(node: n, phase: .literal, a: Int32(next))
                if trie.word[next] >= 0, trie.isLeaf(next) { pop(c, into: &out); continue }
            case .object:
                guard byte == UInt8(ascii: "{"), c.rest.count < Self.maxFrames else { continue }
                c.top = .init(node: n, phase: .objectOpen)
            case .array:
                guard byte == UInt8(ascii: "["), c.rest.count < Self.maxFrames else { continue }
                c.top = .init(node: n, phase: .arrayOpen)
            }
            out.append(c)
        }
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

    /// Starts a value of `node` inside the enclosing frame `parent` (which continues in its phase), fed `byte`
    /// when given.
    private func push(_ c: GrammarConfig, parent: GrammarConfig.Frame, node: Int, byte: UInt8?, into out: inout [GrammarConfig]) {
        guard c.rest.count < Self.maxFrames else { return }
        var c = c
        c.rest.append(parent)
        c.top = .init(node: Int32(node), phase: .value)
        if let byte { begin(node, byte, c, into: &out) } else { out.append(c) }
    }

    private func objectStep(_ c: GrammarConfig, _ top: GrammarConfig.Frame, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard case let .object(props, additional) = grammar.nodes[Int(top.node)], let keys = grammar.keys[Int(top.node)] else { return }
        var c = c, top = top
        let k = Int(top.a)
        let candidates = Self.keyCandidates(props, from: k)
        let freeKeys = additional != nil && !Self.requiredRemain(props, from: k)
        switch top.phase {
        case .objectOpen, .objectNextKey:
            if byte == UInt8(ascii: "}"), top.phase == .objectOpen {
                if !Self.requiredRemain(props, from: k) { pop(c, into: &out) }
                return
            }
            guard byte == UInt8(ascii: "\"") else { return }
            if let candidates, keys.reaches(0, candidates) {
                top.phase = .objectKey
                (top.b, top.c) = (0, 0)
                c.top = top
                out.append(c)
            }
            if freeKeys {
                top.phase = .objectFreeKey
                (top.b, top.c, top.d, top.hash) = (-1, JSONScalars.canonical, 0, Self.fnvBasis)
                c.top = top
                out.append(c)
            }
        case .objectKey, .objectFreeKey:
            keyStep(c, top, byte, keys: keys, candidates: candidates, into: &out)
        case .objectColon:
            guard byte == UInt8(ascii: ":") else { return }
            let value = top.b >= 0 ? props[Int(top.b)].value : additional!
            top.phase = .objectAfterValue
            push(c, parent: top, node: value, byte: nil, into: &out)
        case .objectAfterValue:
            if byte == UInt8(ascii: "}") {
                if !Self.requiredRemain(props, from: k) { pop(c, into: &out) }
            } else if byte == UInt8(ascii: ",") {
                guard candidates != nil || freeKeys else { return }
                top.phase = .objectNextKey
                c.top = top
                out.append(c)
            }
        default: return
        }
    }

    /// Inside a key: a declared one (its bytes through the key trie, among the candidates) or an additional one.
    private func keyStep(_ c: GrammarConfig, _ top: GrammarConfig.Frame, _ byte: UInt8, keys: ByteTrie, candidates: ClosedRange<Int>?,
                         into out: inout [GrammarConfig]) {
        var c = c, top = top
        switch top.phase {
        case .objectKey:
            guard let candidates, let next = keys.child(Int(top.c), byte), keys.reaches(next, candidates) else { return }
            let j = keys.word[next]
            if j >= 0 {   // the closing quote: key j, which the check above placed among the candidates
                top.phase = .objectColon
                (top.a, top.b) = (j + 1, j)
            } else {
                top.c = Int32(next)
            }
            c.top = top
            out.append(c)
        case .objectFreeKey:
            guard let s = JSONScalars.stringStep(top.c, byte) else { return }
            let declared = top.d >= 0 ? keys.child(Int(top.d), byte).map(Int32.init) ?? -1 : -1
            if s < 0 {
                // An additional key must not be a declared one (its value would escape the declared schema), nor
                // one written before; keys are read with canonical escapes, so equal strings have equal bytes.
                if declared >= 0, keys.word[Int(declared)] >= 0 { return }
                if top.used.contains(top.hash) { return }
                top.used.append(top.hash)
                top.hash = 0   // so states past the key compare equal
                top.phase = .objectColon
            } else {
                (top.c, top.d) = (s, declared)
                top.hash = (top.hash ^ UInt64(byte)) &* Self.fnvPrime
            }
            c.top = top
            out.append(c)
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

    // MARK: rules

    /// FNV-1a, 64-bit: the running hash of an additional key's bytes.
    static let fnvBasis: UInt64 = 0xcbf2_9ce4_8422_2325, fnvPrime: UInt64 = 0x0000_0100_0000_01b3

    static func requiredRemain(_ props: [OutputGrammar.Property], from k: Int) -> Bool {
        k < props.count && props[k...].contains(where: \.required)
    }

    /// The properties that may come next: in order from `k`, optional ones skippable, up to the first required
    /// one; nil when none may.
    static func keyCandidates(_ props: [OutputGrammar.Property], from k: Int) -> ClosedRange<Int>? {
        guard k < props.count else { return nil }
        return k...(props[k...].firstIndex(where: \.required) ?? props.count - 1)
    }

    static func allowsWhitespace(_ p: GrammarConfig.Phase) -> Bool {
        switch p {
        case .value, .objectOpen, .objectColon, .objectAfterValue, .objectNextKey, .arrayOpen, .arrayAfterItem, .arrayNextItem: return true
        case .string, .number, .literal, .objectKey, .objectFreeKey, .raw, .rule: return false
        }
    }

    private func completesWithoutByte(_ f: GrammarConfig.Frame) -> Bool {
        switch f.phase {
        case .number:
            if case let .numberRange(r) = grammar.nodes[Int(f.node)] { return r.complete(f.a, magnitude: f.magnitude, negative: f.b != 0) }
            return JSONScalars.numberComplete(f.a)
        case .literal: return grammar.literals[Int(f.node)]!.word[Int(f.a)] >= 0
        case .raw:
            guard case let .rawText(dfa) = grammar.nodes[Int(f.node)] else { return false }
            return f.a == 0 && dfa.accepts(f.d, written: Int(f.c))
        default: return false
        }
    }
}
