import Engine
import HTTPCore

/// A validated `POST /v1/responses` body (OpenAI's Responses API), mapped onto what the chat path runs: chat
/// messages, sampling controls, tools. Only what a text-only model can do is accepted; every other feature is a
/// 400 naming it, never ignored.
struct ResponsesRequest: Sendable {
    var model: String
    /// `instructions`: the first (system) message; not carried over by `previous_response_id` (OpenAI's rule).
    var instructions: String?
    /// The request's own input items as messages (what a later response's `previous_response_id` resends).
    var input: [ChatMessage]
    var previousResponseID: String?
    var sampling: SamplingRequest
    var tools: ToolRequest?
    var stream: Bool
    var store: Bool
    /// vLLM's `chat_template_kwargs` (how thinking is switched on or off for templates that read a variable).
    var templateArguments: [String: OrderedJSON] = [:]
    /// Echoed in the response object as sent.
    var echo: ResponseEcho
    var unknownFields: [String]

    /// What the response object repeats of the request.
    struct ResponseEcho: Sendable {
        var metadata: JSONValue = .object([])
        var text: JSONValue = .object([("format", .object([("type", .string("text"))])), ("verbosity", .string("medium"))])
        var toolChoice: JSONValue = .string("auto")
        var tools: JSONValue = .array([])
        var user: String?
        var safetyIdentifier: String?
        var promptCacheKey: String?
        var maxToolCalls: Int?
        var serviceTier = "default"
        /// `top_logprobs` as sent (0 when absent: the response object always has the field).
        var topLogprobs = 0
        var instructions: String?
        var maxOutputTokens: Int?
        var promptCacheRetention: String?
        var parallelToolCalls = true
    }

    /// The sampling fields shared with chat completions, read by `SamplingRequest` under the same names.
    static let samplingFields: Set<String> = [
        "temperature", "top_p", "top_k", "seed", "ignore_eos", "stop", "min_p", "presence_penalty", "frequency_penalty",
        "repetition_penalty", "logit_bias", "user", "priority", "skip_special_tokens", "stop_token_ids", "min_tokens",
        "include_stop_str_in_output", "allowed_token_ids", "bad_words", "truncate_prompt_tokens",
    ]

    /// Features refused unless they carry their neutral value.
    static let notSupported: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [
        "background": { $0 == .bool(false) },
        "conversation": { _ in false },
        "prompt": { _ in false },
        "context_management": { _ in false },
        "moderation": { _ in false },
        "truncation": { $0 == .string("disabled") },
        "prompt_logprobs": { _ in false },
        "return_tokens_as_token_ids": { $0 == .bool(false) },
        "reasoning": { r in
            // No model here reasons on request: only an empty, all-null or effort-"none" configuration is neutral.
            guard case let .object(fields) = r else { return false }
            return fields.allSatisfy { $0.value == .null || ($0.key == "effort" && $0.value == .string("none")) }
        },
    ]

    /// Chat completions' names, which a client may send here by habit: each is a 400 that names the Responses
    /// API's field for it (nil: there is none), never a silent no-op.
    static let chatFields: KeyValuePairs<String, String?> = [
        "messages": "input", "max_tokens": "max_output_tokens", "max_completion_tokens": "max_output_tokens",
        "response_format": "text.format", "guided_json": "text.format", "structured_outputs": "text.format", "guided_regex": nil,
        "guided_choice": nil, "guided_grammar": nil, "grammar": nil, "logprobs": "include: [\"message.output_text.logprobs\"]",
        "n": nil, "functions": "tools", "function_call": "tool_choice", "echo": nil,
    ]

    static let known: Set<String> = Set([
        "model", "input", "instructions", "previous_response_id", "max_output_tokens", "top_logprobs", "include", "text", "tools",
        "tool_choice", "parallel_tool_calls", "stream", "stream_options", "store", "metadata", "safety_identifier", "prompt_cache_key",
        "prompt_cache_retention", "service_tier", "max_tool_calls", "chat_template_kwargs",
    ]).union(samplingFields).union(notSupported.map(\.key)).union(chatFields.map(\.key)).union(SamplingRequest.vllmExtensions.map(\.key))

    static let includable: Set<String> = [
        "file_search_call.results", "web_search_call.results", "web_search_call.action.sources", "message.input_image.image_url",
        "computer_call_output.output.image_url", "code_interpreter_call.outputs", "reasoning.encrypted_content",
        "message.output_text.logprobs",
    ]

