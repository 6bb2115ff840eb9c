import Foundation
import Testing
import Tokenizer
@testable import OpenAIAPI

/// Continuing a final assistant message (vLLM's continue_final_message, Anthropic's prefill) as Hugging Face's
/// apply_chat_template(continue_final_message=True) renders it.
@Suite struct ContinuationPromptTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    func prompter(_ template: String) throws -> TemplatePrompter {
        let source = try String(contentsOf: Self.fixtures.appendingPathComponent("jinja/templates/\(template).jinja"), encoding: .utf8)
        let tokenizer = try BPETokenizer(definition: TokenizerDefinition(directory: Self.fixtures.appendingPathComponent("models/serving")))
        return TemplatePrompter(template: try ChatTemplate(source: source), tokenizer: tokenizer)
    }

    @Test func theFinalMessageIsCutAfterItsText() throws {
        let p = try prompter("Qwen-Qwen3-0.6B")
        let messages = [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello, I")]
        let (tokens, start) = try p.continuationPrompt(for: messages, tools: nil, variables: [:])
        // The whole conversation as rendered, up to the end of the final message's text (its <|im_end|> cut).
        let turn = "<|im_start|>assistant\n<think>\n\n</think>\n\nHello, I"
        let full = try p.render(messages, addGenerationPrompt: false)
        #expect(full.hasSuffix(turn + "<|im_end|>\n"), "\(full)")
        #expect(tokens == p.encode(String(full.dropLast("<|im_end|>\n".count))))
        // Qwen3's template writes an empty think block before a final answer: the continuation is past the reasoning.
        #expect(start == .closed)
        #expect(throws: ContinuationError.self) { try p.continuationPrompt(for: [ChatMessage(role: "user", content: "Hi")], tools: nil, variables: [:]) }
        // A template that changes the text (here: one that never shows assistant turns) cannot be continued.
        let hidden = TemplatePrompter(template: try ChatTemplate(source: "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"),
                                      tokenizer: p.tokenizer)
        #expect(throws: ContinuationError.self) { try hidden.continuationPrompt(for: messages, tools: nil, variables: [:]) }
    }

    @Test func chatCompletionsContinueTheFinalMessageAsVLLM() throws {
        func chat(_ extra: String) throws(APIError) -> ChatCompletionRequest {
            try ChatCompletionRequest.parse(Array((#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]"# + extra + "}").utf8))
        }
        #expect(try chat(#","continue_final_message":true,"add_generation_prompt":false"#).continueFinalMessage)
        #expect(try !chat("").continueFinalMessage)
        for (extra, param) in [(#","continue_final_message":true"#, "add_generation_prompt"), (#","add_generation_prompt":false"#, "add_generation_prompt")] {
            do { _ = try chat(extra); Issue.record("accepted \(extra)") } catch { #expect(error.param == param) }
        }
    }

    /// /tokenize counts what a chat request with continue_final_message would run.
    @Test func tokenizeCountsTheContinuedPrompt() throws {
        let p = try prompter("Qwen-Qwen2.5-7B-Instruct")
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), contextLength: 4000, prompter: p)
        let messages = #"[{"role":"user","content":"Capital of France?"},{"role":"assistant","content":"The capital is"}]"#
        _ = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","max_tokens":2,"continue_final_message":true,"add_generation_prompt":false,"messages":"# + messages + "}")
        let t = try s.request("POST", "/tokenize", body: #"{"continue_final_message":true,"add_generation_prompt":false,"messages":"# + messages + "}")
        #expect(t.json["tokens"] as? [Int] == s.backend.submitted.first?.promptTokenIDs && s.backend.submitted.count == 1)
        let plain = try s.request("POST", "/tokenize", body: #"{"messages":"# + messages + "}")
        #expect((plain.json["count"] as? Int ?? 0) > (t.json["count"] as? Int ?? 0))
    }
}
