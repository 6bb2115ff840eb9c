/// One chat message after validation. `content` is the text (content-part arrays of text are joined).
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public var name: String?

    public init(role: String, content: String, name: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
    }
}

/// A validated `POST /v1/chat/completions` body.
public struct ChatCompletionRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var seed: Int?
    public var stream: Bool
    public var includeUsage: Bool
    public var ignoreEOS: Bool
    public var stop: [String]
    public var minP: Double?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var repetitionPenalty: Double?
    /// Token id → bias in [-100, 100].
    public var logitBias: [Int: Double]
    /// Number of choices to generate.
    public var n: Int
    /// nil: no logprobs; k: the chosen token's logprob and k alternatives.
    public var topLogprobs: Int?
    public var user: String?
    /// Fields we do not know; accepted and logged, never silently acted on.
    public var unknownFields: [String]

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    /// Fields that change the result and are not implemented yet: rejected with 400 rather than ignored,
    /// unless they carry their neutral value.
    static let notYetSupported: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [
        "tools": { $0 == .array([]) },
        "tool_choice": { $0 == .string("none") },
        "response_format": { $0 == .object(["type": .string("text")]) },
        "stop_token_ids": { $0 == .array([]) },
    ]

    static let known: Set<String> = Set([
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed",
        "stream", "stream_options", "ignore_eos", "user", "stop", "min_p", "presence_penalty", "frequency_penalty",
        "repetition_penalty", "logit_bias", "n", "logprobs", "top_logprobs", "parallel_tool_calls", "metadata", "store",
    ]).union(notYetSupported.map(\.key))

    public static func parse(_ body: [UInt8]) throws(APIError) -> ChatCompletionRequest {
        let f = try FieldReader(try JSONInput.parse(body))
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        guard let rawMessages = f.raw("messages") else {
            throw APIError.invalid("'messages' is required", param: "messages", code: "missing_required_parameter")
        }
        guard case let .array(items) = rawMessages else { throw f.typeError("messages", "an array", rawMessages) }
        guard !items.isEmpty else { throw APIError.invalid("'messages' must contain at least one message", param: "messages", code: "empty_array") }
        var messages: [ChatMessage] = []
        for (i, m) in items.enumerated() { messages.append(try parseMessage(m, index: i)) }

        for (key, isNeutral) in notYetSupported {
            if let v = f.raw(key), !isNeutral(v) {
                throw APIError.invalid("'\(key)' is not supported by this server yet", param: key, code: "unsupported_parameter")
            }
        }
        let legacyMaxTokens = try f.int("max_tokens", in: 1...Int(Int32.max))
        let maxTokens = try f.int("max_completion_tokens", in: 1...Int(Int32.max)) ?? legacyMaxTokens
        let stream = try f.bool("stream") ?? false
        var includeUsage = false
        if let so = f.raw("stream_options") {
            guard stream else { throw APIError.invalid("'stream_options' is only allowed when 'stream' is true", param: "stream_options") }
            includeUsage = try FieldReader(so, prefix: "stream_options").bool("include_usage") ?? false
        }
        return ChatCompletionRequest(
            model: model, messages: messages, maxTokens: maxTokens,
            temperature: try f.number("temperature", in: 0...2),
            topP: try topP(f),
            topK: try f.int("top_k", in: -1...Int(Int32.max)),
            seed: try f.int("seed"),
            stream: stream, includeUsage: includeUsage,
            ignoreEOS: try f.bool("ignore_eos") ?? false,
            stop: try stopStrings(f),
            minP: try f.number("min_p", in: 0...1),
            presencePenalty: try f.number("presence_penalty", in: -2...2),
            frequencyPenalty: try f.number("frequency_penalty", in: -2...2),
            repetitionPenalty: try repetitionPenalty(f),
            logitBias: try logitBias(f),
            n: try choiceCount(f),
            topLogprobs: try topLogprobs(f),
            user: try f.string("user"),
            unknownFields: f.fields.keys.filter { !known.contains($0) }.sorted()
        )
    }

    /// `stop`: a string or an array of up to 16 non-empty strings.
    static func stopStrings(_ f: FieldReader) throws(APIError) -> [String] {
        guard let v = f.raw("stop") else { return [] }
        var out: [String] = []
        switch v {
        case let .string(s): out = [s]
        case let .array(items):
            for item in items {
                guard case let .string(s) = item else { throw f.typeError("stop", "a string or an array of strings", item) }
                out.append(s)
            }
        default: throw f.typeError("stop", "a string or an array of strings", v)
        }
        guard out.count <= 16 else { throw APIError.invalid("'stop' may hold at most 16 strings, got \(out.count)", param: "stop", code: "invalid_value") }
        guard !out.contains("") else { throw APIError.invalid("'stop' strings must not be empty", param: "stop", code: "invalid_value") }
        return out
    }

    /// `n` in 1...16; several choices need sampling (temperature > 0).
    static func choiceCount(_ f: FieldReader) throws(APIError) -> Int {
        let n = try f.int("n", in: 1...16) ?? 1
        if n > 1, let t = try f.number("temperature"), t == 0 {
            throw APIError.invalid("'n' > 1 needs temperature > 0: greedy choices would all be identical", param: "n", code: "invalid_value")
        }
        return n
    }

    /// `logprobs` (bool) and `top_logprobs` (0...20, only with logprobs).
    static func topLogprobs(_ f: FieldReader) throws(APIError) -> Int? {
        let on = try f.bool("logprobs") ?? false
        let k = try f.int("top_logprobs", in: 0...20)
        if k != nil && !on {
            throw APIError.invalid("'top_logprobs' requires 'logprobs' to be true", param: "top_logprobs", code: "invalid_value")
        }
        return on ? (k ?? 0) : nil
    }

    static func repetitionPenalty(_ f: FieldReader) throws(APIError) -> Double? {
        guard let p = try f.number("repetition_penalty", in: 0...10) else { return nil }
        guard p > 0 else { throw APIError.invalid("'repetition_penalty' must be greater than 0", param: "repetition_penalty", code: "invalid_value") }
        return p
    }

    /// `logit_bias`: an object from token ids (as strings) to biases in [-100, 100].
    static func logitBias(_ f: FieldReader) throws(APIError) -> [Int: Double] {
        guard let v = f.raw("logit_bias") else { return [:] }
        let inner = try FieldReader(v, prefix: "logit_bias")
        var out: [Int: Double] = [:]
        for key in inner.fields.keys {
            guard let id = Int(key), id >= 0 else {
                throw APIError.invalid("'logit_bias' keys must be token ids, got '\(key)'", param: "logit_bias", code: "invalid_value")
            }
            out[id] = try inner.number(key, in: -100...100)
        }
        return out
    }

    static func topP(_ f: FieldReader) throws(APIError) -> Double? {
        guard let p = try f.number("top_p", in: 0...1) else { return nil }
        guard p > 0 else { throw APIError.invalid("'top_p' must be greater than 0", param: "top_p", code: "invalid_value") }
        return p
    }

    static func parseMessage(_ value: JSONInput, index: Int) throws(APIError) -> ChatMessage {
        let p = "messages[\(index)]"
        let f = try FieldReader(value, prefix: p)
        guard let role = try f.string("role") else {
            throw APIError.invalid("'\(p).role' is required", param: "\(p).role", code: "missing_required_parameter")
        }
        guard roles.contains(role) else {
            throw APIError.invalid("'\(p).role' must be one of \(roles.sorted().joined(separator: ", ")), got '\(role)'", param: "\(p).role", code: "invalid_value")
        }
        if f.raw("tool_calls") != nil {
            throw APIError.invalid("'\(p).tool_calls' is not supported by this server yet", param: "\(p).tool_calls", code: "unsupported_parameter")
        }
        let content: String
        switch f.raw("content") {
        case nil:
            guard role == "assistant" else {
                throw APIError.invalid("'\(p).content' is required for role '\(role)'", param: "\(p).content", code: "missing_required_parameter")
            }
            content = ""
        case let .string(s)?:
            content = s
        case let .array(parts)?:
            var texts: [String] = []
            for (j, part) in parts.enumerated() { texts.append(try textOfPart(part, path: "\(p).content[\(j)]")) }
            content = texts.joined()
        case let other?:
            throw f.typeError("content", "a string or an array of content parts", other)
        }
        return ChatMessage(role: role, content: content, name: try f.string("name"))
    }

    static func textOfPart(_ value: JSONInput, path: String) throws(APIError) -> String {
        let f = try FieldReader(value, prefix: path)
        guard let type = try f.string("type") else {
            throw APIError.invalid("'\(path).type' is required", param: "\(path).type", code: "missing_required_parameter")
        }
        guard type == "text" else {
            throw APIError.invalid("content parts of type '\(type)' are not supported; this model accepts text only", param: "\(path).type", code: "unsupported_content_type")
        }
        guard let text = try f.string("text") else {
            throw APIError.invalid("'\(path).text' is required", param: "\(path).text", code: "missing_required_parameter")
        }
        return text
    }
}
