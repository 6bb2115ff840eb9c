import Engine

/// Builds the JSON of `chat.completion` and `chat.completion.chunk` objects for one request.
struct ChatResponseBuilder: Sendable {
    let id: String
    let model: String
    let created: Int
    let fingerprint: String
    let tokenBytes: @Sendable (Int) -> [UInt8]

    func header(_ object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
         ("system_fingerprint", .string(fingerprint))]
    }

    static func usageJSON(_ u: Usage) -> JSONValue {
        .object([("prompt_tokens", .int(u.promptTokens)), ("completion_tokens", .int(u.completionTokens)), ("total_tokens", .int(u.totalTokens)),
                 ("prompt_tokens_details", .object([("cached_tokens", .int(u.cachedPromptTokens))]))])
    }

    func completion(choices: [(text: String, reason: FinishReason, logprobs: [JSONValue]?)], usage: Usage) -> JSONValue {
        let items: [JSONValue] = choices.enumerated().map { i, c in
            .object([
                ("index", .int(i)),
                ("message", .object([("role", .string("assistant")), ("content", .string(c.text))])),
                ("logprobs", c.logprobs.map { .object([("content", .array($0))]) } ?? .null),
                ("finish_reason", .string(c.reason.rawValue)),
            ])
        }
        return .object(header("chat.completion") + [("choices", .array(items)), ("usage", Self.usageJSON(usage))])
    }

    func chunk(choice: Int, delta: JSONValue, finishReason: FinishReason?, logprobs: JSONValue? = nil) -> JSONValue {
        let item: JSONValue = .object([
            ("index", .int(choice)), ("delta", delta), ("logprobs", logprobs ?? .null),
            ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null),
        ])
        return .object(header("chat.completion.chunk") + [("choices", .array([item]))])
    }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header("chat.completion.chunk") + [("choices", .array([])), ("usage", Self.usageJSON(usage))])
    }

    /// One entry of `logprobs.content`: the token's text (lossy for a partial UTF-8 sequence), its
    /// logprob, its bytes, and the top alternatives.
    func logprobEntry(token: Int, _ lp: TokenLogprobs) -> JSONValue {
        func entry(_ id: Int, _ logprob: Float) -> [(String, JSONValue)] {
            let bytes = tokenBytes(id)
            return [("token", .string(String(decoding: bytes, as: UTF8.self))), ("logprob", .double(Double(logprob))),
                    ("bytes", .array(bytes.map { .int(Int($0)) }))]
        }
        return .object(entry(token, lp.logprob) + [("top_logprobs", .array(lp.top.map { .object(entry($0.id, $0.logprob)) }))])
    }
}
