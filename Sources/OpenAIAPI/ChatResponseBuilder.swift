import Engine

/// Builds the JSON of `chat.completion` and `chat.completion.chunk` objects for one request.
struct ChatResponseBuilder: Sendable {
    let id: String
    let model: String
    let created: Int
    let fingerprint: String

    func header(_ object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
         ("system_fingerprint", .string(fingerprint))]
    }

    static func usageJSON(_ u: Usage) -> JSONValue {
        .object([("prompt_tokens", .int(u.promptTokens)), ("completion_tokens", .int(u.completionTokens)), ("total_tokens", .int(u.totalTokens))])
    }

    func completion(text: String, finishReason: FinishReason, usage: Usage) -> JSONValue {
        let choice: JSONValue = .object([
            ("index", .int(0)),
            ("message", .object([("role", .string("assistant")), ("content", .string(text))])),
            ("logprobs", .null),
            ("finish_reason", .string(finishReason.rawValue)),
        ])
        return .object(header("chat.completion") + [("choices", .array([choice])), ("usage", Self.usageJSON(usage))])
    }

    func chunk(delta: JSONValue, finishReason: FinishReason?) -> JSONValue {
        let choice: JSONValue = .object([
            ("index", .int(0)), ("delta", delta), ("logprobs", .null),
            ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null),
        ])
        return .object(header("chat.completion.chunk") + [("choices", .array([choice]))])
    }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header("chat.completion.chunk") + [("choices", .array([])), ("usage", Self.usageJSON(usage))])
    }
}
