import Engine

/// `chat.completion` and `chat.completion.chunk` objects.
struct ChatResponseBuilder: CompletionShape {
    let header: CompletionHeader

    func whole(choices: [Choice], usage: Usage) -> JSONValue {
        let items: [JSONValue] = choices.enumerated().map { i, c in
            .object([
                ("index", .int(i)),
                ("message", .object([("role", .string("assistant")), ("content", .string(c.text)), ("refusal", .null)])),
                ("logprobs", c.logprobs.map { .object([("content", .array($0.map(Self.entry))), ("refusal", .null)]) } ?? .null),
                ("finish_reason", .string(c.reason.rawValue)),
            ])
        }
        return .object(header.fields("chat.completion") + [("choices", .array(items)), ("usage", CompletionHeader.usageJSON(usage))])
    }

    func openingChunk(choice: Int, prompt: PromptLogprobs?) -> JSONValue? {
        chunk(choice, delta: .object([("role", .string("assistant")), ("content", .string(""))]), finish: nil, logprobs: nil)
    }

    func deltaChunk(choice: Int, text: String, logprobs: TokenLogprobsEntry?, tokenOffset: Int) -> JSONValue {
        chunk(choice, delta: .object([("content", .string(text))]), finish: nil,
              logprobs: logprobs.map { .object([("content", .array([Self.entry($0)])), ("refusal", .null)]) })
    }

    func finishChunk(choice: Int, reason: FinishReason) -> JSONValue {
        chunk(choice, delta: .object([]), finish: reason, logprobs: nil)
    }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header.fields("chat.completion.chunk") + [("choices", .array([])), ("usage", CompletionHeader.usageJSON(usage))])
    }

    private func chunk(_ choice: Int, delta: JSONValue, finish: FinishReason?, logprobs: JSONValue?) -> JSONValue {
        let item: JSONValue = .object([
            ("index", .int(choice)), ("delta", delta), ("logprobs", logprobs ?? .null),
            ("finish_reason", finish.map { .string($0.rawValue) } ?? .null),
        ])
        return .object(header.fields("chat.completion.chunk") + [("choices", .array([item]))])
    }

    /// One entry of `logprobs.content` in the chat shape.
    static func entry(_ e: TokenLogprobsEntry) -> JSONValue {
        func one(_ token: String, _ bytes: [UInt8], _ lp: Float) -> [(String, JSONValue)] {
            [("token", .string(token)), ("logprob", .double(Double(lp))), ("bytes", .array(bytes.map { .int(Int($0)) }))]
        }
        return .object(one(e.token, e.bytes, e.logprob) + [("top_logprobs", .array(e.top.map { .object(one($0.token, $0.bytes, $0.logprob)) }))])
    }
}

/// Legacy `text_completion` objects (`/v1/completions`), with the legacy logprobs layout.
struct TextResponseBuilder: CompletionShape {
    let header: CompletionHeader
    /// Per prompt: text echoed before the completion (empty without `echo`).
    let echo: [String]
    let choicesPerPrompt: Int

    func prefix(_ choice: Int) -> String { echo.isEmpty ? "" : echo[choice / max(1, choicesPerPrompt)] }

    func whole(choices: [Choice], usage: Usage) -> JSONValue {
        let items: [JSONValue] = choices.enumerated().map { i, c in
            .object([("index", .int(i)), ("text", .string(prefix(i) + c.text)),
                      ("logprobs", c.logprobs.map { Self.legacy($0, offset: prefix(i).count, prompt: c.prompt) } ?? .null),
                      ("finish_reason", .string(c.reason.rawValue))])
        }
        return .object(header.fields("text_completion") + [("choices", .array(items)), ("usage", CompletionHeader.usageJSON(usage))])
    }

    func openingChunk(choice: Int, prompt: PromptLogprobs?) -> JSONValue? {
        let p = prefix(choice)
        return p.isEmpty ? nil : chunk(choice, text: p, finish: nil, logprobs: prompt.map { Self.legacy([], offset: p.count, prompt: $0) })
    }

    func deltaChunk(choice: Int, text: String, logprobs: TokenLogprobsEntry?, tokenOffset: Int) -> JSONValue {
        chunk(choice, text: text, finish: nil, logprobs: logprobs.map { Self.legacy([$0], offset: prefix(choice).count + tokenOffset) })
    }

    func finishChunk(choice: Int, reason: FinishReason) -> JSONValue { chunk(choice, text: "", finish: reason, logprobs: nil) }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header.fields("text_completion") + [("choices", .array([])), ("usage", CompletionHeader.usageJSON(usage))])
    }

    private func chunk(_ choice: Int, text: String, finish: FinishReason?, logprobs: JSONValue?) -> JSONValue {
        let item: JSONValue = .object([("index", .int(choice)), ("text", .string(text)), ("logprobs", logprobs ?? .null),
                                       ("finish_reason", finish.map { .string($0.rawValue) } ?? .null)])
        return .object(header.fields("text_completion") + [("choices", .array([item]))])
    }

    /// `{tokens, token_logprobs, top_logprobs, text_offset}`; offsets count characters from the start of the
    /// choice's text: the generated tokens' from `offset` (the echoed prompt's length), an echoed prompt's
    /// tokens from 0, its first token with null logprobs (nothing comes before it), as OpenAI's.
    static func legacy(_ entries: [TokenLogprobsEntry], offset: Int, prompt: PromptLogprobs? = nil) -> JSONValue {
        var tokens: [JSONValue] = [], logprobs: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        func add(_ e: TokenLogprobsEntry, at: inout Int) {
            tokens.append(.string(e.token))
            logprobs.append(.double(Double(e.logprob)))
            tops.append(.object(e.top.map { ($0.token, JSONValue.double(Double($0.logprob))) }))
            offsets.append(.int(at))
            at += e.token.count
        }
        if let prompt {
            var at = 0
            tokens.append(.string(prompt.first.token))
            logprobs.append(.null)
            tops.append(.null)
            offsets.append(.int(at))
            at += prompt.first.token.count
            for e in prompt.entries { add(e, at: &at) }
        }
        var at = offset
        for e in entries { add(e, at: &at) }
        return .object([("tokens", .array(tokens)), ("token_logprobs", .array(logprobs)), ("top_logprobs", .array(tops)),
                        ("text_offset", .array(offsets))])
    }
}
