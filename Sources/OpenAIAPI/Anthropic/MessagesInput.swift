import HTTPCore

/// Anthropic's `system` and `messages` as chat messages. Consecutive turns of one role are one turn (Anthropic's
/// rule); a user turn's `tool_result` blocks become tool messages in place, an assistant turn's `tool_use` blocks its
/// tool calls and its `thinking` blocks its reasoning. Text blocks of one message are joined with newlines.
enum MessagesInput {
    /// The conversation, whether its final assistant message is a prefill the answer continues, and the text of
    /// system messages found among the messages (they join the system prompt).
    struct Conversation {
        var messages: [ChatMessage]
        var prefill: Bool
        var system: [String] = []
    }

    /// Roles Claude Code (2.1.154 and later) sends besides Anthropic's, read as user turns (as vLLM reads them).
    static let userRoles: Set<String> = ["user", "ctx", "msg"]

    /// The system message: `system` (a string or text blocks) and then the text of system messages among the
    /// messages (vLLM's leniency, which clients rely on).
    static func system(_ f: FieldReader, conversation: Conversation) throws(APIError) -> [ChatMessage] {
        var texts: [String] = []
        if let raw = f.raw("system") { texts = try systemTexts(raw, path: "system") }
        texts += conversation.system
        return texts.isEmpty ? [] : [ChatMessage(role: "system", content: texts.joined(separator: "\n"))]
    }

    /// A system prompt's texts: a string, or text blocks. Claude Code's per-request billing line
    /// (`x-anthropic-billing-header: …`, a block of its own) is metadata for Anthropic, not text for the model: it is
    /// left out, as vLLM does, so the prompt's prefix stays cacheable (the rest of a block that starts with it stays).
    static func systemTexts(_ raw: JSONInput, path: String) throws(APIError) -> [String] {
        switch raw {
        case let .string(s): return s.isEmpty ? [] : [s]
        case let .array(blocks):
            var texts: [String] = []
            for (i, block) in blocks.enumerated() {
                let p = "\(path)[\(i)]"
                let (b, type, _) = try Block(value: block, path: p, ordered: nil).read()
                guard type == "text" else {
                    throw APIError.invalid("'\(p).type' must be 'text' in a system prompt, got '\(type)'", param: "\(p).type", code: "invalid_value")
                }
                var t = try b.requiredString("text")
                if t.hasPrefix("x-anthropic-billing-header") {
                    t = t.firstIndex(of: "\n").map { String(t[t.index(after: $0)...]) } ?? ""
                }
                if !t.isEmpty { texts.append(t) }
            }
            return texts
        default:
            throw APIError.invalid("'\(path)' must be a string or an array of text blocks, not \(raw.typeName)", param: path, code: "invalid_type")
        }
    }

