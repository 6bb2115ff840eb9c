import Tokenizer

/// Per-request generation state that does not depend on scheduling: sampler, detokeniser, counters
/// and the stop rules (stop tokens, stop strings, max tokens, context end).
struct Generation {
    let request: EngineRequest
    let contextLength: Int
    let stopTokenIDs: Set<Int>
    /// The model's own stop tokens (those that end the output unseen).
    let modelStopTokenIDs: Set<Int>
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
    /// The last token `pick` decoded to check it (while a think block runs), so `accept` need not decode it again.
    var pickedBytes: (token: Int, bytes: [UInt8])?
    let decodeBytes: @Sendable ([Int]) -> [UInt8]
    /// Counts reasoning tokens, for a thinking model's request.
    var reasoning: ReasoningCounter?
    var generated: [Int] = []
    /// Prompt tokens served from the prefix cache (reported in usage).
    var cachedPromptTokens = 0
    /// The request's stop string or stop token that ended the output (reported in usage).
    var stopCause: StopCause?

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
        modelStopTokenIDs = request.sampling.ignoreEOS ? [] : stopTokenIDs
        sampler = Sampler(params: request.sampling)
        detokenizer = IncrementalDetokenizer(decodeBytes: decodeBytes)
        self.decodeBytes = decodeBytes
        reasoning = request.sampling.reasoning.map(ReasoningCounter.init)
        stopStrings = StopStringMatcher(request.sampling.stopStrings, keepingMatch: request.sampling.includeStopString)
        grammarProblem = request.sampling.grammar?.problem
        if let g = request.sampling.grammar, grammarProblem == nil {
            let v = vocabulary()
            // Only the model's stop tokens end a value; a request's own are text to it (see `accept`).
            structured = StructuredOutput(compiled: compile(g), vocabulary: v, stopTokenIDs: modelStopTokenIDs)
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
              reasoningTokens: reasoning?.count, stop: stopCause)
    }

    /// Why this request cannot run at all, if it cannot.
    var validationError: String? {
        if request.promptTokenIDs.isEmpty { return "the prompt is empty" }
        if request.sampling.maxTokens < 0 { return "max_tokens must not be negative" }
        if let problem = grammarProblem { return "\(TokenEvent.constraintFailures[1]): \(problem)" }
        // A generation request needs a position for its first token; an embedding request does not.
        if request.promptTokenIDs.count >= contextLength + (request.pooling == nil ? 0 : 1) {
            return "the prompt has \(request.promptTokenIDs.count) tokens; the model's context is \(contextLength)"
        }
        return nil
    }

    /// Samples from one row of logits and applies the stop rules: the events to emit, and whether
    /// the request finished. A finished request's last event is `.finished`.
    mutating func accept(logits: [Float]) -> (events: [TokenEvent], finished: Bool) {
        // max_tokens 0: the prompt ran (for its logprobs), nothing is generated.
        if request.sampling.maxTokens == 0 { return ([.finished(reason: .length, usage: usage)], true) }
        // A value that is complete before anything is written (an empty guided_regex): nothing to write.
        if gate == .value, generated.isEmpty, structured?.mustEnd == true { return ([.finished(reason: .stop, usage: usage)], true) }
        let open = withoutBarredTokens(logits)
        guard let token = pick(open ?? logits), open.map({ $0[token] > -.infinity || logits[token] == -.infinity }) ?? true else {
            // Nothing the request allows may follow, but the value may end here: it ends.
            if gate == .value, let s = structured, s.matcher.canEnd(s.state) { return (flush() + [.finished(reason: .stop, usage: usage)], true) }
            let why = open == nil ? "in the requested format" : "in the requested format with the tokens allowed (allowed_token_ids, bad_words, min_tokens)"
            return (flush() + [.failed(message: "\(TokenEvent.constraintFailures[0]) the output \(why)")], true)
        }
        if modelStopTokenIDs.contains(token) { return (flush() + [.finished(reason: .stop, usage: usage)], true) }
        // A request's own stop token (vLLM's stop_token_ids) is counted, and its text kept only with
        // include_stop_str_in_output, as vLLM does. Inside a value it is the value's text: it ends the output only
        // where the value may end, and is kept.
        let inValue = structured != nil && (gate == .value || gate == .start)
        let requestStop = stopTokenIDs.contains(token) && !inValue
        if requestStop {
            generated.append(token)
            stopCause = .token(token)
            let text = request.sampling.includeStopString && !specialTokenIDs.contains(token) ? detokenizer.add(token) : ""
            let (shown, _) = stopStrings.feed(text, matching: false)
            let lp = request.sampling.logprobs.map { TokenLogprobs.compute(logits: logits, token: token, k: $0) }
            return ([.token(id: token, text: shown, logprobs: lp)] + flush() + [.finished(reason: .stop, usage: usage)], true)
        }
        // The token's bytes, decoded once for the watchers that read them (a delayed grammar, the reasoning count).
        let counting = reasoning.map { $0.state != .done } ?? false
        let gated = structured != nil && gate != .value && gate != .free
        let bytes = !(gated || counting) ? [] : pickedBytes?.token == token ? pickedBytes!.bytes : decodeBytes([token])
        pickedBytes = nil
        if structured != nil { follow(token, bytes: bytes) }
        if counting { reasoning?.add(bytes) }
        generated.append(token)
        // Stop strings end the output only past `min_tokens` (as vLLM checks them), and never inside a response
        // format's value (a stop string such as "\n" would cut the JSON short; the value ends on its own).
        let valueText = inValue && (gate == .value || gate == .start)
        let (text, matched) = stopStrings.feed(specialTokenIDs.contains(token) ? "" : detokenizer.add(token),
                                               matching: generated.count > request.sampling.minTokens && !valueText)
        let lp = request.sampling.logprobs.map { TokenLogprobs.compute(logits: logits, token: token, k: $0) }
        var events: [TokenEvent] = [.token(id: token, text: text, logprobs: lp)]
        if let matched {
            stopCause = .string(matched)
            return (events + [.finished(reason: .stop, usage: usage)], true)
        }
        if stopTokenIDs.contains(token), gate == .value, let s = structured, s.matcher.canEnd(s.state) {
            stopCause = .token(token)
            return (events + flush() + [.finished(reason: .stop, usage: usage)], true)
        }
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

extension Generation {
    /// The logits without the tokens the request bars at this step: those `allowed_token_ids` leaves out, the last
    /// token of a bad word whose others end the output, and stop tokens before `min_tokens`; nil when it bars none.
    func withoutBarredTokens(_ logits: [Float]) -> [Float]? {
        let s = request.sampling
        guard s.allowedTokenIDs != nil || !s.badWords.isEmpty || generated.count < s.minTokens else { return nil }
        var l = logits
        if let allowed = s.allowedTokenIDs {
            l = [Float](repeating: -.infinity, count: logits.count)
            for id in allowed where id >= 0 && id < l.count { l[id] = logits[id] }
        }
        for word in s.badWords where !word.isEmpty && generated.count >= word.count - 1 {
            if generated.suffix(word.count - 1).elementsEqual(word.dropLast()), let last = word.last, last >= 0, last < l.count { l[last] = -.infinity }
        }
        // Inside a value a request's stop tokens are the value's text: only the model's are barred there.
        if generated.count < s.minTokens {
            let inValue = structured != nil && (gate == .value || gate == .start)
            for id in inValue ? modelStopTokenIDs : stopTokenIDs where id >= 0 && id < l.count { l[id] = -.infinity }
        }
        return l
    }
}
