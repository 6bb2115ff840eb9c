import Engine
import Foundation

/// `chat.completion` and `chat.completion.chunk` objects.
struct ChatResponseBuilder: CompletionShape {
    let header: CompletionHeader
    /// How to read the text when tools are in play.
    let tools: ToolOutput?
    /// Call ids of 9 letters and digits, the only ones Mistral's templates take back on the next turn.
    let mistralCallIDs: Bool
    /// Where a thinking model's reasoning starts, when it is split off into `reasoning_content`.
    let reasoning: ReasoningStart?
    private let filter: ToolStreamFilter?
    private let thoughts: ReasoningStreamFilter?
    /// Logprobs of tokens whose text a filter holds back, sent with the text when it goes out.
    private let held = HeldLogprobs()

    init(header: CompletionHeader, tools: ToolOutput? = nil, mistralCallIDs: Bool = false, reasoning: ReasoningStart? = nil) {
        self.header = header
        self.tools = tools
        self.mistralCallIDs = mistralCallIDs
        self.reasoning = reasoning
        filter = tools.map(ToolStreamFilter.init)
        thoughts = reasoning.map(ReasoningStreamFilter.init)
    }

    func whole(choices: [Choice], usage: Usage) -> JSONValue {
        let items: [JSONValue] = choices.enumerated().map { i, c in
            // The reasoning first; calls are read from the answer after it.
            let (thought, answer) = reasoning.map { ReasoningStreamFilter.split(c.text, start: $0) } ?? (nil, c.text)
            var content: JSONValue = thought != nil && answer.isEmpty ? .null : .string(answer), calls: [ParsedToolCall] = []
            if let tools, c.reason == .stop {
                let (text, found) = tools.extract(answer)
                if !found.isEmpty { (content, calls) = (text.map { .string($0) } ?? .null, found) }
            }
            var message: [(String, JSONValue)] = [("role", .string("assistant")), ("content", content), ("refusal", .null)]
            if reasoning != nil { message.append(("reasoning_content", thought.map { .string($0) } ?? .null)) }
            if !calls.isEmpty { message.append(("tool_calls", .array(calls.map { toolCall($0, index: nil) }))) }
            return .object([
                ("index", .int(i)),
                ("message", .object(message)),
                ("logprobs", c.logprobs.map { .object([("content", .array($0.map(Self.entry))), ("refusal", .null)]) } ?? .null),
                ("finish_reason", .string(calls.isEmpty ? c.reason.rawValue : "tool_calls")),
                ("stop_reason", StopCause.json(c.stop)),
            ])
        }
        // vLLM's `prompt_logprobs`, once for the prompt every choice shares.
        let prompt: [(String, JSONValue)] = choices.first?.promptLogprobs.map { [("prompt_logprobs", $0)] } ?? []
        return .object(header.fields("chat.completion") + [("choices", .array(items)), ("usage", CompletionHeader.usageJSON(usage))] + prompt)
    }

    func openingChunk(choice: Int, prompt: PromptLogprobs?) -> JSONValue? {
        chunk(choice, delta: .object([("role", .string("assistant")), ("content", .string(""))]), finish: nil, logprobs: nil)
    }

    func deltaChunk(choice: Int, text: String, logprobs: TokenLogprobsEntry?, tokenOffset: Int) -> JSONValue? {
        guard filter != nil || thoughts != nil else {
            let lp: JSONValue? = logprobs.map { .object([("content", .array([Self.entry($0)])), ("refusal", .null)]) }
            return chunk(choice, delta: .object([("content", .string(text))]), finish: nil, logprobs: lp)
        }
        // Text a filter holds back (a possible marker or call) goes out later: its token's logprobs go with it.
        if let logprobs { held.add(choice, Self.entry(logprobs)) }
        var delta: [(String, JSONValue)] = []
        var answer = text
        if let thoughts {
            let (thought, rest, _) = thoughts.feed(choice, text)
            if !thought.isEmpty { delta.append(("reasoning_content", .string(thought))) }
            answer = rest
        }
        let content = answer.isEmpty ? "" : (filter?.feed(choice, answer) ?? answer)
        if !content.isEmpty { delta.append(("content", .string(content))) }
        if delta.isEmpty { return nil }
        return chunk(choice, delta: .object(delta), finish: nil, logprobs: held.take(choice))
    }

