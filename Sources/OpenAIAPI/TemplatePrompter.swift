import Tokenizer

/// The standard `ChatPrompting`: render the model's chat template the way Hugging Face's
/// `apply_chat_template` does, then tokenize with special tokens parsed.
public struct TemplatePrompter: ChatPrompting {
    /// nil for a model without one (embedding models often have none): chat requests are then refused.
    public let template: ChatTemplate?
    public let tokenizer: BPETokenizer
    public let bosToken: String?
    public let eosToken: String?
    public let toolCallFormat: ToolCallFormat?
    /// Whether the template renders assistant tool calls at all (else a tool-calling turn's null content is "").
    let rendersToolCalls: Bool
    public let thinksInTags: Bool
    public let thinkTokenIDs: Set<Int>

    public init(template: ChatTemplate?, tokenizer: BPETokenizer) {
        self.template = template
        self.tokenizer = tokenizer
        let v = tokenizer.vocabulary
        bosToken = v.bosTokenID.map { v.tokens[$0] }
        eosToken = v.eosTokenID.map { v.tokens[$0] }
        let source = template?.source ?? ""
        toolCallFormat = ToolCallFormat.detect(template: source)
        rendersToolCalls = source.contains("tool_calls")
        thinksInTags = source.contains(ReasoningStart.close)
        thinkTokenIDs = Set([ReasoningStart.open, ReasoningStart.close].compactMap { marker in
            let ids = tokenizer.encode(marker, parseSpecial: true)
            return ids.count == 1 ? ids[0] : nil
        })
    }