    /// `body`: the request as sent, re-read for the key order of tool inputs (a template renders them).
    static func messages(_ raw: JSONInput?, body: OrderedBody) throws(APIError) -> Conversation {
        guard let raw else { throw APIError.invalid("messages: Field required", param: "messages", code: "missing_required_parameter") }
        guard case let .array(items) = raw else {
            throw APIError.invalid("'messages' must be an array, not \(raw.typeName)", param: "messages", code: "invalid_type")
        }
        guard !items.isEmpty else { throw APIError.invalid("'messages' must contain at least one message", param: "messages", code: "empty_array") }
        // Each message's blocks with their paths, consecutive turns of a role merged.
        var turns: [(role: String, blocks: [Block])] = []
        var system: [String] = []
        guard case let .array(ordered)? = try body.value()["messages"], ordered.count == items.count else {
            throw APIError.invalid("'messages' must be an array", param: "messages", code: "invalid_type")
        }
        for (i, item) in items.enumerated() {
            let p = "messages[\(i)]"
            let f = try FieldReader(item, prefix: p)
            try f.onlyFields(["role", "content"])
            var role = try f.requiredString("role")
            if role == "system" {
                guard let content = f.raw("content") else {
                    throw APIError.invalid("'\(p).content' is required", param: "\(p).content", code: "missing_required_parameter")
                }
                system += try systemTexts(content, path: "\(p).content")
                continue
            }
            if userRoles.contains(role) { role = "user" }
            guard role == "user" || role == "assistant" else {
                throw APIError.invalid("'\(p).role' must be 'user' or 'assistant', got '\(role)'", param: "\(p).role", code: "invalid_value")
            }
            var blocks: [Block] = []
            var empty = false
            switch f.raw("content") {
            case nil: throw APIError.invalid("'\(p).content' is required", param: "\(p).content", code: "missing_required_parameter")
            case let .string(s)?:
                empty = s.isEmpty
                blocks = [Block(value: .object(["type": .string("text"), "text": .string(s)]), path: p + ".content", ordered: nil)]
            case let .array(parts)?:
                empty = parts.isEmpty
                var orderedParts: [OrderedJSON] = []
                if case let .array(o)? = ordered[i]["content"] { orderedParts = o }
                blocks = parts.enumerated().map { Block(value: $0.element, path: "\(p).content[\($0.offset)]",
                                                        ordered: $0.offset < orderedParts.count ? orderedParts[$0.offset] : nil) }
            case let other?: throw f.typeError("content", "a string or an array of content blocks", other)
            }
            // Anthropic's rule: every message has content, but for a final assistant message (an empty prefill).
            if empty, !(role == "assistant" && i == items.count - 1) {
                throw APIError.invalid("'\(p).content' must not be empty (only a final assistant message may be)", param: "\(p).content", code: "invalid_value")
            }
            if turns.last?.role == role { turns[turns.count - 1].blocks += blocks } else { turns.append((role, blocks)) }
        }
        guard !turns.isEmpty else {
            throw APIError.invalid("'messages' must contain at least one user or assistant message", param: "messages", code: "empty_array")
        }
        var out = Conversation(messages: [], prefill: false, system: system)
        var calls = Set<String>()
        for (t, turn) in turns.enumerated() {
            let last = t == turns.count - 1
            if turn.role == "user" {
                out.messages += try user(turn.blocks, calls: calls)
            } else {
                let m = try assistant(turn.blocks)
                calls.formUnion(m.toolCalls.map(\.id))
                if last, m.toolCalls.isEmpty {
                    // The final assistant turn's text is where the answer starts (empty: no prefill, a new turn).
                    if m.content.isEmpty && m.reasoningContent == nil { continue }
                    if let c = m.content.last, c.isWhitespace {
                        throw APIError.invalid("final assistant content cannot end with trailing whitespace", param: "messages", code: "invalid_value")
                    }
                    out.prefill = true
                }
                out.messages.append(m)
            }
        }
        return out
    }

    /// A user turn: its text (one message, each run of text between tool results), and each tool result as a tool
    /// message, in the order sent.
    static func user(_ blocks: [Block], calls: Set<String>) throws(APIError) -> [ChatMessage] {
        var out: [ChatMessage] = []
        var texts: [String] = []
        func flush() {
            if !texts.isEmpty { out.append(ChatMessage(role: "user", content: texts.joined(separator: "\n"))) }
            texts = []
        }
        for block in blocks {
            let (b, type, p) = try block.read()
            switch type {
            case "text": texts.append(try block.text(b))
            case "tool_result":
                flush()
                let id = try b.requiredString("tool_use_id")
                guard calls.contains(id) else {
                    throw APIError.invalid("'\(p).tool_use_id': no tool_use block with id '\(id)' comes before this tool_result", param: "\(p).tool_use_id",
                                           code: "invalid_value")
                }
                var m = ChatMessage(role: "tool", content: try resultText(b, path: p))
                m.toolCallID = id
                out.append(m)
            default: throw unsupported(type, path: p, role: "user")
            }
        }
        flush()
        return out
    }

    /// A tool result's content: a string, or text blocks joined. `is_error` has no place in chat templates; the
    /// result's text is what the model reads either way.
    static func resultText(_ b: FieldReader, path p: String) throws(APIError) -> String {
        _ = try b.bool("is_error")
        switch b.raw("content") {
        case nil: return ""
        case let .string(s)?: return s
        case let .array(parts)?:
            var texts: [String] = []
            for (j, part) in parts.enumerated() {
                let q = "\(p).content[\(j)]"
                let block = Block(value: part, path: q, ordered: nil)
                let (f, type, _) = try block.read()
                guard type == "text" else { throw unsupported(type, path: q, role: "tool_result") }
                texts.append(try f.requiredString("text"))
            }
            return texts.joined(separator: "\n")
        case let other?: throw b.typeError("content", "a string or an array of text blocks", other)
        }
    }