    func finishChunks(choice: Int, reason: FinishReason, stop: StopCause?) -> [JSONValue] {
        // The deltas still to send: what the filters held back, then the calls.
        var deltas: [JSONValue] = []
        var calls: [ParsedToolCall] = []
        if let thoughts {
            // What the reasoning filter held back: the rest of the reasoning, or content for the tool filter.
            let (thought, answer, _, _) = thoughts.finish(choice)
            if !thought.isEmpty { deltas.append(.object([("reasoning_content", .string(thought))])) }
            let content = answer.isEmpty ? "" : (filter?.feed(choice, answer) ?? answer)
            if !content.isEmpty { deltas.append(.object([("content", .string(content))])) }
        }
        if let filter {
            let (content, found) = filter.finish(choice, stopped: reason == .stop)
            if !content.isEmpty { deltas.append(.object([("content", .string(content))])) }
            calls = found
            if !calls.isEmpty { deltas.append(.object([("tool_calls", .array(calls.enumerated().map { toolCall($1, index: $0) }))])) }
        }
        // Logprobs of tokens whose text goes out only now (or became calls): with the first of these, or alone.
        let lp = held.take(choice)
        if lp != nil, deltas.isEmpty { deltas.append(.object([])) }
        var out = deltas.enumerated().map { chunk(choice, delta: $1, finish: nil, logprobs: $0 == 0 ? lp : nil) }
        out.append(chunk(choice, delta: .object([]), finishReason: calls.isEmpty ? reason.rawValue : "tool_calls", logprobs: nil, stop: stop))
        return out
    }

    /// `{"id", "type": "function", "function": {"name", "arguments"}}`, with its `index` in a streamed delta.
    func toolCall(_ call: ParsedToolCall, index: Int?) -> JSONValue {
        var fields: [(String, JSONValue)] = index.map { [("index", .int($0))] } ?? []
        fields += [("id", .string(ToolCallID.make(mistral: mistralCallIDs))), ("type", .string("function")),
                   ("function", .object([("name", .string(call.name)), ("arguments", .string(call.arguments))]))]
        return .object(fields)
    }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header.fields("chat.completion.chunk") + [("choices", .array([])), ("usage", CompletionHeader.usageJSON(usage))])
    }

    private func chunk(_ choice: Int, delta: JSONValue, finish: FinishReason?, logprobs: JSONValue?) -> JSONValue {
        chunk(choice, delta: delta, finishReason: finish?.rawValue, logprobs: logprobs)
    }

    /// `stop`: the finishing chunk's `stop_reason` (absent from the others).
    private func chunk(_ choice: Int, delta: JSONValue, finishReason: String?, logprobs: JSONValue?, stop: StopCause? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("index", .int(choice)), ("delta", delta), ("logprobs", logprobs ?? .null),
            ("finish_reason", finishReason.map { .string($0) } ?? .null),
        ]
        if finishReason != nil { fields.append(("stop_reason", StopCause.json(stop))) }
        let item: JSONValue = .object(fields)
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