    /// The prompt, and where the output starts: what the generation prompt adds (the render with it, past the render
    /// without it) decides; a conversation's own text (a user asking about `<think>` tags) never does.
    public func thinkingPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?,
                               variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart) {
        let full = try render(messages, tools: tools, variables: variables)
        let without = try render(messages, tools: tools, variables: variables, addGenerationPrompt: false)
        let start = full.hasPrefix(without) ? ReasoningStart.of(promptTail: String(full.dropFirst(without.count))) : .mayOpen
        return (tokens(full), start)
    }

    /// The prompt that continues the final (assistant) message instead of starting a new turn (Anthropic's prefill,
    /// vLLM's `continue_final_message`), as Hugging Face's `apply_chat_template` builds it: the conversation rendered
    /// without a generation prompt, cut just after the final message's text. Where the output starts is read from
    /// that turn as rendered (its header, and its text so far).
    public func continuationPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?,
                                   variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart) {
        guard let last = messages.last, last.role == "assistant" else { throw ContinuationError.notAssistant }
        let full = try render(messages, tools: tools, variables: variables, addGenerationPrompt: false)
        let text = String(last.content.drop { $0.isWhitespace })
        let core = String(text.reversed().drop { $0.isWhitespace }.reversed())
        guard !core.isEmpty, let at = full.range(of: core, options: .backwards) else { throw ContinuationError.notRendered }
        // The text's own trailing whitespace stays when the template kept it.
        let end = full[at.upperBound...].hasPrefix(text.dropFirst(core.count)) ? full.index(at.upperBound, offsetBy: text.count - core.count)
                                                                                : at.upperBound
        let prompt = String(full[..<end])
        let before = try render(Array(messages.dropLast()), tools: tools, variables: variables, addGenerationPrompt: false)
        let start = prompt.hasPrefix(before) ? ReasoningStart.of(promptTail: String(prompt.dropFirst(before.count))) : .mayOpen
        return (tokens(prompt), start)
    }

    /// The messages as `apply_chat_template` gets them from vLLM: tool calls with their arguments parsed into
    /// objects, a tool message's `tool_call_id`, `content` none for an assistant turn that only calls tools.
    public func render(_ messages: [ChatMessage], tools: [OrderedJSON]? = nil, variables: [String: OrderedJSON] = [:],
                       addGenerationPrompt: Bool = true) throws -> String {
        let values: [JinjaValue] = messages.map { m in
            let content: JinjaValue = m.contentIsNull && rendersToolCalls ? .none : .string(m.content)
            var pairs: [(String, JinjaValue)] = [("role", .string(m.role)), ("content", content)]
            if let n = m.name { pairs.append(("name", .string(n))) }
            if !m.toolCalls.isEmpty {
                pairs.append(("tool_calls", .array(m.toolCalls.map { call in
                    .object(JinjaObject([("id", .string(call.id)), ("type", .string("function")),
                                         ("function", .object(JinjaObject([("name", .string(call.name)), ("arguments", Self.jinja(call.arguments))])))]))
                })))
            }
            if let id = m.toolCallID { pairs.append(("tool_call_id", .string(id))) }
            if let r = m.reasoningContent { pairs.append(("reasoning_content", .string(r))) }
            return JinjaValue.object(JinjaObject(pairs))
        }
        guard let template else { throw MissingChatTemplate() }
        return try template.render(messages: values, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken,
                                   tools: tools.map { $0.map(Self.jinja) }, extra: variables.mapValues(Self.jinja))
    }

    static func jinja(_ v: OrderedJSON) -> JinjaValue {
        switch v {
        case let .array(items): return .array(items.map(jinja))
        case let .object(fields): return .object(JinjaObject(fields.map { ($0.key, jinja($0.value)) }))
        case let .scalar(s):
            switch s {
            case .null: return .none
            case let .bool(b): return .bool(b)
            case let .int(i): return .int(i)
            case let .double(d): return .double(d)
            case let .string(str): return .string(str)
            case .array, .object: return jinja(OrderedJSON(sorting: s))
            }
        }
    }

    public func tokenBytes(_ id: Int) -> [UInt8] { tokenizer.decodeBytes([id]) }

    public func encode(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text, parseSpecial: true)
        if tokenizer.vocabulary.addBOS, let bos = tokenizer.vocabulary.bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    /// Special-token text is read as the special token, as Hugging Face's encode (and so vLLM's bad_words) does.
    public func encodeFragment(_ text: String) -> [Int] { tokenizer.encode(text, parseSpecial: true) }

    public func encodeWithSpecialTokens(_ text: String) -> [Int] { tokenizer.encodeWithSpecialTokens(text, parseSpecial: true) }

    public func decode(_ ids: [Int]) -> String { tokenizer.decode(ids) }

    public func promptTokens(for messages: [ChatMessage]) throws -> [Int] { try promptTokens(for: messages, tools: nil) }

    public func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?) throws -> [Int] {
        try promptTokens(for: messages, tools: tools, variables: [:])
    }

    public func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> [Int] {
        tokens(try render(messages, tools: tools, variables: variables))
    }

    /// A rendered prompt's ids (special-token text parsed).
    private func tokens(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text, parseSpecial: true)
        // A template that writes the BOS text itself already produced the id; add it only when asked and absent.
        if tokenizer.vocabulary.addBOS, let bos = tokenizer.vocabulary.bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }
}

/// Why a final assistant message cannot be continued.
public enum ContinuationError: Error, CustomStringConvertible {
    case notAssistant
    /// The template does not show the message's text as sent (or it is empty), so there is no place to continue from.
    case notRendered
    /// The prompter has no way to continue a message.
    case unsupported

    public var description: String {
        switch self {
        case .notAssistant: return "the final message must be an assistant message to be continued"
        case .notRendered: return "the chat template does not show the final assistant message's text as sent, so the answer cannot continue it"
        case .unsupported: return "this server cannot continue a final assistant message with this model's prompt format"
        }
    }
}

/// The model has no chat template, so chat messages cannot become a prompt.
public struct MissingChatTemplate: Error, CustomStringConvertible {
    public var description: String {
        "this model has no chat template (tokenizer_config.json's chat_template, GGUF's tokenizer.chat_template), so it takes no chat "
            + "messages: send a prompt you format yourself to /v1/completions, or use /v1/embeddings"
    }

    /// The API error for a request whose `param` held the messages: `error` itself when it is this, else a template
    /// that could not render them.
    static func apiError(_ error: any Error, param: String) -> APIError {
        if let missing = error as? MissingChatTemplate { return APIError.invalid(missing.description, param: param, code: "no_chat_template") }
        if let continuation = error as? ContinuationError { return APIError.invalid(continuation.description, param: param, code: "invalid_value") }
        return APIError.invalid("the chat template could not render this '\(param)': \(error)", param: param, code: "template_error")
    }
}
