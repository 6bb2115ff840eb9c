import Engine
import HTTPCore

/// A validated `POST /v1/messages` (or `/v1/messages/count_tokens`) body: Anthropic's Messages API, mapped onto what
/// the chat path runs. `system` becomes the system message, content blocks become chat messages (tool uses an
/// assistant turn's calls, tool results tool messages, thinking blocks its reasoning), a final assistant message is
/// continued (Anthropic's prefill). What a text-only model cannot do is a 400 naming it, never ignored.
struct MessagesRequest: Sendable {
    var chat: ChatCompletionRequest
    /// `thinking.display` "omitted": thinking blocks come back without their text.
    var omitThinking = false
    /// Whether a final assistant message's text starts the answer (it is not repeated in the response).
    var prefill: Bool { chat.continueFinalMessage }

    /// Fields that ask for something this server does not do: refused unless they carry their neutral value.
    static let notSupported: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [
        "container": { _ in false },
        "mcp_servers": { $0 == .array([]) },
        "context_management": { _ in false },
    ]

    static let known: Set<String> = Set([
        "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k", "metadata", "tools",
        "tool_choice", "thinking", "service_tier", "output_format", "output_config", "chat_template_kwargs",
        // Top-level `cache_control` asks for automatic prompt caching, which the prefix cache does anyway; `speed`
        // asks for a faster mode of the same model, which this server runs at one speed; the rest are account and
        // routing details of Anthropic's service (a data-residency region, a workspace, a profile, a cache-miss report).
        "cache_control", "speed", "inference_geo", "workspace_id", "user_profile_id", "diagnostics",
    ]).union(notSupported.map(\.key)).union(extensions)

    /// Chat completions' names, which a client may send here by habit: each is a 400 naming the field to use.
    static let chatFields: [String: String] = [
        "stop": "use 'stop_sequences'", "response_format": "use 'output_config.format'", "max_completion_tokens": "use 'max_tokens'",
        "n": "a message has one answer: send several requests", "logprobs": "the Messages API has no logprobs; use /v1/chat/completions",
        "top_logprobs": "the Messages API has no logprobs; use /v1/chat/completions", "parallel_tool_calls": "use 'tool_choice.disable_parallel_tool_use'",
    ]

    /// Sampling controls beyond Anthropic's, as chat completions reads them (vLLM's server takes the same on its
    /// Messages API through its chat path): reproducible seeds, biases, penalties, vLLM's output controls.
    static let extensions: Set<String> = [
        "seed", "logit_bias", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos", "min_tokens", "stop_token_ids",
        "include_stop_str_in_output", "allowed_token_ids", "bad_words", "skip_special_tokens", "priority",
    ]

    /// `counting`: a `count_tokens` body, which has no `max_tokens` or sampling controls.
    static func parse(_ body: [UInt8], counting: Bool = false) throws(APIError) -> MessagesRequest {
        let f = try FieldReader(try JSONInput.parse(body))
        guard let model = try f.string("model") else {
            throw APIError.invalid("model: Field required", param: "model", code: "missing_required_parameter")
        }
        try ChatCompletionRequest.rejectUnsupported(f, notSupported)
        try rejectUnknown(f)
        try MessagesInput.cacheControl(f)
        let ordered = OrderedBody(body)
        let conversation = try MessagesInput.messages(f.raw("messages"), body: ordered)
        let messages = try MessagesInput.system(f, conversation: conversation) + conversation.messages
        var sampling = try counting ? SamplingRequest.neutral() : samplingControls(f, body: ordered)
        sampling.grammar = try outputFormat(f, body: ordered)
        let tools = try MessagesTools.parse(f, body: ordered)
        if let tools, tools.choice != .none, tools.choice != .auto, sampling.grammar != nil {
            throw APIError.invalid("an output format and tool_choice '\(tools.choice == .required ? "any" : "tool")' both decide the output's form; send one",
                                   param: "output_config", code: "invalid_value")
        }
        var chat = ChatCompletionRequest(model: model, messages: messages, sampling: sampling, stream: try f.bool("stream") ?? false, includeUsage: false,
                                         tools: tools, unknownFields: [])
        chat.templateArguments = try ChatCompletionRequest.templateArguments(f, body: ordered)
        let thinking = try thinking(f, maxTokens: sampling.maxTokens)
        if let on = thinking.on {
            if on, let tools, tools.choice != .none, tools.choice != .auto {
                throw APIError.invalid("thinking may not be enabled when tool_choice forces tool use", param: "tool_choice", code: "invalid_value")
            }
            // The variables thinking templates read (Qwen3's `enable_thinking`, DeepSeek V3.1's `thinking`), unless
            // chat_template_kwargs sets them itself.
            for key in ["enable_thinking", "thinking"] where chat.templateArguments[key] == nil { chat.templateArguments[key] = .scalar(.bool(on)) }
        }
        // Effort is the template's to read, as vLLM passes `reasoning_effort` (gpt-oss's templates read it).
        if let effort = try effort(f), chat.templateArguments["reasoning_effort"] == nil { chat.templateArguments["reasoning_effort"] = .scalar(.string(effort)) }
        chat.continueFinalMessage = conversation.prefill
        var request = MessagesRequest(chat: chat)
        request.omitThinking = thinking.omitted
        return request
    }

