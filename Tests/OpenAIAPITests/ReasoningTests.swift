@testable import Engine
import Foundation
import Testing
import Tokenizer
@testable import OpenAIAPI

/// A thinking model's template, reduced: the transcript, then an assistant turn that opens `<think>` (closed at
/// once when `enable_thinking` is false, as DeepSeek-R1's and Qwen3's templates do). Earlier reasoning shows as
/// `[r:…]`.
final class ThinkingPrompter: ChatPrompting, @unchecked Sendable {
    var thinksInTags: Bool { true }
    /// As if the markers were single (special) tokens.
    var thinkTokenIDs: Set<Int> { [900_001, 900_002] }
    func tokenBytes(_ id: Int) -> [UInt8] { Array("t\(id)".utf8) }
    func encode(_ text: String) -> [Int] { text.unicodeScalars.map { Int($0.value) } }
    func decode(_ ids: [Int]) -> String { String(String.UnicodeScalarView(ids.compactMap { Unicode.Scalar(UInt32($0)) })) }
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { try promptTokens(for: messages, tools: nil, variables: [:]) }
    func thinkingPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?,
                        variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart) {
        let start: ReasoningStart = variables["model_opens"] == .scalar(.bool(true)) ? .mayOpen
            : variables["enable_thinking"] != .scalar(.bool(false)) ? .inside : .closed
        return (try promptTokens(for: messages, tools: tools, variables: variables), start)
    }
    func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> [Int] {
        let lines = messages.map { m in "\(m.role):" + (m.reasoningContent.map { "[r:\($0)]" } ?? "") + m.content }
        let thinking = variables["enable_thinking"] != .scalar(.bool(false))
        return encode(lines.joined(separator: "\n") + "\nassistant:<think>\n" + (thinking ? "" : "</think>"))
    }
}

@Suite struct ReasoningSplitTests {
    @Test func splitsAtTheMarkers() {
        func split(_ t: String, _ s: ReasoningStart) -> (String?, String) { let r = ReasoningStreamFilter.split(t, start: s); return (r.reasoning, r.content) }
        #expect(split("I think.</think>\n\nAnswer", .inside) == ("I think.", "Answer"))
        #expect(split("<think>hmm</think>Hi", .mayOpen) == ("hmm", "Hi"))
        #expect(split("  <think>x</think>y", .mayOpen) == ("x", "y"))
        // A think block opens only at the start of the output.
        #expect(split("Hello <think>x</think>", .mayOpen) == (nil, "Hello <think>x</think>"))
        // Cut short inside the reasoning: all of it is reasoning.
        #expect(split("abc</th", .inside) == ("abc</th", ""))
        #expect(split("", .mayOpen) == (nil, ""))
        #expect(ReasoningStart.of(promptTail: "<｜Assistant｜><think>\n") == .inside)
        #expect(ReasoningStart.of(promptTail: "<｜Assistant｜><think>\n</think>") == .closed)
        #expect(ReasoningStart.of(promptTail: "assistant\n") == .mayOpen)
    }

    @Test func streamedPiecesHoldBackWhatMayBeAMarker() {
        let f = ReasoningStreamFilter(start: .mayOpen)
        var reasoning = "", content = "", flags: [Bool] = []
        for piece in ["<th", "ink>a", "b</th", "ink>\n", "\nC", "d"] {
            let (r, c, inside) = f.feed(0, piece)
            reasoning += r
            content += c
            flags.append(inside)
        }
        let end = f.finish(0)
        #expect(reasoning + end.reasoning == "ab" && content + end.content == "Cd" && end.reasoned)
        // The pieces read inside the think block (the opening one included), not those after it.
        #expect(flags == [false, true, true, true, false, false])
    }
}

@Suite struct ReasoningUsageTests {
    @Test func chatUsageCarriesReasoningTokensWhenCounted() {
        var u = Usage(promptTokens: 3, completionTokens: 5)
        #expect(!CompletionHeader.usageJSON(u).serialized().contains("completion_tokens_details"))
        u.reasoningTokens = 4
        #expect(CompletionHeader.usageJSON(u).serialized().contains(#""completion_tokens_details":{"reasoning_tokens":4}"#))
        #expect(ResponseHeader.usageJSON(u).serialized().contains(#""output_tokens_details":{"reasoning_tokens":4}"#))
    }
}