/// Per choice, the chat logprobs entries of tokens whose text is held back.
final class HeldLogprobs: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Int: [JSONValue]] = [:]

    func add(_ choice: Int, _ entry: JSONValue) { lock.withLock { entries[choice, default: []].append(entry) } }

    /// The held entries as a chunk's `logprobs` (nil when none), and forgets them.
    func take(_ choice: Int) -> JSONValue? {
        guard let held = lock.withLock({ entries.removeValue(forKey: choice) }), !held.isEmpty else { return nil }
        return .object([("content", .array(held)), ("refusal", .null)])
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
            var fields: [(String, JSONValue)] = [
                ("index", .int(i)), ("text", .string(prefix(i) + c.text)),
                ("logprobs", c.logprobs.map { Self.legacy($0, offset: prefix(i).unicodeScalars.count, prompt: c.prompt) } ?? .null),
                ("finish_reason", .string(c.reason.rawValue)), ("stop_reason", StopCause.json(c.stop)),
            ]
            // vLLM's `prompt_logprobs`, per choice.
            if let p = c.promptLogprobs { fields.append(("prompt_logprobs", p)) }
            return .object(fields)
        }
        return .object(header.fields("text_completion") + [("choices", .array(items)), ("usage", CompletionHeader.usageJSON(usage))])
    }

    func openingChunk(choice: Int, prompt: PromptLogprobs?) -> JSONValue? {
        let p = prefix(choice)
        return p.isEmpty ? nil : chunk(choice, text: p, finish: nil, logprobs: prompt.map { Self.legacy([], offset: p.unicodeScalars.count, prompt: $0) })
    }

    func deltaChunk(choice: Int, text: String, logprobs: TokenLogprobsEntry?, tokenOffset: Int) -> JSONValue? {
        chunk(choice, text: text, finish: nil, logprobs: logprobs.map { e in
            var e = e
            e.offset = tokenOffset
            return Self.legacy([e], offset: prefix(choice).unicodeScalars.count)
        })
    }

    func finishChunks(choice: Int, reason: FinishReason, stop: StopCause?) -> [JSONValue] {
        [chunk(choice, text: "", finish: reason, logprobs: nil, stop: stop)]
    }

    func usageChunk(_ usage: Usage) -> JSONValue {
        .object(header.fields("text_completion") + [("choices", .array([])), ("usage", CompletionHeader.usageJSON(usage))])
    }

    /// `stop`: the finishing chunk's `stop_reason` (absent from the others).
    private func chunk(_ choice: Int, text: String, finish: FinishReason?, logprobs: JSONValue?, stop: StopCause? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [("index", .int(choice)), ("text", .string(text)), ("logprobs", logprobs ?? .null),
                                             ("finish_reason", finish.map { .string($0.rawValue) } ?? .null)]
        if finish != nil { fields.append(("stop_reason", StopCause.json(stop))) }
        let item: JSONValue = .object(fields)
        return .object(header.fields("text_completion") + [("choices", .array([item]))])
    }

    /// `{tokens, token_logprobs, top_logprobs, text_offset}`, OpenAI's legacy layout. Offsets count characters
    /// (Unicode scalars, as Python indexes) from the start of the choice's text: an echoed prompt's tokens from 0
    /// (its first token with null logprobs: nothing comes before it), the generated tokens from `offset` (the
    /// echoed prompt's length); no prompt offset passes that length. A token that is not whole UTF-8 is written
    /// `bytes:\xNN…`, as OpenAI writes them, so distinct byte tokens stay distinct keys; `top_logprobs` holds the
    /// chosen token too (OpenAI: "up to logprobs+1 elements"), and a key that still repeats keeps its first,
    /// most likely, value.
    static func legacy(_ entries: [TokenLogprobsEntry], offset: Int, prompt: PromptLogprobs? = nil) -> JSONValue {
        var tokens: [JSONValue] = [], logprobs: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        func add(_ e: TokenLogprobsEntry, at: Int) {
            let token = legacyToken(e.bytes)
            tokens.append(.string(token))
            logprobs.append(.double(Double(e.logprob)))
            var seen = Set<String>(), top: [(String, JSONValue)] = []
            for (key, lp) in e.top.map({ (legacyToken($0.bytes), $0.logprob) }) + [(token, e.logprob)] where seen.insert(key).inserted {
                top.append((key, .double(Double(lp))))
            }
            tops.append(.object(top))
            offsets.append(.int(at))
        }
        if let prompt {
            tokens.append(.string(legacyToken(prompt.first.bytes)))
            logprobs.append(.null)
            tops.append(.null)
            offsets.append(.int(0))
            for e in prompt.entries { add(e, at: min(e.offset, offset)) }
        }
        for e in entries { add(e, at: offset + e.offset) }
        return .object([("tokens", .array(tokens)), ("token_logprobs", .array(logprobs)), ("top_logprobs", .array(tops)),
                        ("text_offset", .array(offsets))])
    }

    /// A token's text, or `bytes:\xNN…` when its bytes are not whole UTF-8 on their own.
    static func legacyToken(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return "bytes:" + bytes.map { "\\x" + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