    static func parse(_ body: [UInt8]) throws(APIError) -> ResponsesRequest {
        let f = try FieldReader(try JSONInput.parse(body))
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        try ChatCompletionRequest.rejectUnsupported(f, notSupported)
        try ChatCompletionRequest.rejectUnsupported(f, SamplingRequest.vllmExtensions)
        for (key, instead) in chatFields where f.raw(key) != nil {
            let hint = instead.map { "; use '\($0)'" } ?? (key == "n" ? "; a response has one output: send several requests" : "")
            throw APIError.invalid("'\(key)' is a chat completions field, not one of the Responses API\(hint)", param: key, code: "unsupported_parameter")
        }
        let ordered = OrderedBody(body)
        var echo = ResponseEcho()
        let instructions = try f.string("instructions")
        echo.instructions = instructions
        guard let rawInput = f.raw("input") else {
            throw APIError.invalid("'input' is required", param: "input", code: "missing_required_parameter")
        }
        let input = try ResponsesInput.messages(rawInput)
        let previous = try f.string("previous_response_id")
        let stream = try streamFlag(f)
        var sampling = try SamplingRequest(FieldReader(.object(f.fields.filter { samplingFields.contains($0.key) })), body: ordered)
        sampling.maxTokens = try f.int("max_output_tokens", in: 1...Int(Int32.max))
        if let m = sampling.maxTokens, sampling.minTokens > m {
            throw APIError.invalid("'min_tokens' (\(sampling.minTokens)) is more than max_output_tokens (\(m))", param: "min_tokens", code: "invalid_value")
        }
        echo.maxOutputTokens = sampling.maxTokens
        let top = try f.int("top_logprobs", in: 0...20)
        echo.topLogprobs = top ?? 0
        // As OpenAI: logprobs come back only when `include` asks for them; `top_logprobs` says how many alternatives.
        if try includes(f).contains("message.output_text.logprobs") { sampling.topLogprobs = top ?? 0 }
        (sampling.grammar, echo.text) = try textFormat(f, body: ordered)
        let tools = try ResponsesTools.parse(f, body: ordered)
        if let tools {
            echo.tools = .array(tools.tools.map(ResponsesTools.echo))
            echo.toolChoice = ResponsesTools.echo(tools.choice)
            if tools.choice != .none, tools.choice != .auto, sampling.grammar != nil {
                throw APIError.invalid("'text.format' and tools with tool_choice '\(tools.choice.name)' both decide the output's form; send one",
                                       param: "text.format", code: "invalid_value")
            }
        } else if case .string("none")? = f.raw("tool_choice") {
            echo.toolChoice = .string("none")
        }
        echo.user = sampling.user
        try readEchoed(f, into: &echo)
        var request = ResponsesRequest(model: model, instructions: instructions, input: input, previousResponseID: previous, sampling: sampling,
                                       tools: tools, stream: stream, store: try f.bool("store") ?? true, echo: echo,
                                       unknownFields: f.fields.keys.filter { !known.contains($0) }.sorted())
        request.templateArguments = try ChatCompletionRequest.templateArguments(f, body: ordered)
        return request
    }

    /// `stream`, and `stream_options` (only with it): `include_obfuscation` pads events against side channels on
    /// OpenAI's network; nothing here to pad.
    static func streamFlag(_ f: FieldReader) throws(APIError) -> Bool {
        let stream = try f.bool("stream") ?? false
        guard let so = f.raw("stream_options") else { return stream }
        guard stream else { throw APIError.invalid("'stream_options' is only allowed when 'stream' is true", param: "stream_options") }
        let options = try FieldReader(so, prefix: "stream_options")
        _ = try options.bool("include_obfuscation")
        if let extra = options.fields.keys.sorted().first(where: { $0 != "include_obfuscation" }) {
            throw APIError.invalid("'stream_options.\(extra)' is not a Responses API stream option (usage comes with response.completed)",
                                   param: "stream_options.\(extra)", code: "unsupported_parameter")
        }
        return stream
    }

