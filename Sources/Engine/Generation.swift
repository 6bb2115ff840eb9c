import Tokenizer

/// Per-request generation state that does not depend on scheduling: sampler, detokeniser, counters
/// and the stop rules (stop tokens, stop strings, max tokens, context end).
struct Generation {
    let request: EngineRequest
    let contextLength: Int
    let stopTokenIDs: Set<Int>
    /// The model's special tokens (their text is left out when the request skips them).
    let specialTokenIDs: Set<Int>
    var sampler: Sampler
    var detokenizer: IncrementalDetokenizer
    var stopStrings: StopStringMatcher
    /// The grammar the output follows (`response_format`), if any.
    var structured: StructuredOutput?
    /// Why the request's grammar cannot be followed (checked once: it walks the whole grammar).
    let grammarProblem: String?
    /// Where the output stands relative to its grammar: `.value` when the grammar applies from the first token;
    /// waiting while a think block runs (`sampling.grammarAfter`, or a marker that opens one); at the value's start
    /// while a marker may still come instead of it.
    var gate: GatePhase = .value
    /// The markers that may still come where the value starts, and the tokens that write each.
    var markers: [GrammarMarker] = []
    var markerTokens: [MarkerTokens] = []
    let decodeBytes: @Sendable ([Int]) -> [UInt8]
    /// Counts reasoning tokens, for a thinking model's request.
    var reasoning: ReasoningCounter?
    var generated: [Int] = []
    /// Prompt tokens served from the prefix cache (reported in usage).
    var cachedPromptTokens = 0

    /// `vocabulary`, `compile` and `markerTokens` are called only for a request with a grammar (the engine shares
    /// them: the choices of one request compile their grammar once, a marker's tokens are found once); without
    /// `markerTokens`, they are found here from `decodeBytes`.
    init(request: EngineRequest, contextLength: Int, stopTokenIDs: Set<Int>, decodeBytes: @escaping @Sendable ([Int]) -> [UInt8],
         vocabulary: () -> StructuredVocabulary = { StructuredVocabulary(bytes: []) },
         compile: (OutputGrammar) -> CompiledGrammar = { CompiledGrammar($0) }, markerTokens findMarker: (([UInt8]) -> MarkerTokens)? = nil,
         specialTokenIDs: Set<Int> = []) {
        self.request = request
        self.specialTokenIDs = request.sampling.skipSpecialTokens ? specialTokenIDs.subtracting(request.sampling.keepSpecialTokenIDs) : []
        self.contextLength = contextLength
        self.stopTokenIDs = request.sampling.ignoreEOS ? request.sampling.stopTokenIDs : stopTokenIDs.union(request.sampling.stopTokenIDs)
        sampler = Sampler(params: request.sampling)
        detokenizer = IncrementalDetokenizer(decodeBytes: decodeBytes)
        self.decodeBytes = decodeBytes
        reasoning = request.sampling.reasoning.map(ReasoningCounter.init)
        stopStrings = StopStringMatcher(request.sampling.stopStrings)
        grammarProblem = request.sampling.grammar?.problem
        if let g = request.sampling.grammar, grammarProblem == nil {
            let v = vocabulary()
            structured = StructuredOutput(compiled: compile(g), vocabulary: v, stopTokenIDs: self.stopTokenIDs)
            markers = request.sampling.grammarMarkers.filter { !$0.text.isEmpty }
            markerTokens = markers.map { m in
                findMarker?(m.text) ?? MarkerTokens(marker: m.text, vocabularySize: v.count, tokenBytes: { decodeBytes([$0]) })
            }
            if let after = request.sampling.grammarAfter, !after.isEmpty {
                gate = .waiting(close: after, seen: [])
            } else if !markers.isEmpty {
                gate = .start
            }
        }
    }

    var usage: Usage {
        Usage(promptTokens: request.promptTokenIDs.count, completionTokens: generated.count, cachedPromptTokens: cachedPromptTokens,
              reasoningTokens: reasoning?.count)
    }

    /// Why this request cannot run at all, if it cannot.
    var validationError: String? {
        if request.promptTokenIDs.isEmpty { return "the prompt is empty" }
        if request.sampling.maxTokens < 0 { return "max_tokens must not be negative" }
        if let problem = grammarProblem { return "the response format cannot be followed: \(problem)" }
        if request.promptTokenIDs.count >= contextLength {
            return "the prompt has \(request.promptTokenIDs.count) tokens; the model's context is \(contextLength)"
        }
        return nil
    }