    /// Fields this server does not know are a 400, as Anthropic's API answers extra inputs, so a misspelt or
    /// misplaced control is never silently dropped. `thread` (the SDK's server-held threads, which its tool runner
    /// asks for) gets the rejection the SDK reads to go on without a thread.
    static func rejectUnknown(_ f: FieldReader) throws(APIError) {
        if f.raw("thread") != nil {
            throw APIError.invalid("'thread' is not supported: this server keeps no conversation threads; send the whole conversation in 'messages'",
                                   param: "thread", code: "thread_unsupported_request")
        }
        for key in f.fields.keys.sorted() where !known.contains(key) && key != "thread" {
            let hint = chatFields[key].map { " (\($0))" } ?? ""
            throw APIError.invalid("\(key): Extra inputs are not permitted\(hint)", param: key, code: "unknown_parameter")
        }
        // The service details this server accepts and does not act on still have their types.
        if let speed = try f.string("speed"), speed != "standard", speed != "fast" {
            throw APIError.invalid("'speed' must be 'standard' or 'fast', got '\(speed)'", param: "speed", code: "invalid_value")
        }
        for key in ["inference_geo", "workspace_id", "user_profile_id"] { _ = try f.string(key) }
        if let d = f.raw("diagnostics") { try FieldReader(d, prefix: "diagnostics").onlyFields(["previous_message_id"]) }
    }

    /// `output_config.effort`: low, medium, high, xhigh or max.
    static func effort(_ f: FieldReader) throws(APIError) -> String? {
        guard let config = f.raw("output_config") else { return nil }
        guard let effort = try FieldReader(config, prefix: "output_config").string("effort") else { return nil }
        let levels = ["low", "medium", "high", "xhigh", "max"]
        guard levels.contains(effort) else {
            throw APIError.invalid("'output_config.effort' must be one of \(levels.joined(separator: ", ")), got '\(effort)'", param: "output_config.effort",
                                   code: "invalid_value")
        }
        return effort
    }

    /// `max_tokens` (required), `temperature` (0 to 1, as Anthropic's), `top_p`, `top_k`, `stop_sequences`, `metadata`,
    /// `service_tier`, and the `extensions`.
    static func samplingControls(_ f: FieldReader, body: OrderedBody) throws(APIError) -> SamplingRequest {
        var s = try SamplingRequest(FieldReader(.object(f.fields.filter { extensions.contains($0.key) })), body: body)
        guard let maxTokens = try f.int("max_tokens", in: 1...Int(Int32.max)) else {
            throw APIError.invalid("max_tokens: Field required", param: "max_tokens", code: "missing_required_parameter")
        }
        s.maxTokens = maxTokens
        if s.minTokens > maxTokens {
            throw APIError.invalid("'min_tokens' (\(s.minTokens)) is more than max_tokens (\(maxTokens))", param: "min_tokens", code: "invalid_value")
        }
        s.temperature = try f.number("temperature", in: 0...1)
        s.topP = try f.number("top_p", in: 0...1)
        // Anthropic's top_k is at least 1 when sent; 0 is read as vLLM does (no limit).
        s.topK = try f.int("top_k", in: 0...Int(Int32.max))
        if let raw = f.raw("stop_sequences") {
            guard case let .array(items) = raw else { throw f.typeError("stop_sequences", "an array of strings", raw) }
            for (i, item) in items.enumerated() {
                guard case let .string(text) = item, !text.isEmpty else {
                    throw APIError.invalid("'stop_sequences[\(i)]' must be a non-empty string", param: "stop_sequences[\(i)]", code: "invalid_value")
                }
                s.stop.append(text)
            }
            guard s.stop.count <= 64 else {
                throw APIError.invalid("'stop_sequences' may hold at most 64 strings, got \(s.stop.count)", param: "stop_sequences", code: "invalid_value")
            }
        }
        if let m = f.raw("metadata") {
            let meta = try FieldReader(m, prefix: "metadata")
            // Anthropic's one field: an opaque id of the end user, logged as chat's `user` is.
            s.user = try meta.string("user_id")
            if let extra = meta.fields.keys.sorted().first(where: { $0 != "user_id" }) {
                throw APIError.invalid("metadata.\(extra): Extra inputs are not permitted", param: "metadata.\(extra)", code: "invalid_value")
            }
        }
        if let tier = try f.string("service_tier"), !["auto", "standard_only"].contains(tier) {
            throw APIError.invalid("'service_tier' must be 'auto' or 'standard_only', got '\(tier)'", param: "service_tier", code: "invalid_value")
        }
        return s
    }

