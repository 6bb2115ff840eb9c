import Foundation
import Testing
import Tokenizer

/// One conversation from `chat_cases.json`, rendered by Python with HF's settings.
struct JinjaChatCase: Sendable, CustomTestStringConvertible {
    var name: String
    var templateFile: String
    var messages: [JinjaValue]
    var tools: [JinjaValue]?
    var addGenerationPrompt: Bool
    var bosToken: String?
    var eosToken: String?
    var extra: [String: JinjaValue]
    var expected: String?
    /// Why this engine knowingly differs from jinja2 here (see Tests/Fixtures/jinja/README.md).
    var knownDeviation: String?

    var testDescription: String { name }

    /// The priority templates, many conversations each.
    static let all = load("chat_cases.json")
    /// Every other template in the fixtures, a few conversations each.
    static let breadth = load("chat_breadth_cases.json")

    static func load(_ file: String) -> [JinjaChatCase] {
        JinjaFixtures.load(file).map(JinjaChatCase.init)
    }

    init(_ object: JinjaObject) {
        var tools: [JinjaValue]?
        if case .array(let t)? = object["tools"] { tools = t }
        var messages: [JinjaValue] = []
        if case .array(let m)? = object["messages"] { messages = m }
        name = JinjaFixtures.string(object, "name") ?? "?"
        templateFile = JinjaFixtures.string(object, "template_file") ?? ""
        self.messages = messages
        self.tools = tools
        addGenerationPrompt = JinjaFixtures.bool(object, "add_generation_prompt")
        bosToken = JinjaFixtures.string(object, "bos_token")
        eosToken = JinjaFixtures.string(object, "eos_token")
        extra = JinjaFixtures.dictionary(object["extra"])
        expected = JinjaFixtures.bool(object, "error") ? nil : JinjaFixtures.string(object, "expected")
        knownDeviation = JinjaFixtures.string(object, "known_deviation")
    }
}

@Suite("Chat templates vs HF apply_chat_template")
struct JinjaChatTemplateTests {
    /// Each template file parsed once (nil when it fails to load or parse).
    static let templates: [String: Result<ChatTemplate, any Error>] = Dictionary(
        uniqueKeysWithValues: Set((JinjaChatCase.all + JinjaChatCase.breadth).map(\.templateFile)).map { file in
            (file, Result { try load(file) })
        })

    static func load(_ file: String) throws -> ChatTemplate {
        let url = JinjaFixtures.directory.appendingPathComponent("templates").appendingPathComponent(file)
        let source = try String(contentsOf: url, encoding: .utf8)
        return try ChatTemplate(source: source, now: { JinjaFixtures.fixedNow })
    }

    static func template(_ file: String) throws -> ChatTemplate {
        try (templates[file] ?? Result { try load(file) }).get()
    }

    @Test("fixtures are present")
    func fixturesLoaded() {
        #expect(JinjaChatCase.breadth.count >= 250)
        let files = Set(JinjaChatCase.all.map(\.templateFile))
        #expect(files.count >= 6, "missing \(JinjaFixtures.directory.path)/chat_cases.json?")
        for file in files {
            #expect(JinjaChatCase.all.filter { $0.templateFile == file && $0.expected != nil }.count >= 10, "\(file)")
        }
        // The families issue 5 names: DeepSeek-V3/R1, Qwen2.5/Qwen3, Mistral, Llama-3.x, ChatML/SmolLM.
        for family in ["DeepSeek-V3", "DeepSeek-R1", "Qwen2.5", "Qwen3", "Mistral", "Llama-3.1", "Llama-3.2", "Llama-3.3", "SmolLM"] {
            #expect(files.contains { $0.contains(family) }, "\(family)")
        }
        // …with tool calls and tool results among the rendered conversations.
        #expect(JinjaChatCase.all.contains { $0.name.contains("tool_call_roundtrip") && $0.expected != nil })
    }

    @Test("renders byte-for-byte like HF", arguments: JinjaChatCase.all)
    func chatCase(_ testCase: JinjaChatCase) throws {
        try check(testCase)
    }

    @Test("breadth: every other template renders like HF", arguments: JinjaChatCase.breadth)
    func breadthCase(_ testCase: JinjaChatCase) throws {
        guard let deviation = testCase.knownDeviation else { return try check(testCase) }
        withKnownIssue(Comment(rawValue: deviation), isIntermittent: true) { try check(testCase) }
    }

    private func check(_ testCase: JinjaChatCase) throws {
        let template = try JinjaChatTemplateTests.template(testCase.templateFile)
        let result = Result {
            try template.render(messages: testCase.messages, addGenerationPrompt: testCase.addGenerationPrompt,
                                bosToken: testCase.bosToken, eosToken: testCase.eosToken,
                                tools: testCase.tools, extra: testCase.extra)
        }
        switch (testCase.expected, result) {
        case (let expected?, .success(let actual)):
            #expect(actual == expected, "\(testCase.name): \(JinjaFixtures.mismatch(expected: expected, actual: actual))")
        case (let expected?, .failure(let error)):
            Issue.record("\(testCase.name): expected \(String(reflecting: expected)), threw \(error)")
        case (nil, .success(let actual)):
            Issue.record("\(testCase.name): HF fails but rendered \(String(reflecting: actual))")
        case (nil, .failure(let error)):
            #expect(error is JinjaError)
        }
    }

    @Test("SmolLM2 ChatML prompt")
    func smolLM2() throws {
        let template = try JinjaChatTemplateTests.template("HuggingFaceTB-SmolLM2-ChatML.jinja")
        let prompt = try template.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true,
                                         bosToken: nil, eosToken: "<|im_end|>")
        #expect(prompt == """
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant

            """)
    }
}