@Suite(.serialized) struct ReasoningEndpointTests {
    static let thought = ["Let me think", ".</think>", "\n\nParis."]

    func server(_ texts: [String], reasoning: ReasoningParsing = .auto) throws -> TestServer {
        try TestServer(backend: ScriptedBackend(texts: texts), contextLength: 4000, options: APIOptions(reasoning: reasoning), prompter: ThinkingPrompter())
    }

    let ask = #"{"model":"test-model","messages":[{"role":"user","content":"Capital of France?"}]"#

    @Test func chatSplitsReasoningWholeAndStreamed() throws {
        let s = try server(Self.thought)
        let message = try #require(((s.request("POST", "/v1/chat/completions", body: ask + "}").json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
        #expect(message["reasoning_content"] as? String == "Let me think." && message["content"] as? String == "Paris.")
        let streamed = try s.request("POST", "/v1/chat/completions", body: ask + #","stream":true}"#)
        var reasoning = "", content = ""
        for e in streamed.events where e != "[DONE]" {
            let delta = ((try JSONSerialization.jsonObject(with: Data(e.utf8)) as? [String: Any])?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
            reasoning += delta?["reasoning_content"] as? String ?? ""
            content += delta?["content"] as? String ?? ""
        }
        #expect(reasoning == "Let me think." && content == "Paris.")
        // The engine is asked to count the reasoning tokens, from the start (the prompt opened the block).
        #expect(s.backend.submitted[0].sampling.reasoning == ReasoningMarkers(startsInside: true))
        // The think markers stay in the text the engine hands back (they may be special tokens); other special
        // tokens' text stays out.
        #expect(s.backend.submitted[0].sampling.skipSpecialTokens && s.backend.submitted[0].sampling.keepSpecialTokenIDs == [900_001, 900_002])
    }

    @Test func templateArgumentsReachTheTemplate() throws {
        let s = try server(["Paris."])
        let body = ask + #","chat_template_kwargs":{"enable_thinking":false}}"#
        let message = try #require(((s.request("POST", "/v1/chat/completions", body: body).json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
        // The prompt closed the think block: the output is all answer.
        #expect(message["content"] as? String == "Paris." && message["reasoning_content"] is NSNull)
        #expect(ThinkingPrompter().decode(s.backend.submitted[0].promptTokenIDs).hasSuffix("<think>\n</think>"))
        let reserved = try s.request("POST", "/v1/chat/completions", body: ask + #","chat_template_kwargs":{"messages":[]}}"#)
        #expect(reserved.status == 400 && (reserved.json["error"] as? [String: Any])?["param"] as? String == "chat_template_kwargs.messages")
        let tokenized = try s.request("POST", "/tokenize", body: #"{"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":{"enable_thinking":false}}"#)
        #expect((tokenized.json["tokens"] as? [Int]).map { ThinkingPrompter().decode($0).hasSuffix("</think>") } == true)
    }

    @Test func aResponseFormatAppliesAfterTheReasoning() throws {
        let s = try server(Self.thought)
        _ = try s.request("POST", "/v1/chat/completions", body: ask + #","response_format":{"type":"json_object"}}"#)
        #expect(s.backend.submitted[0].sampling.grammar != nil && s.backend.submitted[0].sampling.grammarAfter == Array("</think>".utf8))
        // A prompt that closed the block: the grammar applies from the first token.
        _ = try s.request("POST", "/v1/chat/completions", body: ask + #","response_format":{"type":"json_object"},"chat_template_kwargs":{"enable_thinking":false}}"#)
        #expect(s.backend.submitted[1].sampling.grammarAfter == nil && s.backend.submitted[1].sampling.grammarMarkers.isEmpty)
        // A model that opens the block itself (Qwen3): the grammar waits for its end if it does, else applies at once.
        _ = try s.request("POST", "/v1/chat/completions", body: ask + #","response_format":{"type":"json_object"},"chat_template_kwargs":{"model_opens":true}}"#)
        #expect(s.backend.submitted[2].sampling.grammarAfter == nil)
        #expect(s.backend.submitted[2].sampling.grammarMarkers == [GrammarMarker("<think>", then: .waitFor(Array("</think>".utf8)))])
    }

    @Test func responsesTakeTemplateArgumentsAndCutReasoningIsIncomplete() throws {
        let s = try server(["Paris."])
        let off = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Q","chat_template_kwargs":{"enable_thinking":false}}"#).json
        #expect((off["output"] as? [[String: Any]])?.map { $0["type"] as? String } == ["message"])
        let cut = try TestServer(backend: ScriptedBackend(texts: ["Let me", " think"], finish: .length), contextLength: 4000, prompter: ThinkingPrompter())
        let j = try cut.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Q","max_output_tokens":2}"#).json
        let output = try #require(j["output"] as? [[String: Any]])
        #expect(j["status"] as? String == "incomplete" && output.count == 1)
        #expect(output.first?["type"] as? String == "reasoning" && output.first?["status"] as? String == "incomplete")
    }

    @Test func reasoningSentBackMustSitWithItsTurn() throws {
        let s = try server(["ok"])
        func post(_ input: String) throws -> RawResponse { try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"# + input + "}") }
        let r = #"{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"R"}]}"#
        let user = #"{"role":"user","content":"Q"}"#
        // Reasoning with no answer after it (a response cut short inside it) is an assistant turn of its own, as
        // previous_response_id replays it.
        #expect(try post("[\(user),\(r),\(user)]").status == 200)
        let replayed = ThinkingPrompter().decode(s.backend.submitted.last?.promptTokenIDs ?? [])
        #expect(replayed.hasPrefix("user:Q\nassistant:[r:R]\nuser:Q"))
        // A function call's output must answer a call of the conversation.
        let orphan = try post(#"[{"type":"function_call_output","call_id":"nope","output":"x"}]"#)
        #expect(orphan.status == 400 && (orphan.json["error"] as? [String: Any])?["param"] as? String == "input")
        let two = try post("[\(user),\(r),\(r)," + #"{"role":"assistant","content":"A"},{"role":"user","content":"Q2"}]"#)
        #expect(two.status == 200)
        let prompt = ThinkingPrompter().decode(s.backend.submitted.last?.promptTokenIDs ?? [])
        #expect(prompt.contains("assistant:[r:R\nR]A"))
        // Chat: reasoning belongs to assistant messages; Jinja's own globals are not variables to replace.
        let onUser = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"x","reasoning":"r"}]}"#)
        #expect((onUser.json["error"] as? [String: Any])?["param"] as? String == "messages[0].reasoning")
        let global = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"x"}],"chat_template_kwargs":{"namespace":1}}"#)
        #expect(global.status == 400)
    }

    @Test func parserNoneLeavesTheReasoningInTheContent() throws {
        let s = try server(Self.thought, reasoning: .none)
        let message = try #require(((s.request("POST", "/v1/chat/completions", body: ask + "}").json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
        #expect(message["content"] as? String == "Let me think.</think>\n\nParis." && message["reasoning_content"] == nil)
    }

    @Test func responsesHaveAReasoningItemFirst() throws {
        let s = try server(Self.thought)
        let body = #"{"model":"test-model","input":"Capital of France?""#
        let j = try s.request("POST", "/v1/responses", body: body + "}").json
        let output = try #require(j["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["reasoning", "message"])
        #expect((output[0]["content"] as? [[String: Any]])?.first?["text"] as? String == "Let me think.")
        #expect((output[1]["content"] as? [[String: Any]])?.first?["text"] as? String == "Paris.")
        #expect(((j["usage"] as? [String: Any])?["output_tokens_details"] as? [String: Int])?["reasoning_tokens"] == 2)
        // Streamed: the reasoning item is whole before the message opens at output 1.
        let streamed = try s.request("POST", "/v1/responses", body: body + #","stream":true}"#)
        var types: [String] = []
        for line in streamed.body.components(separatedBy: "\n") where line.hasPrefix("event: ") { types.append(String(line.dropFirst(7))) }
        #expect(types == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                          "response.reasoning_text.delta", "response.reasoning_text.delta", "response.reasoning_text.done",
                          "response.content_part.done", "response.output_item.done", "response.output_item.added", "response.content_part.added",
                          "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"])
        // The next turn replays the reasoning with the answer; a reasoning item sent back joins the turn after it.
        let next = #"{"model":"test-model","previous_response_id":"\#(j["id"] as? String ?? "")","input":"And Spain?"}"#
        #expect(try s.request("POST", "/v1/responses", body: next).status == 200)
        #expect(ThinkingPrompter().decode(s.backend.submitted[2].promptTokenIDs).contains("assistant:[r:Let me think.]Paris.\nuser:And Spain?"))
        let items = #"{"model":"test-model","input":[{"role":"user","content":"Q"},{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"R"}]},"# +
            #"{"role":"assistant","content":"A"},{"role":"user","content":"Q2"}]}"#
        #expect(try s.request("POST", "/v1/responses", body: items).status == 200)
        #expect(ThinkingPrompter().decode(s.backend.submitted[3].promptTokenIDs).hasPrefix("user:Q\nassistant:[r:R]A\nuser:Q2"))
    }
}

/// Real templates (Tests/Fixtures/jinja/templates): which write think blocks, and where each leaves the output.
@Suite struct ReasoningTemplateTests {
    func render(_ name: String, _ extra: [String: JinjaValue] = [:], user content: String = "hi") throws -> (thinks: Bool, start: ReasoningStart) {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/jinja/templates")
        let source = try String(contentsOf: dir.appendingPathComponent(name + ".jinja"), encoding: .utf8)
        let template = try ChatTemplate(source: source)
        let user = JinjaValue.object(JinjaObject([("role", .string("user")), ("content", .string(content))]))
        // As TemplatePrompter.reasoningStart: only what the generation prompt adds counts.
        let text = try template.render(messages: [user], addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>", extra: extra)
        let without = try template.render(messages: [user], addGenerationPrompt: false, bosToken: "<s>", eosToken: "</s>", extra: extra)
        #expect(text.hasPrefix(without))
        return (source.contains(ReasoningStart.close), ReasoningStart.of(promptTail: String(text.dropFirst(without.count))))
    }

    @Test func thinkingTemplatesAndWhereTheOutputStarts() throws {
        // DeepSeek-R1 (llama.cpp's copy reads enable_thinking; without it the block is closed at once).
        #expect(try render("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", ["enable_thinking": .bool(true)]) == (true, .inside))
        #expect(try render("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B") == (true, .closed))
        // DeepSeek-V3.1: `thinking` opens the block; by default it is closed.
        #expect(try render("deepseek-ai-DeepSeek-V3.1", ["thinking": .bool(true)]) == (true, .inside))
        #expect(try render("deepseek-ai-DeepSeek-V3.1") == (true, .closed))
        // Qwen3: the model opens the block itself; enable_thinking false writes an empty one.
        #expect(try render("Qwen-Qwen3-0.6B") == (true, .mayOpen))
        #expect(try render("Qwen-Qwen3-0.6B", ["enable_thinking": .bool(false)]) == (true, .closed))
        // QwQ opens it in the prompt (llama.cpp's copy closes it unless enable_thinking).
        #expect(try render("Qwen-QwQ-32B", ["enable_thinking": .bool(true)]) == (true, .inside))
        #expect(try render("Qwen-QwQ-32B") == (true, .closed))
        // Models that do not think.
        #expect(try render("HuggingFaceTB-SmolLM2-ChatML").thinks == false)
        // A user's own text about the tags changes nothing: only the generation prompt counts.
        #expect(try render("Qwen-Qwen3-0.6B", [:], user: "What does the <think> tag do?") == (true, .mayOpen))
    }
}