    /// `thinking`: `{"type": "enabled", "budget_tokens": n}` (at least 1024 and below `max_tokens`, as Anthropic's
    /// rule), `between_tools` (thinking on), `{"type": "disabled"}`, or `{"type": "adaptive"}` (the model decides: its
    /// template's default). `on` is nil when absent or adaptive. The budget is not a separate limit here: `max_tokens`
    /// bounds reasoning and answer together. `display: "omitted"` leaves the thinking text out of the response.
    static func thinking(_ f: FieldReader, maxTokens: Int?) throws(APIError) -> (on: Bool?, omitted: Bool) {
        guard let raw = f.raw("thinking") else { return (nil, false) }
        let t = try FieldReader(raw, prefix: "thinking")
        let type = try t.requiredString("type")
        try t.onlyFields(type == "enabled" ? ["type", "budget_tokens", "display"] : type == "disabled" || type == "between_tools" ? ["type"] : ["type", "display"])
        let display = try t.string("display")
        if let display, !["summarized", "omitted"].contains(display) {
            throw APIError.invalid("'thinking.display' must be 'summarized' or 'omitted', got '\(display)'", param: "thinking.display", code: "invalid_value")
        }
        let omitted = display == "omitted"
        switch type {
        case "enabled":
            guard let budget = try t.int("budget_tokens", in: 1024...Int(Int32.max)) else {
                throw APIError.invalid("thinking.budget_tokens: Field required", param: "thinking.budget_tokens", code: "missing_required_parameter")
            }
            if let maxTokens, budget >= maxTokens {
                throw APIError.invalid("'max_tokens' must be greater than thinking.budget_tokens (\(budget))", param: "max_tokens", code: "invalid_value")
            }
            return (true, omitted)
        case "between_tools": return (true, omitted)
        case "disabled": return (false, false)
        case "adaptive": return (nil, omitted)
        default:
            throw APIError.invalid("'thinking.type' must be 'enabled', 'adaptive', 'between_tools' or 'disabled', got '\(type)'", param: "thinking.type",
                                   code: "invalid_value")
        }
    }

    /// Structured outputs: `output_config.format` (or the beta's `output_format`), `{"type": "json_schema", "schema": …}`.
    static func outputFormat(_ f: FieldReader, body: OrderedBody) throws(APIError) -> OutputGrammar? {
        var found: (format: JSONInput, path: [String])?
        if let config = f.raw("output_config") {
            let c = try FieldReader(config, prefix: "output_config")
            if let extra = c.fields.keys.sorted().first(where: { $0 != "format" && $0 != "effort" && !(c.fields[$0] == .null) }) {
                throw APIError.invalid("'output_config.\(extra)' is not supported by this server", param: "output_config.\(extra)", code: "unsupported_parameter")
            }
            if let format = c.raw("format") { found = (format, ["output_config", "format"]) }
        }
        if let format = f.raw("output_format") {
            guard found == nil else {
                throw APIError.invalid("send one of 'output_format' and 'output_config.format'", param: "output_format", code: "invalid_value")
            }
            found = (format, ["output_format"])
        }
        guard let (format, path) = found else { return nil }
        let p = path.joined(separator: ".")
        let ff = try FieldReader(format, prefix: p)
        let type = try ff.requiredString("type")
        guard type == "json_schema" else {
            throw APIError.invalid("'\(p).type' must be 'json_schema', got '\(type)'", param: "\(p).type", code: "invalid_value")
        }
        var sent = try body.value()
        for key in path { sent = sent[key] ?? .scalar(.null) }
        guard ff.raw("schema") != nil, let schema = sent["schema"] else {
            throw APIError.invalid("'\(p).schema' is required", param: "\(p).schema", code: "missing_required_parameter")
        }
        return try SchemaCompiler.compile(schema, param: "\(p).schema")
    }
}