    /// The fields the response object only repeats (checked, never acted on: they ask nothing a reply could differ by).
    static func readEchoed(_ f: FieldReader, into echo: inout ResponseEcho) throws(APIError) {
        echo.metadata = try metadata(f)
        echo.safetyIdentifier = try f.string("safety_identifier")
        echo.promptCacheKey = try f.string("prompt_cache_key")
        if let retention = try f.string("prompt_cache_retention") {
            guard ["in_memory", "24h"].contains(retention) else {
                throw APIError.invalid("'prompt_cache_retention' must be 'in_memory' or '24h', got '\(retention)'", param: "prompt_cache_retention", code: "invalid_value")
            }
            // The prefix cache keeps prompts in memory while there is room; neither promise is more than that.
            echo.promptCacheRetention = retention
        }
        echo.parallelToolCalls = try f.bool("parallel_tool_calls") ?? true
        echo.maxToolCalls = try f.int("max_tool_calls", in: 0...Int(Int32.max))
        if let tier = try f.string("service_tier") {
            guard ["auto", "default"].contains(tier) else {
                throw APIError.invalid("'service_tier' '\(tier)' is not offered by this server; send 'auto' or 'default'", param: "service_tier", code: "invalid_value")
            }
        }
    }

    /// `include`: known values only. Only `message.output_text.logprobs` has anything to add here; the others ask for
    /// parts of items (search results, images, reasoning) this server never produces.
    static func includes(_ f: FieldReader) throws(APIError) -> [String] {
        guard let raw = f.raw("include") else { return [] }
        guard case let .array(items) = raw else { throw f.typeError("include", "an array of strings", raw) }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else { throw APIError.invalid("'include[\(i)]' must be a string", param: "include[\(i)]", code: "invalid_type") }
            guard includable.contains(s) else {
                throw APIError.invalid("'include[\(i)]' must be one of \(includable.sorted().joined(separator: ", ")), got '\(s)'", param: "include[\(i)]",
                                       code: "invalid_value")
            }
            out.append(s)
        }
        return out
    }

    /// `text.format` (`text`, `json_object`, or `json_schema` with `name`, `schema`, `strict`, `description` flat in
    /// it) as a grammar, and the `text` object the response repeats.
    static func textFormat(_ f: FieldReader, body: OrderedBody) throws(APIError) -> (OutputGrammar?, JSONValue) {
        var echoed = ResponseEcho().text
        guard let raw = f.raw("text") else { return (nil, echoed) }
        let t = try FieldReader(raw, prefix: "text")
        if let extra = t.fields.keys.sorted().first(where: { !["format", "verbosity"].contains($0) }) {
            throw APIError.invalid("'text.\(extra)' is not a field of 'text'", param: "text.\(extra)", code: "invalid_value")
        }
        if let verbosity = try t.string("verbosity"), verbosity != "medium" {
            throw APIError.invalid("'text.verbosity' '\(verbosity)' is not supported: this server's models take no verbosity hint",
                                   param: "text.verbosity", code: "unsupported_value")
        }
        guard let format = t.raw("format") else { return (nil, echoed) }
        let p = "text.format"
        let ff = try FieldReader(format, prefix: p)
        let type = try ResponseFormat.formatType(ff, schemaFields: ResponseFormat.schemaSpecFields, path: p)
        let sent = try body.value()["text"]?["format"]
        echoed = .object([("format", sent?.jsonValue ?? .object([("type", .string(type))])), ("verbosity", .string("medium"))])
        switch type {
        case "text": return (nil, echoed)
        case "json_object": return (.anyObject, echoed)
        default: break
        }
        try ResponseFormat.checkSchemaSpec(ff, path: p)
        guard ff.raw("schema") != nil, let schema = sent?["schema"] else {
            throw APIError.invalid("'\(p).schema' is required with type 'json_schema'", param: "\(p).schema", code: "missing_required_parameter")
        }
        return (try SchemaCompiler.compile(schema, param: "\(p).schema"), echoed)
    }

    /// `metadata`: up to 16 string values, keys up to 64 characters, values up to 512 (OpenAI's limits).
    static func metadata(_ f: FieldReader) throws(APIError) -> JSONValue {
        guard let raw = f.raw("metadata") else { return .object([]) }
        let m = try FieldReader(raw, prefix: "metadata")
        guard m.fields.count <= 16 else {
            throw APIError.invalid("'metadata' may hold at most 16 pairs, got \(m.fields.count)", param: "metadata", code: "invalid_value")
        }
        var out: [(String, JSONValue)] = []
        for key in m.fields.keys.sorted() {
            guard key.count <= 64 else { throw APIError.invalid("'metadata' keys may be at most 64 characters", param: "metadata", code: "invalid_value") }
            guard case let .string(v)? = m.fields[key] else { throw m.typeError(key, "a string", m.fields[key] ?? .null) }
            guard v.count <= 512 else {
                throw APIError.invalid("'metadata.\(key)' may be at most 512 characters", param: "metadata.\(key)", code: "invalid_value")
            }
            out.append((key, .string(v)))
        }
        return .object(out)
    }
}

