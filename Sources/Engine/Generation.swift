import Tokenizer

/// The per-request state of generation that does not depend on how steps are scheduled: sampler,
/// detokeniser, counters, and the stop rules. The loop feeds it one row of logits per step.
struct Generation {
    let request: EngineRequest
    let contextLength: Int
    let stopTokenIDs: Set<Int>
    var sampler: Sampler
    var detokenizer: IncrementalDetokenizer
    var generated: [Int] = []

    init(request: EngineRequest, contextLength: Int, stopTokenIDs: Set<Int>, decodeBytes: @escaping @Sendable ([Int]) -> [UInt8]) {
        self.request = request
        self.contextLength = contextLength
        self.stopTokenIDs = request.sampling.ignoreEOS ? request.sampling.stopTokenIDs : stopTokenIDs.union(request.sampling.stopTokenIDs)
        sampler = Sampler(params: request.sampling)
        detokenizer = IncrementalDetokenizer(decodeBytes: decodeBytes)
    }

    var usage: Usage { Usage(promptTokens: request.promptTokenIDs.count, completionTokens: generated.count) }

    /// Why this request cannot run at all, if it cannot.
    var validationError: String? {
        if request.promptTokenIDs.isEmpty { return "the prompt is empty" }
        if request.sampling.maxTokens < 1 { return "max_tokens must be at least 1" }
        if request.promptTokenIDs.count >= contextLength {
            return "the prompt has \(request.promptTokenIDs.count) tokens; the model's context is \(contextLength)"
        }
        return nil
    }

    struct Step {
        var events: [TokenEvent] = []
        /// The token to feed next, or nil when the request finished.
        var nextInput: Int?
    }

    /// Samples from `logits`, applies the stop rules, and says what to emit and whether to go on.
    mutating func accept(logits: [Float]) -> Step {
        let token = sampler.sample(logits)
        var step = Step()
        if stopTokenIDs.contains(token) {
            step.events.append(contentsOf: flush())
            step.events.append(.finished(reason: .stop, usage: usage))
            return step
        }
        generated.append(token)
        step.events.append(.token(id: token, text: detokenizer.add(token)))
        let atContextEnd = request.promptTokenIDs.count + generated.count >= contextLength
        if generated.count >= request.sampling.maxTokens || atContextEnd {
            step.events.append(contentsOf: flush())
            step.events.append(.finished(reason: .length, usage: usage))
            return step
        }
        step.nextInput = token
        return step
    }

    /// Text held back inside an incomplete UTF-8 sequence is released as a token-less event at the end.
    private mutating func flush() -> [TokenEvent] {
        let rest = detokenizer.flush()
        return rest.isEmpty ? [] : [.text(rest)]
    }
}
