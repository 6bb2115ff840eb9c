import Foundation
import Testing
import Tokenizer

/// The GGUF's own chat template, rendered by our engine, equals what transformers'
/// `apply_chat_template` produced (Tests/Fixtures/smollm2/, scripts/reference/make_smollm2_fixtures.py).
@Suite struct SmolLM2ChatPromptTests {
    @Test func renderedPromptsMatchTransformersByteForByte() throws {
        let dir = TestPaths.fixtures.appendingPathComponent("smollm2")
        let source = try String(contentsOf: dir.appendingPathComponent("chat_template.jinja"), encoding: .utf8)
        let template = try ChatTemplate(source: source)
        let data = try Data(contentsOf: dir.appendingPathComponent("chat_prompts.json"))
        let cases = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(cases.count >= 8)
        for c in cases {
            let messages = try #require(c["messages"] as? [[String: Any]]).map { JinjaValue(any: $0) }
            let addPrompt = try #require(c["add_generation_prompt"] as? Bool)
            let expected = try #require(c["prompt"] as? String)
            let got = try template.render(messages: messages, addGenerationPrompt: addPrompt, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
            #expect(Array(got.utf8) == Array(expected.utf8), "\(messages)")
        }
    }
}