/// `tools` and `tool_choice` in the Responses API's flat form (`{"type": "function", "name", "parameters", …}`),
/// turned into the chat form the chat template renders.
enum ResponsesTools {
    static let syntax = ToolRequest.Syntax(tool: tool, namedChoice: { c throws(APIError) in
        let type = try c.requiredString("type")
        guard type == "function" else {
            throw APIError.invalid("'tool_choice.type' '\(type)' is not supported: only function tools run here", param: "tool_choice.type", code: "unsupported_value")
        }
        return try c.requiredString("name")
    }, namedChoiceParam: "tool_choice.name")

    static func parse(_ f: FieldReader, body: OrderedBody) throws(APIError) -> ToolRequest? {
        try ToolRequest.parse(f, body: body, syntax: syntax)
    }

    static func tool(_ value: JSONInput, _ spec: OrderedJSON, _ path: String) throws(APIError) -> ToolDefinition {
        let t = try FieldReader(value, prefix: path)
        let type = try t.requiredString("type")
        guard type == "function" else {
            throw APIError.invalid("'\(path).type' '\(type)' is not supported: this server runs no built-in tools; describe a 'function' tool and run it yourself",
                                   param: "\(path).type", code: "unsupported_value")
        }
        let name = try t.requiredString("name")
        try ToolRequest.validName(name, param: "\(path).name")
        _ = try t.string("description")
        _ = try t.bool("strict")
        // The SDK's newer function-tool fields, accepted at their neutral values (the model calls the tool itself).
        let neutral: [String: @Sendable (JSONInput) -> Bool] = [
            "defer_loading": { $0 == .bool(false) }, "async": { $0 == .bool(false) }, "output_schema": { $0 == .null },
            "allowed_callers": { $0 == .null || $0 == .array([.string("direct")]) },
        ]
        for key in t.fields.keys.sorted() where !["type", "name", "description", "parameters", "strict"].contains(key) {
            guard let isNeutral = neutral[key], isNeutral(t.fields[key]!) else {
                throw APIError.invalid("'\(path).\(key)' is not supported on a function tool", param: "\(path).\(key)", code: "unsupported_parameter")
            }
        }
        var parameters: OrderedJSON?
        if let p = t.raw("parameters") {
            guard case .object = p else { throw t.typeError("parameters", "a JSON Schema object", p) }
            parameters = spec["parameters"]
        }
        // The chat form `{"type": "function", "function": {name, description, parameters}}` for the template.
        var function: [(key: String, value: OrderedJSON)] = [("name", .scalar(.string(name)))]
        if let d = spec["description"], d != .scalar(.null) { function.append(("description", d)) }
        if let parameters { function.append(("parameters", parameters)) }
        let chatSpec: OrderedJSON = .object([("type", .scalar(.string("function"))), ("function", .object(function))])
        return ToolDefinition(name: name, spec: chatSpec, parameters: parameters, parametersPath: "\(path).parameters", responsesSpec: spec)
    }

    /// A tool as the response object lists it (`FunctionTool`: `strict` and `parameters` always present).
    static func echo(_ tool: ToolDefinition) -> JSONValue {
        let spec = tool.responsesSpec ?? tool.spec
        var fields: [(String, JSONValue)] = [("type", .string("function")), ("name", .string(tool.name))]
        fields.append(("description", spec["description"]?.jsonValue ?? .null))
        fields.append(("parameters", tool.parameters?.jsonValue ?? .null))
        fields.append(("strict", spec["strict"]?.jsonValue ?? .null))
        return .object(fields)
    }

    static func echo(_ choice: ToolChoice) -> JSONValue {
        switch choice {
        case .none: return .string("none")
        case .auto: return .string("auto")
        case .required: return .string("required")
        case let .named(n): return .object([("type", .string("function")), ("name", .string(n))])
        }
    }
}