    /// An assistant turn: text, tool calls, and reasoning from thinking blocks. Redacted thinking is Anthropic's
    /// encrypted reasoning, which no model here can read: it is left out, as vLLM does.
    static func assistant(_ blocks: [Block]) throws(APIError) -> ChatMessage {
        var texts: [String] = [], thoughts: [String] = []
        var m = ChatMessage(role: "assistant", content: "")
        for block in blocks {
            let (b, type, p) = try block.read()
            switch type {
            case "text": texts.append(try block.text(b))
            case "thinking": thoughts.append(try b.requiredString("thinking"))
            case "redacted_thinking": break
            case "tool_use":
                let id = try b.requiredString("id"), name = try b.requiredString("name")
                guard let input = b.raw("input") else {
                    throw APIError.invalid("'\(p).input' is required", param: "\(p).input", code: "missing_required_parameter")
                }
                guard case .object = input else { throw b.typeError("input", "an object", input) }
                m.toolCalls.append(ChatToolCall(id: id, name: name, arguments: block.ordered?["input"] ?? OrderedJSON(sorting: input)))
            default: throw unsupported(type, path: p, role: "assistant")
            }
        }
        m.content = texts.joined(separator: "\n")
        m.contentIsNull = texts.isEmpty && !m.toolCalls.isEmpty
        if !thoughts.isEmpty { m.reasoningContent = thoughts.joined(separator: "\n") }
        return m
    }

    /// A content block: its value, its path (for errors), and its key-ordered form (nil for a string content's text).
    struct Block {
        var value: JSONInput
        var path: String
        var ordered: OrderedJSON?

        /// Its fields, its `type`, and its path; a known type's fields are checked (no others, a valid `cache_control`).
        func read() throws(APIError) -> (FieldReader, String, String) {
            let b = try FieldReader(value, prefix: path)
            let type = try b.requiredString("type")
            if let allowed = MessagesInput.blockFields[type] {
                try b.onlyFields(allowed)
                try MessagesInput.cacheControl(b)
            }
            return (b, type, path)
        }

        /// A text block's text, which must hold more than whitespace (Anthropic's rule); a message given as a string
        /// may be empty (the final assistant message: no prefill).
        func text(_ b: FieldReader) throws(APIError) -> String {
            let text = try b.requiredString("text")
            if text.allSatisfy(\.isWhitespace), !(ordered == nil && text.isEmpty) {
                throw APIError.invalid("'\(path)': text content blocks must contain non-whitespace text", param: path, code: "invalid_value")
            }
            return text
        }
    }

    /// The fields each content block type may have (Anthropic's, and what its SDKs send back of a response's blocks).
    static let blockFields: [String: Set<String>] = [
        "text": ["type", "text", "cache_control", "citations"],
        "tool_use": ["type", "id", "name", "input", "cache_control", "caller", "toolset_name"],
        "tool_result": ["type", "tool_use_id", "content", "is_error", "cache_control", "toolset_name"],
        "thinking": ["type", "thinking", "signature"],
        "redacted_thinking": ["type", "data"],
    ]

    /// `cache_control`: `{"type": "ephemeral", "ttl": "5m" | "1h"}`. A caching hint: the prefix cache keeps prompts
    /// anyway, so a valid one changes nothing.
    static func cacheControl(_ f: FieldReader) throws(APIError) {
        guard let raw = f.raw("cache_control") else { return }
        let c = try FieldReader(raw, prefix: f.path("cache_control"))
        try c.onlyFields(["type", "ttl"])
        let type = try c.requiredString("type")
        guard type == "ephemeral" else {
            throw APIError.invalid("'\(c.path("type"))' must be 'ephemeral', got '\(type)'", param: c.path("type"), code: "invalid_value")
        }
        if let ttl = try c.string("ttl"), ttl != "5m", ttl != "1h" {
            throw APIError.invalid("'\(c.path("ttl"))' must be '5m' or '1h', got '\(ttl)'", param: c.path("ttl"), code: "invalid_value")
        }
    }

    static func unsupported(_ type: String, path: String, role: String) -> APIError {
        switch type {
        case "image", "document", "search_result":
            return APIError.invalid("content blocks of type '\(type)' are not supported; this model accepts text only", param: "\(path).type",
                                    code: "unsupported_content_type")
        default:
            return APIError.invalid("content blocks of type '\(type)' are not supported in a \(role) message here", param: "\(path).type", code: "invalid_value")
        }
    }
}
