import Engine
import Foundation

/// The output of one response as it is generated: the assistant message's text (minus what turned out to be tool
/// calls) and its logprobs, then the calls. Whole and streamed answers both run through it, so the streamed
/// events add up to exactly the object a whole answer returns. Each call returns the stream events (without
/// `sequence_number`, which the streamer adds) that it caused.
final class ResponseAccumulator: @unchecked Sendable {
    private let lock = NSLock()
    private let filter: ToolStreamFilter?
    private let withLogprobs: Bool
    private let mistralCallIDs: Bool
    private var messageID: String?
    private var text = ""
    private var logprobs: [TokenLogprobsEntry] = []
    /// Logprobs of tokens whose text is held back (a possible tool call), given to the next text sent.
    private var pending: [TokenLogprobsEntry] = []
    private var _items: [JSONValue] = []
    private var _message = ChatMessage(role: "assistant", content: "")
    /// A thinking model's reasoning: split off into a `reasoning` item before the message.
    private let thoughts: ReasoningStreamFilter?
    private var reasoningID: String?
    private var reasoningText = ""
    private var reasoningClosed = false
    /// The message's place in `output` (after the reasoning item, if there is one).
    private var messageIndex = 0

    /// The output items (complete after `finish`).
    var items: [JSONValue] { lock.withLock { _items } }
    /// The assistant turn as a later request's `previous_response_id` replays it (complete after `finish`).
    var message: ChatMessage { lock.withLock { _message } }

    init(tools: ToolOutput?, withLogprobs: Bool, mistralCallIDs: Bool, reasoning: ReasoningStart? = nil) {
        filter = tools.map(ToolStreamFilter.init)
        thoughts = reasoning.map(ReasoningStreamFilter.init)
        self.withLogprobs = withLogprobs
        self.mistralCallIDs = mistralCallIDs
    }

    /// A generated piece of text (a token's, or a released tail) with its token's logprobs.
    func add(_ piece: String, logprob: TokenLogprobsEntry?) -> [JSONValue] {
        lock.withLock {
            var events: [JSONValue] = []
            var answer = piece
            if let thoughts {
                let (thought, rest, inReasoning) = thoughts.feed(0, piece)
                if !thought.isEmpty { events += emitReasoning(thought) }
                answer = rest
                // Reasoning has no logprobs in this API: only the answer's tokens carry them.
                if inReasoning { return events + (answer.isEmpty ? [] : emitAnswer(answer)) }
            }
            if withLogprobs, let logprob { pending.append(logprob) }
            return events + emitAnswer(answer)
        }
    }

    /// Call with `lock` held: the answer's text through the tool filter; the reasoning item closes before it.
    private func emitAnswer(_ answer: String) -> [JSONValue] {
        let visible = answer.isEmpty ? "" : (filter?.feed(0, answer) ?? answer)
        return visible.isEmpty ? [] : closeReasoning() + emitText(visible)
    }

    /// The end: held-back text, the message's closing events, then each call's.
    func finish(_ reason: FinishReason) -> [JSONValue] {
        lock.withLock {
            var events: [JSONValue] = []
            var calls: [ParsedToolCall] = []
            var unclosed = false
            if let thoughts {
                let end = thoughts.finish(0)
                if !end.reasoning.isEmpty { events += emitReasoning(end.reasoning) }
                events += emitAnswer(end.content)
                unclosed = end.unclosed
            }
            // Cut short inside the reasoning: the reasoning item is incomplete, and no answer follows it.
            let onlyReasoning = unclosed && reasoningID != nil && messageID == nil
            events += closeReasoning(status: onlyReasoning && reason != .stop ? "incomplete" : "completed")
            if let filter {
                let (rest, found) = filter.finish(0, stopped: reason == .stop)
                if !rest.isEmpty { events += emitText(rest) }
                calls = found
            }
            // A message item unless the turn is only calls (an empty answer is an empty message, as OpenAI's).
            if messageID == nil, calls.isEmpty, !onlyReasoning { events += openMessage() }
            // Logprobs of tokens whose text never showed (a stop string that began at them): the chat API keeps them too.
            if calls.isEmpty, !pending.isEmpty { events += emitText("") }
            if let id = messageID {
                let part = Self.outputText(text, logprobs: withLogprobs ? logprobs : [])
                let status = reason == .stop ? "completed" : "incomplete"
                let item = Self.messageItem(id: id, status: status, content: [part])
                let at = JSONValue.int(messageIndex)
                events.append(.object([("type", .string("response.output_text.done")), ("item_id", .string(id)), ("output_index", at),
                                       ("content_index", .int(0)), ("text", .string(text)),
                                       ("logprobs", .array(withLogprobs ? logprobs.map(Self.logprob) : []))]))
                events.append(.object([("type", .string("response.content_part.done")), ("item_id", .string(id)), ("output_index", at),
                                       ("content_index", .int(0)), ("part", part)]))
                events.append(.object([("type", .string("response.output_item.done")), ("output_index", at), ("item", item)]))
                _items.append(item)
                _message.content = text
            } else {
                _message.contentIsNull = true
            }
            for call in calls {
                let id = "fc_" + Self.hex(), callID = ToolCallID.make(mistral: mistralCallIDs), index = _items.count
                func item(_ arguments: String, _ status: String) -> JSONValue {
                    .object([("id", .string(id)), ("type", .string("function_call")), ("status", .string(status)), ("arguments", .string(arguments)),
                             ("call_id", .string(callID)), ("name", .string(call.name))])
                }
                let done = item(call.arguments, "completed")
                events.append(.object([("type", .string("response.output_item.added")), ("output_index", .int(index)), ("item", item("", "in_progress"))]))
                events.append(.object([("type", .string("response.function_call_arguments.delta")), ("item_id", .string(id)),
                                       ("output_index", .int(index)), ("delta", .string(call.arguments))]))
                events.append(.object([("type", .string("response.function_call_arguments.done")), ("item_id", .string(id)), ("name", .string(call.name)),
                                       ("output_index", .int(index)), ("arguments", .string(call.arguments))]))
                events.append(.object([("type", .string("response.output_item.done")), ("output_index", .int(index)), ("item", done)]))
                _items.append(done)
                let arguments = (try? JSONParser.parseKeepingKeyOrder(Array(call.arguments.utf8))) ?? .object([])
                _message.toolCalls.append(ChatToolCall(id: callID, name: call.name, arguments: arguments))
            }
            return events
        }
    }

