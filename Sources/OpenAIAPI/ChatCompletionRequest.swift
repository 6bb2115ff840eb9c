/// One chat message after validation. `content` is the text (content-part arrays of text are joined).
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public var name: String?
    /// An assistant message's tool calls.
    public var toolCalls: [ChatToolCall] = []
    /// A tool message's answer to this call.
    public var toolCallID: String?
    /// The content was null or absent (an assistant message that only calls tools): templates see `none`.
    public var contentIsNull = false
    /// An assistant turn's reasoning, sent back (templates that show earlier reasoning read `reasoning_content`).
    public var reasoningContent: String?

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
    public var sampling: SamplingRequest
    public var stream: Bool
    public var includeUsage: Bool
    /// `tools`, `tool_choice`, `parallel_tool_calls`; nil without tools.
    public var tools: ToolRequest?
    /// vLLM's `chat_template_kwargs`: extra variables for the chat template (`enable_thinking`, `thinking`, …).
    public var templateArguments: [String: OrderedJSON] = [:]
    /// The answer continues the final (assistant) message rather than starting a turn: vLLM's
    /// `continue_final_message`, Anthropic's prefill.
    public var continueFinalMessage = false
    /// Fields we do not know; accepted and logged, never silently acted on.
    public var unknownFields: [String]

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    /// Fields that change the result and are not implemented yet: rejected with 400 rather than ignored,
    /// unless they carry their neutral value.
    static let notYetSupported: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [
        // vLLM's chat extensions (its sampling ones are `SamplingRequest.vllmExtensions`).
        "echo": { $0 == .bool(false) },
        "chat_template": { _ in false },
        "documents": { _ in false },
        // The legacy form of tools / tool_choice.
        "functions": { $0 == .array([]) },
        "function_call": { $0 == .string("none") },
        // Output other than text, and controls this server has nothing to apply to.
        "modalities": { $0 == .array([.string("text")]) },
        "audio": { _ in false },
        "prediction": { _ in false },
        "reasoning_effort": { _ in false },
    ]

    static let known: Set<String> = Set(["model", "messages", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "metadata", "store",
                                         "chat_template_kwargs"])
        .union(SamplingRequest.fields).union(notYetSupported.map(\.key)).union(["continue_final_message", "add_generation_prompt"]).union(SamplingRequest.vllmExtensions.map(\.key))

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
        try rejectUnsupported(f, notYetSupported)
        try rejectUnsupported(f, SamplingRequest.vllmExtensions)
        let (stream, includeUsage) = try streamOptions(f)
        let ordered = OrderedBody(body)
        let tools = try ToolRequest.parse(f, body: ordered)
        let sampling = try SamplingRequest(f, body: ordered)
        // With tool_choice auto the model writes the format's value or calls instead; a forced call is the output.
        if let tools, tools.choice != .none, tools.choice != .auto, sampling.grammar != nil {
            let given = ResponseFormat.sourceFields.first { f.raw($0) != nil } ?? "response_format"
            throw APIError.invalid("'\(given)' and tools with tool_choice '\(tools.choice.name)' both decide the output's form; send one",
                                   param: given, code: "invalid_value")
        }
        var request = ChatCompletionRequest(model: model, messages: messages, sampling: sampling, stream: stream, includeUsage: includeUsage,
                                            tools: tools, unknownFields: f.fields.keys.filter { !known.contains($0) }.sorted())
        request.templateArguments = try templateArguments(f, body: ordered)
        request.continueFinalMessage = try continuation(f, messages: messages)
        return request
    }

    /// vLLM's `continue_final_message` (with `add_generation_prompt` false, as vLLM requires): the answer goes on from
    /// the final assistant message's text.
    static func continuation(_ f: FieldReader, messages: [ChatMessage]) throws(APIError) -> Bool {
        let addGenerationPrompt = try f.bool("add_generation_prompt") ?? true
        guard try f.bool("continue_final_message") == true else {
            if !addGenerationPrompt {
                throw APIError.invalid("'add_generation_prompt' false is supported only with 'continue_final_message' true", param: "add_generation_prompt",
                                       code: "unsupported_value")
            }
            return false
        }
        if addGenerationPrompt {
            throw APIError.invalid("'continue_final_message' true needs 'add_generation_prompt' false: the answer continues the last message rather than starting a turn",
                                   param: "add_generation_prompt", code: "invalid_value")
        }
        guard messages.last?.role == "assistant" else {
            throw APIError.invalid("'continue_final_message' needs the last message to be an assistant message", param: "messages", code: "invalid_value")
        }
        return true
    }

    /// Variables the server sets itself, which `chat_template_kwargs` may not replace.
    static let reservedTemplateVariables: Set<String> = ["messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token",
                                                         // and the template language's own globals
                                                         "namespace", "range", "raise_exception", "strftime_now", "loop", "dict", "lipsum",
                                                         "cycler", "joiner", "true", "false", "none", "True", "False", "None"]

    /// `chat_template_kwargs`: an object of template variables (names that are identifiers, any JSON values).
    static func templateArguments(_ f: FieldReader, body: OrderedBody) throws(APIError) -> [String: OrderedJSON] {
        guard let raw = f.raw("chat_template_kwargs") else { return [:] }
        let kw = try FieldReader(raw, prefix: "chat_template_kwargs")
        guard kw.fields.count <= 64 else {
            throw APIError.invalid("'chat_template_kwargs' may hold at most 64 variables", param: "chat_template_kwargs", code: "invalid_value")
        }
        guard case let .object(fields)? = try body.value()["chat_template_kwargs"] else { return [:] }
        var out: [String: OrderedJSON] = [:]
        for (name, value) in fields {
            let p = "chat_template_kwargs.\(name)"
            guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic),
                  name.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }) else {
                throw APIError.invalid("'\(p)': a template variable's name must be an identifier", param: p, code: "invalid_value")
            }
            guard !reservedTemplateVariables.contains(name) else {
                throw APIError.invalid("'\(p)' is set by the server from the request and cannot be replaced", param: p, code: "invalid_value")
            }
            out[name] = value
        }
        return out
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
        if f.raw("function_call") != nil {
            throw APIError.invalid("'\(p).function_call' (the legacy form of tool_calls) is not supported; send tool_calls", param: "\(p).function_call",
                                   code: "unsupported_parameter")
        }
        var toolCalls: [ChatToolCall] = []
        if let raw = f.raw("tool_calls") {
            guard role == "assistant" else {
                throw APIError.invalid("'\(p).tool_calls' belongs to assistant messages", param: "\(p).tool_calls", code: "invalid_value")
            }
            guard case let .array(calls) = raw else { throw f.typeError("tool_calls", "an array", raw) }
            for (j, call) in calls.enumerated() { toolCalls.append(try ChatToolCall.parse(call, path: "\(p).tool_calls[\(j)]")) }
        }
        let toolCallID = try f.string("tool_call_id")
        if role == "tool", toolCallID == nil {
            throw APIError.invalid("'\(p).tool_call_id' is required for role 'tool'", param: "\(p).tool_call_id", code: "missing_required_parameter")
        }
        let content: String
        var contentIsNull = false
        switch f.raw("content") {
        case nil:
            guard role == "assistant" else {
                throw APIError.invalid("'\(p).content' is required for role '\(role)'", param: "\(p).content", code: "missing_required_parameter")
            }
            content = ""
            contentIsNull = !toolCalls.isEmpty
        case let .string(s)?:
            content = s
        case let .array(parts)?:
            var texts: [String] = []
            for (j, part) in parts.enumerated() { texts.append(try textOfPart(part, path: "\(p).content[\(j)]")) }
            content = texts.joined()
        case let other?:
            throw f.typeError("content", "a string or an array of content parts", other)
        }
        var message = ChatMessage(role: role, content: content, name: try f.string("name"))
        // vLLM's newer name is `reasoning`; sending both with different text would leave one unread.
        let reasoningContent = try f.string("reasoning_content"), reasoning = try f.string("reasoning")
        if let key = reasoningContent != nil ? "reasoning_content" : reasoning != nil ? "reasoning" : nil {
            guard role == "assistant" else {
                throw APIError.invalid("'\(p).\(key)' belongs to assistant messages", param: "\(p).\(key)", code: "invalid_value")
            }
            if let reasoningContent, let reasoning, reasoningContent != reasoning {
                throw APIError.invalid("'\(p).reasoning_content' and '\(p).reasoning' disagree; send one", param: "\(p).reasoning", code: "invalid_value")
            }
            message.reasoningContent = reasoningContent ?? reasoning
        }
        message.toolCalls = toolCalls
        message.toolCallID = toolCallID
        message.contentIsNull = contentIsNull
        return message
    }

    static func rejectUnsupported(_ f: FieldReader, _ table: KeyValuePairs<String, @Sendable (JSONInput) -> Bool>) throws(APIError) {
        for (key, isNeutral) in table {
            if let v = f.raw(key), !isNeutral(v) {
                throw APIError.invalid("'\(key)' is not supported by this server yet", param: key, code: "unsupported_parameter")
            }
        }
    }

    /// `stream` and `stream_options.include_usage` (only allowed with stream).
    static func streamOptions(_ f: FieldReader) throws(APIError) -> (Bool, Bool) {
        let stream = try f.bool("stream") ?? false
        guard let so = f.raw("stream_options") else { return (stream, false) }
        guard stream else { throw APIError.invalid("'stream_options' is only allowed when 'stream' is true", param: "stream_options") }
        let options = try FieldReader(so, prefix: "stream_options")
        // vLLM's usage in every chunk is not sent here; OpenAI's obfuscation padding never is (so either value holds).
        if try options.bool("continuous_usage_stats") == true {
            throw APIError.invalid("'stream_options.continuous_usage_stats' is not supported: usage comes in the last chunk with include_usage",
                                   param: "stream_options.continuous_usage_stats", code: "unsupported_parameter")
        }
        _ = try options.bool("include_obfuscation")
        return (stream, try options.bool("include_usage") ?? false)
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
