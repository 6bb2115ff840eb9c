import HTTPCore

/// The Responses API's `input` (a string, or a list of items) as chat messages: message items keep their role,
/// `function_call` items become an assistant turn's tool calls (consecutive calls, and calls right after that
/// assistant's text, are one turn, as a model writes them), and `function_call_output` items become tool messages.
enum ResponsesInput {
    static let roles: Set<String> = ["user", "system", "developer", "assistant"]

    static func messages(_ raw: JSONInput) throws(APIError) -> [ChatMessage] {
        switch raw {
        case let .string(text):
            return [ChatMessage(role: "user", content: text)]
        case let .array(items):
            guard !items.isEmpty else { throw APIError.invalid("'input' must contain at least one item", param: "input", code: "empty_array") }
            var turns = Turns()
            for (i, item) in items.enumerated() {
                let p = "input[\(i)]"
                let f = try FieldReader(item, prefix: p)
                let type = try f.string("type") ?? (f.raw("role") != nil ? "message" : nil)
                let role = try f.string("role")
                // Reasoning with no answer after it (a response cut short inside it) is an assistant turn of its own,
                // as `previous_response_id` replays such a response.
                if type != "reasoning", type != "function_call", !(type == "message" && role == "assistant") { turns.closeReasoning() }
                switch type {
                case "message"?: turns.message(try message(f, path: p))
                case "function_call"?: turns.call(try functionCall(f, path: p))
                case "reasoning"?: turns.reasoning(try reasoningText(f, path: p))
                case "function_call_output"?:
                    var m = ChatMessage(role: "tool", content: try outputText(f, path: p))
                    m.toolCallID = try f.requiredString("call_id")
                    turns.output(m)
                case nil:
                    throw APIError.invalid("'\(p)' needs a 'type' (or a 'role' for a message)", param: "\(p).type", code: "missing_required_parameter")
                case let other?:
                    let why = other == "item_reference"
                        ? "items are referenced by id only on OpenAI's stored conversations; send the item itself, or chain with 'previous_response_id'"
                        : "this server takes messages, function calls and their outputs"
                    throw APIError.invalid("input items of type '\(other)' are not supported: \(why)", param: "\(p).type", code: "unsupported_value")
                }
            }
            turns.closeReasoning()
            return turns.messages
        default:
            throw APIError.invalid("'input' must be a string or an array of input items, not \(raw.typeName)", param: "input", code: "invalid_type")
        }
    }

    /// The messages as items arrive: which assistant turn a call or a reasoning item joins.
    struct Turns {
        var messages: [ChatMessage] = []
        /// Whether the last message is an assistant turn that tool calls may join.
        var assistantOpen = false
        /// Reasoning items' text, for the assistant turn right after them.
        var pendingReasoning: String?

        mutating func message(_ m: ChatMessage) {
            var m = m
            if m.role == "assistant", let r = pendingReasoning { m.reasoningContent = r; pendingReasoning = nil }
            messages.append(m)
            assistantOpen = m.role == "assistant"
        }

        mutating func call(_ call: ChatToolCall) {
            if assistantOpen, !messages.isEmpty { messages[messages.count - 1].toolCalls.append(call); return }
            var m = ChatMessage(role: "assistant", content: "")
            m.contentIsNull = true
            m.toolCalls = [call]
            m.reasoningContent = pendingReasoning
            pendingReasoning = nil
            messages.append(m)
            assistantOpen = true
        }

        mutating func reasoning(_ text: String) {
            pendingReasoning = pendingReasoning.map { $0 + "\n" + text } ?? text
            assistantOpen = false
        }

        mutating func output(_ m: ChatMessage) {
            messages.append(m)
            assistantOpen = false
        }

        mutating func closeReasoning() {
            guard let r = pendingReasoning else { return }
            messages.append(ResponsesInput.reasoningOnlyTurn(r))
            pendingReasoning = nil
        }
    }

