import Engine

/// One finished choice: its text, why it ended (and which of the request's stop strings or tokens, if one did), its
/// logprobs when asked for, and its echoed prompt's logprobs.
/// `promptLogprobs` is vLLM's `prompt_logprobs` list, when the request asked for it.
typealias CompletionChoice = (text: String, reason: FinishReason, stop: StopCause?, logprobs: [TokenLogprobsEntry]?, prompt: PromptLogprobs?,
                              promptLogprobs: JSONValue?)

/// An echoed prompt's logprobs: its first token (which has no logprob) and an entry for each later token, each
/// with its offset in the prompt's text (`TokenLogprobsEntry.offset`; the first token's is 0).
struct PromptLogprobs: Sendable {
    var first: (token: String, bytes: [UInt8])
    var entries: [TokenLogprobsEntry]

    init(promptTokenIDs ids: [Int], _ logprobs: [TokenLogprobs], tokenBytes: (Int) -> [UInt8]) {
        let b = ids.first.map(tokenBytes) ?? []
        first = (String(decoding: b, as: UTF8.self), b)
        // Offsets count the characters (Unicode scalars, as OpenAI's and Python's indices) that the tokens before
        // started: a token that ends inside a multi-byte character has started it.
        var started = b.reduce(0) { $0 + (Self.startsScalar($1) ? 1 : 0) }
        entries = zip(ids.dropFirst(), logprobs).map { id, lp in
            var e = TokenLogprobsEntry(token: id, lp, tokenBytes: tokenBytes)
            e.offset = started
            started += e.bytes.reduce(0) { $0 + (Self.startsScalar($1) ? 1 : 0) }
            return e
        }
    }

    /// Whether a UTF-8 byte starts a scalar (is not a continuation byte 10xxxxxx).
    static func startsScalar(_ byte: UInt8) -> Bool { byte & 0xC0 != 0x80 }
}

/// The JSON shapes of one kind of completion (chat or legacy text), whole and streamed.
protocol CompletionShape: Sendable {
    typealias Choice = CompletionChoice
    func whole(choices: [Choice], usage: Usage) -> JSONValue
    /// Sent once per choice before its tokens (chat: the role; an echoed prompt, with its logprobs when the
    /// request asked for both, once they are computed), or nil.
    func openingChunk(choice: Int, prompt: PromptLogprobs?) -> JSONValue?
    /// `tokenOffset`: characters (Unicode scalars) of the choice's text before this token's (legacy `text_offset`).
    /// nil when there is nothing to send yet (text held back as a possible tool call).
    func deltaChunk(choice: Int, text: String, logprobs: TokenLogprobsEntry?, tokenOffset: Int) -> JSONValue?
    /// The chunks that end a choice: what was held back, if anything, then the one with `finish_reason` (and vLLM's
    /// `stop_reason`).
    func finishChunks(choice: Int, reason: FinishReason, stop: StopCause?) -> [JSONValue]
    func usageChunk(_ usage: Usage) -> JSONValue
}

/// A sampled token's logprob data with its text resolved.
struct TokenLogprobsEntry: Sendable {
    var token: String
    var bytes: [UInt8]
    var logprob: Float
    var top: [(token: String, bytes: [UInt8], logprob: Float)]
    /// Characters (Unicode scalars) of the choice's text before this token's: of the generated text, or of the
    /// prompt for an echoed prompt's token (legacy `text_offset`).
    var offset = 0

    init(token id: Int, _ lp: TokenLogprobs, tokenBytes: (Int) -> [UInt8]) {
        bytes = tokenBytes(id)
        token = String(decoding: bytes, as: UTF8.self)
        logprob = lp.logprob
        top = lp.top.map { c in
            let b = tokenBytes(c.id)
            return (String(decoding: b, as: UTF8.self), b, c.logprob)
        }
    }
}

extension StopCause {
    /// vLLM's `stop_reason`: the stop string, or the stop token's id; null when the model's own end (or a length
    /// limit) ended the choice.
    static func json(_ cause: StopCause?) -> JSONValue {
        switch cause {
        case let .string(s)?: return .string(s)
        case let .token(id)?: return .int(id)
        case nil: return .null
        }
    }
}

/// Fields every completion object starts with.
struct CompletionHeader: Sendable {
    let id: String
    let model: String
    let created: Int
    let fingerprint: String

    func fields(_ object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
         ("system_fingerprint", .string(fingerprint))]
    }

    /// OpenAI's usage object; on a simulated device also `simulated` (our extension, milliseconds of simulated
    /// device time: `ttft_ms`, `tpot_ms` when known, `total_ms`).
    static func usageJSON(_ u: Usage) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("prompt_tokens", .int(u.promptTokens)), ("completion_tokens", .int(u.completionTokens)), ("total_tokens", .int(u.totalTokens)),
            ("prompt_tokens_details", .object([("cached_tokens", .int(u.cachedPromptTokens))])),
        ]
        // A thinking model's reasoning tokens (OpenAI's and DeepSeek's field), when the engine counted them.
        if let r = u.reasoningTokens { fields.append(("completion_tokens_details", .object([("reasoning_tokens", .int(r))]))) }
        if let sim = u.simulated {
            var timings: [(String, JSONValue)] = []
            if let ttft = sim.timeToFirstToken { timings.append(("ttft_ms", .double(ttft * 1e3))) }
            if let tpot = sim.timePerOutputToken { timings.append(("tpot_ms", .double(tpot * 1e3))) }
            timings.append(("total_ms", .double(sim.total * 1e3)))
            fields.append(("simulated", .object(timings)))
        }
        return .object(fields)
    }
}