extension SamplingRequest {
    /// Every control at its default (an API that reads its own field names fills it in).
    static func neutral() -> SamplingRequest {
        // An empty body reads as every default; it cannot fail.
        try! SamplingRequest(FieldReader(.object([:])), body: OrderedBody(Array("{}".utf8)))
    }
}

/// Anthropic's `tools` (`{"name", "description", "input_schema"}`, custom tools only) and `tool_choice`
/// (`auto`, `any`, `tool` with a name, `none`; `disable_parallel_tool_use`), as the chat form the template renders.
enum MessagesTools {
    static func parse(_ f: FieldReader, body: OrderedBody) throws(APIError) -> ToolRequest? {
        var parallel = true
        var choice: JSONInput?
        if let raw = f.raw("tool_choice") {
            let c = try FieldReader(raw, prefix: "tool_choice")
            let type = try c.requiredString("type")
            try c.onlyFields(type == "tool" ? ["type", "name", "disable_parallel_tool_use"] : type == "none" ? ["type"] : ["type", "disable_parallel_tool_use"])
            parallel = !(try c.bool("disable_parallel_tool_use") ?? false)
            switch type {
            case "auto", "none": choice = .string(type)
            case "any": choice = .string("required")
            case "tool": choice = .object(["name": .string(try c.requiredString("name"))])
            default:
                throw APIError.invalid("'tool_choice.type' must be 'auto', 'any', 'tool' or 'none', got '\(type)'", param: "tool_choice.type", code: "invalid_value")
            }
        }
        // The chat reader, on a view of the request with the chat names.
        var fields = f.fields
        fields["tool_choice"] = choice
        fields["parallel_tool_calls"] = .bool(parallel)
        let view = try FieldReader(.object(fields))
        return try ToolRequest.parse(view, body: body, syntax: syntax)
    }

    static let syntax = ToolRequest.Syntax(tool: tool, namedChoice: { c throws(APIError) in try c.requiredString("name") }, namedChoiceParam: "tool_choice.name")

    static func tool(_ value: JSONInput, _ spec: OrderedJSON, _ path: String) throws(APIError) -> ToolDefinition {
        let t = try FieldReader(value, prefix: path)
        if let type = try t.string("type"), type != "custom" {
            throw APIError.invalid("'\(path).type' '\(type)' is not supported: this server runs no server or client tools of Anthropic's; describe a custom tool (name, description, input_schema) and run it yourself",
                                   param: "\(path).type", code: "unsupported_value")
        }
        let name = try t.requiredString("name")
        try ToolRequest.validName(name, param: "\(path).name", maxLength: 128)
        _ = try t.string("description")
        _ = try t.bool("strict")
        try MessagesInput.cacheControl(t)
        // `defer_loading` (Anthropic's tool search loads such a tool when a search finds it): this server has no tool
        // search, so the tool is shown to the model like any other.
        _ = try t.bool("defer_loading")
        for key in t.fields.keys.sorted() where !["type", "name", "description", "input_schema", "cache_control", "strict", "defer_loading"].contains(key) {
            throw APIError.invalid("'\(path).\(key)' is not supported on a custom tool", param: "\(path).\(key)", code: "unsupported_parameter")
        }
        guard let schema = t.raw("input_schema") else {
            throw APIError.invalid("'\(path).input_schema' is required", param: "\(path).input_schema", code: "missing_required_parameter")
        }
        guard case .object = schema, let parameters = spec["input_schema"] else { throw t.typeError("input_schema", "a JSON Schema object", schema) }
        var function: [(key: String, value: OrderedJSON)] = [("name", .scalar(.string(name)))]
        if let d = spec["description"], d != .scalar(.null) { function.append(("description", d)) }
        function.append(("parameters", parameters))
        let chatSpec: OrderedJSON = .object([("type", .scalar(.string("function"))), ("function", .object(function))])
        return ToolDefinition(name: name, spec: chatSpec, parameters: parameters, parametersPath: "\(path).input_schema")
    }
}