    /// Samples from one row of logits and applies the stop rules: the events to emit, and whether
    /// the request finished. A finished request's last event is `.finished`.
    mutating func accept(logits: [Float]) -> (events: [TokenEvent], finished: Bool) {
        // max_tokens 0: the prompt ran (for its logprobs), nothing is generated.
        if request.sampling.maxTokens == 0 { return ([.finished(reason: .length, usage: usage)], true) }
        guard let token = pick(logits) else {
            return (flush() + [.failed(message: "no token of the model's vocabulary can continue the output in the requested format")], true)
        }
        if stopTokenIDs.contains(token) {
            return (flush() + [.finished(reason: .stop, usage: usage)], true)
        }
        // The token's bytes, decoded once for the watchers that read them (a delayed grammar, the reasoning count).
        let counting = reasoning.map { $0.state != .done } ?? false
        let gated = structured != nil && gate != .value && gate != .free
        let bytes = gated || counting ? decodeBytes([token]) : []
        if structured != nil { follow(token, bytes: bytes) }
        if counting { reasoning?.add(bytes) }
        generated.append(token)
        let (text, hitStop) = stopStrings.feed(specialTokenIDs.contains(token) ? "" : detokenizer.add(token))
        let lp = request.sampling.logprobs.map { TokenLogprobs.compute(logits: logits, token: token, k: $0) }
        var events: [TokenEvent] = [.token(id: token, text: text, logprobs: lp)]
        if hitStop { return (events + [.finished(reason: .stop, usage: usage)], true) }
        // The value is complete: end as the model's stop token would, without a step to sample it.
        if gate == .value, structured?.mustEnd == true { return (events + flush() + [.finished(reason: .stop, usage: usage)], true) }
        let atContextEnd = request.promptTokenIDs.count + generated.count >= contextLength
        if generated.count >= request.sampling.maxTokens || atContextEnd {
            events += flush()
            events.append(.finished(reason: .length, usage: usage))
            return (events, true)
        }
        return (events, false)
    }

    /// The index just past the first occurrence of `marker` in `bytes`.
    static func firstEnd(of marker: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        for i in 0...(bytes.count - marker.count) where bytes[i..<(i + marker.count)].elementsEqual(marker) { return i + marker.count }
        return nil
    }

    /// Text held back (an incomplete UTF-8 sequence, or a possible start of a stop string).
    private mutating func flush() -> [TokenEvent] {
        let (tail, _) = stopStrings.feed(detokenizer.flush())
        let rest = tail + stopStrings.drain()
        return rest.isEmpty ? [] : [.text(rest)]
    }
}

/// Finds stop strings in streamed text, even when split across tokens. Text that might be the start
/// of a stop string is held back until it is known not to be; the stop string itself is never emitted.
struct StopStringMatcher {
    let stops: [[Unicode.Scalar]]
    let holdBack: Int
    private var pending: [Unicode.Scalar] = []

    init(_ stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }.map { Array($0.unicodeScalars) }
        holdBack = max(0, (self.stops.map(\.count).max() ?? 0) - 1)
    }

    /// Adds text; returns what is safe to emit, and whether a stop string completed (then the text
    /// before it is returned and everything after is dropped).
    mutating func feed(_ text: String) -> (String, Bool) {
        guard !stops.isEmpty else { return (text, false) }
        pending += text.unicodeScalars
        if let cut = firstMatch() {
            let out = String(String.UnicodeScalarView(pending[..<cut]))
            pending.removeAll()
            return (out, true)
        }
        let safe = max(0, pending.count - holdBack)
        let out = String(String.UnicodeScalarView(pending[..<safe]))
        pending.removeFirst(safe)
        return (out, false)
    }

    /// Releases held-back text at the end of generation.
    mutating func drain() -> String {
        defer { pending.removeAll() }
        return String(String.UnicodeScalarView(pending))
    }

    /// Start of the earliest stop-string occurrence in `pending`.
    private func firstMatch() -> Int? {
        var best: Int?
        for s in stops where s.count <= pending.count {
            for start in 0...(pending.count - s.count) where pending[start] == s[0] {
                if pending[start..<(start + s.count)].elementsEqual(s) {
                    if best == nil || start < best! { best = start }
                    break
                }
            }
        }
        return best
    }
}
