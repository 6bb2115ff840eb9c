/// The model's tokens as the bytes they add to the output, sorted so that a walk over them shares the work of
/// common prefixes. Built once per engine, on the first request that needs it.
final class StructuredVocabulary: Sendable {
    /// Per token id: its bytes; empty for tokens structured output never picks (special tokens, empty pieces).
    let bytes: [[UInt8]]
    /// Ids with bytes, in byte order.
    let order: [Int32]
    /// Per position in `order`: the length of the prefix shared with the previous token.
    let sharedPrefix: [Int32]
    /// Ids whose bytes hold a quote, and those that hold two or more.
    let quoted: [Int], twoQuotes: [Int]

    init(bytes: [[UInt8]]) {
        self.bytes = bytes
        let sorted = bytes.indices.filter { !bytes[$0].isEmpty }.sorted { bytes[$0].lexicographicallyPrecedes(bytes[$1]) }
        order = sorted.map { Int32($0) }
        var shared = [Int32](repeating: 0, count: sorted.count)
        for k in sorted.indices.dropFirst() {
            let a = bytes[sorted[k - 1]], b = bytes[sorted[k]]
            var n = 0
            while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
            shared[k] = Int32(n)
        }
        sharedPrefix = shared
        quoted = bytes.indices.filter { bytes[$0].contains(0x22) }
        twoQuotes = quoted.filter { id in bytes[id].lazy.filter { $0 == 0x22 }.count >= 2 }
    }

    var count: Int { bytes.count }
}

/// One request's structured-output state: where its output stands in the grammar, and which tokens may come
/// next. Stop tokens may come exactly when the output is a complete value.
struct StructuredOutput {
    let matcher: GrammarMatcher
    let vocabulary: StructuredVocabulary
    let stopTokenIDs: Set<Int>
    private(set) var state: [GrammarConfig]
    /// Masks already computed, by grammar state (strings repeat one state for many tokens), one bit per token.
    private var masks: [[GrammarConfig]: [UInt64]] = [:]
    static let maxCachedMasks = 64

    init(grammar: OutputGrammar, vocabulary: StructuredVocabulary, stopTokenIDs: Set<Int>) {
        self.init(compiled: CompiledGrammar(grammar), vocabulary: vocabulary, stopTokenIDs: stopTokenIDs)
    }

    init(compiled: CompiledGrammar, vocabulary: StructuredVocabulary, stopTokenIDs: Set<Int>) {
        matcher = GrammarMatcher(compiled)
        self.vocabulary = vocabulary
        self.stopTokenIDs = stopTokenIDs
        state = matcher.start
    }

    /// The value is complete and nothing may follow it.
    var mustEnd: Bool { matcher.mustEnd(state) }

    /// Tokens allowed besides the value's (the start of a marker that may come instead of the value).
    var alsoAllowed: Set<Int> = []

    func allows(_ id: Int) -> Bool {
        alsoAllowed.contains(id) || continuesValue(id)
    }

    /// Whether the token continues the value (or ends it, for a stop token).
    func continuesValue(_ id: Int) -> Bool {
        if stopTokenIDs.contains(id) { return matcher.canEnd(state) }
        guard id >= 0, id < vocabulary.count, !vocabulary.bytes[id].isEmpty else { return false }
        return !matcher.advance(state, vocabulary.bytes[id]).isEmpty
    }

    /// Every token's verdict for the current state (the logits' length; ids past the vocabulary are refused).
    ///
    /// Objects with additional keys remember the keys written (and the one being read, as a running hash), so
    /// nearly every state would be new and no mask reused. The mask is cached for the state without that memory
    /// (walked from it); only a token with a quote can close a key, so those are checked again from the real
    /// state: all of them inside a key, else the ones with two quotes (a whole key in one token).
    mutating func mask(count: Int) -> [Bool] {
        let key = Self.withoutKeyMemory(state)
        let bits: [UInt64]
        if let cached = masks[key] {
            bits = cached
        } else {
            var b = [UInt64](repeating: 0, count: (count + 63) / 64)
            // Stop tokens come only where the value may end, whatever their bytes (a special token's text could
            // otherwise pass for string content).
            walk(from: key) { id in if id < count, !stopTokenIDs.contains(id) { b[id / 64] |= 1 << UInt64(id % 64) } }
            if matcher.canEnd(key) { for id in stopTokenIDs where id >= 0 && id < count { b[id / 64] |= 1 << UInt64(id % 64) } }
            if masks.count >= Self.maxCachedMasks { masks.removeAll(keepingCapacity: true) }
            masks[key] = b
            bits = b
        }
        var allowed = (0..<count).map { $0 / 64 < bits.count && bits[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
        if key != state {
            let inKey = state.contains { $0.top?.phase == .objectFreeKey }
            for id in inKey ? vocabulary.quoted : vocabulary.twoQuotes where id < count && allowed[id] { allowed[id] = continuesValue(id) }
        }
        for id in alsoAllowed where id >= 0 && id < count { allowed[id] = true }
        return allowed
    }

    /// The state without the additional keys' memory (hashes of keys written, the running hash of one being read).
    /// A rule grammar's frames keep their `hash`: it names the stacks below them.
    static func withoutKeyMemory(_ state: [GrammarConfig]) -> [GrammarConfig] {
        func bare(_ f: GrammarConfig.Frame) -> GrammarConfig.Frame {
            guard f.phase != .rule else { return f }
            var f = f
            (f.hash, f.used) = (0, [])
            return f
        }
        guard state.contains(where: { c in ([c.top].compactMap { $0 } + c.rest).contains { $0.phase != .rule && ($0.hash != 0 || !$0.used.isEmpty) } })
        else { return state }
        return state.map { c in
            var c = c
            c.top = c.top.map(bare)
            c.rest = c.rest.map(bare)
            return c
        }
    }

    /// Moves past bytes that are part of the value (the rest of the token that armed a delayed grammar); false, and
    /// the state unchanged, when they cannot begin it.
    mutating func advance(bytes: [UInt8]) -> Bool {
        let next = matcher.advance(state, bytes)
        guard !next.isEmpty else { return false }
        state = next
        return true
    }

    /// Moves past a chosen token (which `allows` accepted).
    mutating func advance(_ id: Int) {
        guard !stopTokenIDs.contains(id), id >= 0, id < vocabulary.count else { return }
        state = matcher.advance(state, vocabulary.bytes[id])
    }

    /// Calls `found` for each token whose bytes continue the state, walking the sorted vocabulary with one
    /// state per byte of the current prefix: a token sharing a prefix with the previous one resumes from it,
    /// and a prefix that fails rules out every token after it that shares it.
    private func walk(from start: [GrammarConfig], _ found: (Int) -> Void) {
        var states: [[GrammarConfig]] = [start]   // states[d]: after the first d bytes of the current token
        var deadAt: Int?                          // the current prefix fails at this many bytes
        for (k, id32) in vocabulary.order.enumerated() {
            let id = Int(id32)
            let token = vocabulary.bytes[id]
            let shared = Int(vocabulary.sharedPrefix[k])
            if let d = deadAt, shared >= d { continue }
            deadAt = nil
            let depth = min(shared, states.count - 1)
            states.removeLast(states.count - 1 - depth)
            var ok = true
            for i in depth..<token.count {
                let next = matcher.step(states[states.count - 1], token[i])
                if next.isEmpty { deadAt = i + 1; ok = false; break }
                states.append(next)
            }
            if ok { found(id) }
        }
    }
}
