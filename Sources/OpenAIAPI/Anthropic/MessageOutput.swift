import Engine
import Foundation

/// The content of one Anthropic message as it is generated: a thinking block (a thinking model's reasoning), a text
/// block (minus what turned out to be tool calls), then a `tool_use` block per call. Whole and streamed answers both
/// run through it, so the streamed events add up to exactly the message a whole answer returns. Each call returns
/// the stream events it caused.
final class MessageAccumulator: @unchecked Sendable {
    private let lock = NSLock()
    private let filter: ToolStreamFilter?
    private let thoughts: ReasoningStreamFilter?
    private let mistralCallIDs: Bool
    private var _blocks: [JSONValue] = []
    /// The block being streamed (`thinking` or `text`), its index and text so far.
    private var open: (type: String, index: Int, text: String)?
    private var _calls = 0

    /// The content blocks (complete after `finish`).
    var blocks: [JSONValue] { lock.withLock { _blocks } }
    /// How many tool calls the message ended with (after `finish`).
    var calls: Int { lock.withLock { _calls } }

    /// Thinking blocks without their text (`thinking.display` "omitted").
    private let omitThinking: Bool

    init(tools: ToolOutput?, reasoning: ReasoningStart?, mistralCallIDs: Bool, omitThinking: Bool = false) {
        filter = tools.map(ToolStreamFilter.init)
        thoughts = reasoning.map(ReasoningStreamFilter.init)
        self.mistralCallIDs = mistralCallIDs
        self.omitThinking = omitThinking
    }

    /// A generated piece of text.
    func add(_ piece: String) -> [JSONValue] {
        lock.withLock {
            guard let thoughts else { return answer(piece) }
            let (thought, rest, _) = thoughts.feed(0, piece)
            return (thought.isEmpty ? [] : emit("thinking", thought)) + answer(rest)
        }
    }

    /// The end: held-back text, then the calls. Returns the events and whether the message ended in tool calls.
    func finish(_ reason: FinishReason) -> [JSONValue] {
        lock.withLock {
            var events: [JSONValue] = []
            if let thoughts {
                let end = thoughts.finish(0)
                if !end.reasoning.isEmpty { events += emit("thinking", end.reasoning) }
                events += answer(end.content)
            }
            var calls: [ParsedToolCall] = []
            if let filter {
                let (rest, found) = filter.finish(0, stopped: reason == .stop)
                // A forced call cut short (max_tokens) has no valid input: no block (Anthropic's SDKs keep no unfinished
                // tool_use either), rather than its arguments in this server's own format as text.
                var forced = true
                if case .auto = filter.output { forced = false }
                if !rest.isEmpty, !(forced && reason != .stop) { events += emit("text", rest) }
                calls = found
            }
            events += closeBlock()
            for call in calls {
                let id = mistralCallIDs ? ToolCallID.make(mistral: true) : "toolu_" + ToolCallID.hex().prefix(24)
                let index = _blocks.count
                let input = (try? JSONParser.parseKeepingKeyOrder(Array(call.arguments.utf8)))?.jsonValue ?? .object([])
                func block(_ input: JSONValue) -> JSONValue {
                    .object([("type", .string("tool_use")), ("id", .string(id)), ("name", .string(call.name)), ("input", input)])
                }
                events.append(.object([("type", .string("content_block_start")), ("index", .int(index)), ("content_block", block(.object([])))]))
                events.append(.object([("type", .string("content_block_delta")), ("index", .int(index)),
                                       ("delta", .object([("type", .string("input_json_delta")), ("partial_json", .string(call.arguments))]))]))
                events.append(.object([("type", .string("content_block_stop")), ("index", .int(index))]))
                _blocks.append(block(input))
            }
            _calls = calls.count
            return events
        }
    }

    /// Call with `lock` held: answer text through the tool filter.
    private func answer(_ text: String) -> [JSONValue] {
        let visible = text.isEmpty ? "" : (filter?.feed(0, text) ?? text)
        return visible.isEmpty ? [] : emit("text", visible)
    }