    /// Call with `lock` held.
    private func emitText(_ visible: String) -> [JSONValue] {
        var events = messageID == nil ? openMessage() : []
        let lps = pending
        pending = []
        text += visible
        logprobs += lps
        events.append(.object([("type", .string("response.output_text.delta")), ("item_id", .string(messageID!)), ("output_index", .int(messageIndex)),
                               ("content_index", .int(0)), ("delta", .string(visible)), ("logprobs", .array(lps.map(Self.logprob)))]))
        return events
    }

    /// Call with `lock` held.
    private func openMessage() -> [JSONValue] {
        let id = "msg_" + Self.hex()
        messageID = id
        messageIndex = _items.count
        return [
            .object([("type", .string("response.output_item.added")), ("output_index", .int(messageIndex)),
                     ("item", Self.messageItem(id: id, status: "in_progress", content: []))]),
            .object([("type", .string("response.content_part.added")), ("item_id", .string(id)), ("output_index", .int(messageIndex)),
                     ("content_index", .int(0)), ("part", Self.outputText("", logprobs: []))]),
        ]
    }

    /// Call with `lock` held. Reasoning text: the reasoning item (output 0) opens with the first of it.
    private func emitReasoning(_ thought: String) -> [JSONValue] {
        var events: [JSONValue] = []
        if reasoningID == nil {
            let id = "rs_" + Self.hex()
            reasoningID = id
            events.append(.object([("type", .string("response.output_item.added")), ("output_index", .int(0)),
                                   ("item", Self.reasoningItem(id: id, text: nil, status: "in_progress"))]))
            events.append(.object([("type", .string("response.content_part.added")), ("item_id", .string(id)), ("output_index", .int(0)),
                                   ("content_index", .int(0)), ("part", .object([("type", .string("reasoning_text")), ("text", .string(""))]))]))
        }
        reasoningText += thought
        events.append(.object([("type", .string("response.reasoning_text.delta")), ("item_id", .string(reasoningID!)), ("output_index", .int(0)),
                               ("content_index", .int(0)), ("delta", .string(thought))]))
        return events
    }

    /// Call with `lock` held. Closes the reasoning item (once), before anything else is output.
    private func closeReasoning(status: String = "completed") -> [JSONValue] {
        guard let id = reasoningID, !reasoningClosed else { return [] }
        reasoningClosed = true
        let part: JSONValue = .object([("type", .string("reasoning_text")), ("text", .string(reasoningText))])
        let item = Self.reasoningItem(id: id, text: reasoningText, status: status)
        _items.append(item)
        _message.reasoningContent = reasoningText
        return [
            .object([("type", .string("response.reasoning_text.done")), ("item_id", .string(id)), ("output_index", .int(0)),
                     ("content_index", .int(0)), ("text", .string(reasoningText))]),
            .object([("type", .string("response.content_part.done")), ("item_id", .string(id)), ("output_index", .int(0)),
                     ("content_index", .int(0)), ("part", part)]),
            .object([("type", .string("response.output_item.done")), ("output_index", .int(0)), ("item", item)]),
        ]
    }