    static func reasoningOnlyTurn(_ reasoning: String) -> ChatMessage {
        var m = ChatMessage(role: "assistant", content: "")
        m.reasoningContent = reasoning
        return m
    }

    /// A reasoning item's text (its `reasoning_text` parts, else its summary), given back to the template with the
    /// assistant turn it belongs to (templates that show earlier reasoning read `reasoning_content`).
    private static func reasoningText(_ f: FieldReader, path p: String) throws(APIError) -> String {
        var texts: [String] = []
        for key in ["content", "summary"] where texts.isEmpty {
            guard let raw = f.raw(key) else { continue }
            guard case let .array(parts) = raw else { throw f.typeError(key, "an array of text parts", raw) }
            for (j, part) in parts.enumerated() { texts.append(try FieldReader(part, prefix: "\(p).\(key)[\(j)]").requiredString("text")) }
        }
        return texts.joined(separator: "\n")
    }

    private static func message(_ f: FieldReader, path p: String) throws(APIError) -> ChatMessage {
        let role = try f.requiredString("role")
        guard roles.contains(role) else {
            throw APIError.invalid("'\(p).role' must be one of \(roles.sorted().joined(separator: ", ")), got '\(role)'", param: "\(p).role", code: "invalid_value")
        }
        guard let content = f.raw("content") else {
            throw APIError.invalid("'\(p).content' is required", param: "\(p).content", code: "missing_required_parameter")
        }
        switch content {
        case let .string(s):
            return ChatMessage(role: role, content: s)
        case let .array(parts):
            var texts: [String] = []
            for (j, part) in parts.enumerated() { texts.append(try text(part, role: role, path: "\(p).content[\(j)]")) }
            return ChatMessage(role: role, content: texts.joined())
        default:
            throw f.typeError("content", "a string or an array of content parts", content)
        }
    }

    /// A text part: `input_text`, or `output_text` in an assistant's turn (its earlier output sent back).
    private static func text(_ part: JSONInput, role: String, path: String) throws(APIError) -> String {
        let f = try FieldReader(part, prefix: path)
        let type = try f.requiredString("type")
        switch type {
        case "input_text": break
        case "output_text" where role == "assistant": break
        case "refusal" where role == "assistant":
            // An earlier answer that refused: its words are what the model said.
            return try f.requiredString("refusal")
        case "output_text":
            throw APIError.invalid("'\(path)': 'output_text' parts belong to assistant messages; send 'input_text'", param: "\(path).type", code: "invalid_value")
        case "input_image", "input_file", "input_audio":
            throw APIError.invalid("content parts of type '\(type)' are not supported; this model accepts text only", param: "\(path).type",
                                   code: "unsupported_content_type")
        default:
            throw APIError.invalid("content parts of type '\(type)' are not supported here; send 'input_text'", param: "\(path).type", code: "invalid_value")
        }
        return try f.requiredString("text")
    }

    private static func functionCall(_ f: FieldReader, path p: String) throws(APIError) -> ChatToolCall {
        let id = try f.requiredString("call_id")
        let name = try f.requiredString("name")
        return ChatToolCall(id: id, name: name, arguments: try ChatToolCall.parseArguments(try f.requiredString("arguments"), param: "\(p).arguments"))
    }

    /// A function call's output: a string, or text parts (joined).
    private static func outputText(_ f: FieldReader, path p: String) throws(APIError) -> String {
        guard let raw = f.raw("output") else {
            throw APIError.invalid("'\(p).output' is required", param: "\(p).output", code: "missing_required_parameter")
        }
        switch raw {
        case let .string(s): return s
        case let .array(parts):
            var texts: [String] = []
            for (j, part) in parts.enumerated() { texts.append(try text(part, role: "tool", path: "\(p).output[\(j)]")) }
            return texts.joined()
        default: throw f.typeError("output", "a string or an array of content parts", raw)
        }
    }
}