    /// Call with `lock` held: text for a block of `type`, opening it (and closing another) first.
    private func emit(_ type: String, _ text: String) -> [JSONValue] {
        var events: [JSONValue] = []
        if open?.type != type {
            events += closeBlock()
            let index = _blocks.count
            open = (type, index, "")
            let empty: JSONValue = type == "thinking"
                ? .object([("type", .string("thinking")), ("thinking", .string("")), ("signature", .string(""))])
                : .object([("type", .string("text")), ("text", .string(""))])
            events.append(.object([("type", .string("content_block_start")), ("index", .int(index)), ("content_block", empty)]))
        }
        if type == "thinking", omitThinking { return events }
        open!.text += text
        let delta: JSONValue = type == "thinking" ? .object([("type", .string("thinking_delta")), ("thinking", .string(text))])
                                                  : .object([("type", .string("text_delta")), ("text", .string(text))])
        events.append(.object([("type", .string("content_block_delta")), ("index", .int(open!.index)), ("delta", delta)]))
        return events
    }

    /// Call with `lock` held.
    private func closeBlock() -> [JSONValue] {
        guard let (type, index, text) = open else { return [] }
        open = nil
        // A thinking block carries a signature in Anthropic's API (its encrypted check); none is made here.
        _blocks.append(type == "thinking" ? .object([("type", .string("thinking")), ("thinking", .string(text)), ("signature", .string(""))])
                                          : .object([("type", .string("text")), ("text", .string(text))]))
        return [.object([("type", .string("content_block_stop")), ("index", .int(index))])]
    }
}

/// The message object around the content: id, model, stop reason, usage.
struct MessageHeader: Sendable {
    let id: String
    let model: String

    /// `stop_reason` and `stop_sequence` of a finished message.
    static func stop(_ reason: FinishReason, usage: Usage, calls: Int) -> (reason: String, sequence: String?) {
        if calls > 0 { return ("tool_use", nil) }
        switch reason {
        case .length: return ("max_tokens", nil)
        case .stop, .abort:
            if case let .string(s)? = usage.stop { return ("stop_sequence", s) }
            return ("end_turn", nil)
        }
    }

    func object(content: [JSONValue], stop: (reason: String, sequence: String?)?, usage: JSONValue) -> JSONValue {
        .object([
            ("id", .string(id)), ("type", .string("message")), ("role", .string("assistant")), ("model", .string(model)), ("content", .array(content)),
            ("stop_reason", stop.map { .string($0.reason) } ?? .null), ("stop_sequence", stop?.sequence.map { .string($0) } ?? .null), ("usage", usage),
        ])
    }

    /// Anthropic's usage: `input_tokens` are the prompt tokens not read from the (prefix) cache, which
    /// `cache_read_input_tokens` counts; nothing is written to a cache at a separate cost.
    static func usage(_ u: Usage) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("input_tokens", .int(u.promptTokens - u.cachedPromptTokens)), ("cache_creation_input_tokens", .int(0)),
            ("cache_read_input_tokens", .int(u.cachedPromptTokens)), ("output_tokens", .int(u.completionTokens)), ("service_tier", .string("standard")),
        ]
        if case let .object(chat) = CompletionHeader.usageJSON(u), let sim = chat.first(where: { $0.0 == "simulated" }) { fields.append(sim) }
        return .object(fields)
    }
}

extension APIError {
    /// Anthropic's error shape, `{"type": "error", "error": {"type", "message"}}`, its type from the status.
    /// `details.error_code` carries the code (the SDKs read some: `thread_unsupported_request` makes the tool runner
    /// go on without a thread, given what is `unsupported`).
    public var anthropicJSON: JSONValue {
        var error: [(String, JSONValue)] = [("type", .string(anthropicType)), ("message", .string(message))]
        if let code {
            var details: [(String, JSONValue)] = [("error_code", .string(code))]
            if code == "thread_unsupported_request" { details.append(("unsupported", .array([.string(param ?? "thread")]))) }
            error.append(("details", .object(details)))
        }
        return .object([("type", .string("error")), ("error", .object(error))])
    }

    public var anthropicType: String {
        switch status {
        case 400, 405, 422: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        default: return "api_error"
        }
    }
}