    static func reasoningItem(id: String, text: String?, status: String) -> JSONValue {
        .object([("id", .string(id)), ("type", .string("reasoning")), ("summary", .array([])),
                 ("content", .array(text.map { [.object([("type", .string("reasoning_text")), ("text", .string($0))])] } ?? [])),
                 ("status", .string(status))])
    }

    static func messageItem(id: String, status: String, content: [JSONValue]) -> JSONValue {
        .object([("id", .string(id)), ("type", .string("message")), ("status", .string(status)), ("content", .array(content)),
                 ("role", .string("assistant"))])
    }

    static func outputText(_ text: String, logprobs: [TokenLogprobsEntry]) -> JSONValue {
        .object([("type", .string("output_text")), ("annotations", .array([])), ("logprobs", .array(logprobs.map(logprob))), ("text", .string(text))])
    }

    /// OpenAI's `LogProb` (token, logprob, bytes, top_logprobs each with its bytes): the chat shape's entry.
    static func logprob(_ e: TokenLogprobsEntry) -> JSONValue { ChatResponseBuilder.entry(e) }

    /// 32 random hex digits (item ids).
    static func hex() -> String { ToolCallID.hex() }
}

/// The response object around an output: the request's settings repeated, status, usage.
struct ResponseHeader: Sendable {
    let id: String
    let createdAt: Int
    let model: String
    let previousResponseID: String?
    let store: Bool
    let temperature: Double
    let topP: Double
    let parallelToolCalls: Bool
    let echo: ResponsesRequest.ResponseEcho

    init(id: String, request r: ResponsesRequest, model: String) {
        self.id = id
        createdAt = Int(Date().timeIntervalSince1970)
        self.model = model
        previousResponseID = r.previousResponseID
        store = r.store
        temperature = r.sampling.temperature ?? 1
        topP = r.sampling.topP ?? 1
        parallelToolCalls = r.echo.parallelToolCalls
        echo = r.echo
    }

    /// The whole object. `status`: in_progress, completed, incomplete or failed.
    func object(status: String, output: [JSONValue], usage: Usage?, error: (code: String, message: String)? = nil) -> JSONValue {
        let e = echo
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        var fields: [(String, JSONValue)] = [
            ("id", .string(id)), ("object", .string("response")), ("created_at", .int(createdAt)), ("status", .string(status)),
            ("background", .bool(false)),
            ("completed_at", status == "completed" ? .int(Int(Date().timeIntervalSince1970)) : .null),
            ("error", error.map { .object([("code", .string($0.code)), ("message", .string($0.message))]) } ?? .null),
            ("incomplete_details", status == "incomplete" ? .object([("reason", .string("max_output_tokens"))]) : .null),
            ("instructions", opt(e.instructions)), ("max_output_tokens", e.maxOutputTokens.map { .int($0) } ?? .null),
            ("max_tool_calls", e.maxToolCalls.map { .int($0) } ?? .null), ("model", .string(model)), ("output", .array(output)),
            ("parallel_tool_calls", .bool(parallelToolCalls)), ("previous_response_id", opt(previousResponseID)),
            ("prompt_cache_key", opt(e.promptCacheKey)), ("prompt_cache_retention", opt(e.promptCacheRetention)), ("reasoning", .object([("effort", .null), ("summary", .null)])),
            ("safety_identifier", opt(e.safetyIdentifier)), ("service_tier", .string(e.serviceTier)), ("store", .bool(store)),
            ("temperature", .double(temperature)), ("text", e.text), ("tool_choice", e.toolChoice), ("tools", e.tools),
            ("top_logprobs", .int(e.topLogprobs)), ("top_p", .double(topP)), ("truncation", .string("disabled")), ("metadata", e.metadata),
        ]
        // Absent rather than null, as OpenAI's schema has them: usage until the end, user unless sent.
        if let usage { fields.append(("usage", Self.usageJSON(usage))) }
        if let user = e.user { fields.append(("user", .string(user))) }
        return .object(fields)
    }

    /// OpenAI's `ResponseUsage`. `cache_write_tokens` is 0: the prefix cache keeps prompts at no separate cost. On a
    /// simulated device also `simulated` (as in chat completions' usage).
    static func usageJSON(_ u: Usage) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("input_tokens", .int(u.promptTokens)),
            ("input_tokens_details", .object([("cached_tokens", .int(u.cachedPromptTokens)), ("cache_write_tokens", .int(0))])),
            ("output_tokens", .int(u.completionTokens)), ("output_tokens_details", .object([("reasoning_tokens", .int(u.reasoningTokens ?? 0))])),
            ("total_tokens", .int(u.totalTokens)),
        ]
        if case let .object(chat) = CompletionHeader.usageJSON(u), let sim = chat.first(where: { $0.0 == "simulated" }) { fields.append(sim) }
        return .object(fields)
    }
}
