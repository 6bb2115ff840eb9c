@testable import Engine
import Foundation
import Testing
import Tokenizer
@testable import OpenAIAPI

private let weatherTool = #"{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name, e.g. Paris"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}"#
private let timeTool = #"{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"],"additionalProperties":false}}}"#

private func chat(_ extra: String, messages: String = #"[{"role":"user","content":"x"}]"#) throws(APIError) -> ChatCompletionRequest {
    try ChatCompletionRequest.parse(Array((#"{"model":"m","messages":"# + messages + (extra.isEmpty ? "" : ",") + extra + "}").utf8))
}

private func matches(_ g: OutputGrammar, _ text: String) -> Bool {
    var out = StructuredOutput(grammar: g, vocabulary: StructuredVocabulary(bytes: (0..<256).map { [UInt8($0)] }), stopTokenIDs: [999])
    for b in text.utf8 {
        guard out.allows(Int(b)) else { return false }
        out.advance(Int(b))
    }
    return out.allows(999)
}

@Suite struct ToolRequestTests {
    @Test func toolsAndChoiceAreParsed() throws {
        let r = try chat(#""tools":[\#(weatherTool),\#(timeTool)]"#)
        let tools = try #require(r.tools)
        #expect(tools.tools.map(\.name) == ["get_weather", "get_time"])
        #expect(tools.choice == .auto && tools.parallel)
        // The spec keeps the client's key order, for the template's tojson.
        #expect(tools.tools[0].spec.compactText == weatherTool)
        #expect(try chat(#""tools":[\#(weatherTool)],"tool_choice":"required","parallel_tool_calls":false"#).tools?.choice == .required)
        #expect(try chat(#""tools":[\#(weatherTool)],"tool_choice":{"type":"function","function":{"name":"get_weather"}}"#).tools?.choice
            == .named("get_weather"))
        #expect(try chat(#""tools":[],"tool_choice":"none""#).tools == nil)
        #expect(try chat(#""tools":[\#(weatherTool)],"tool_choice":"none""#).tools?.choice == ToolChoice.none)
    }

    static let refused: [(String, String)] = [
        (#""tools":{}"#, "tools"),
        (#""tools":[{"type":"retrieval"}]"#, "tools[0].type"),
        (#""tools":[{"type":"function"}]"#, "tools[0].function"),
        (#""tools":[{"type":"function","function":{"name":"a b"}}]"#, "tools[0].function.name"),
        (#""tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]"#, "tools[0].function.parameters"),
        (#""tools":[{"type":"function","function":{"name":"f","extra":1}}]"#, "tools[0].function.extra"),
        (#""tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]"#, "tools"),
        (#""tool_choice":"required""#, "tool_choice"),
        (#""tools":[\#(weatherTool)],"tool_choice":"always""#, "tool_choice"),
        (#""tools":[\#(weatherTool)],"tool_choice":{"type":"function","function":{"name":"nope"}}"#, "tool_choice.function.name"),
        (#""tools":[\#(weatherTool)],"tool_choice":"required","response_format":{"type":"json_object"}"#, "response_format"),
        (#""tools":[\#(weatherTool)],"parallel_tool_calls":"yes""#, "parallel_tool_calls"),
    ]

    @Test(arguments: refused)
    func refusesBadTools(extra: String, param: String) {
        do {
            _ = try chat(extra)
            Issue.record("accepted: \(extra)")
        } catch {
            #expect(error.status == 400)
            #expect(error.param == param, "\(extra): \(error.message)")
        }
    }

    @Test func messagesCarryToolCallsAndResults() throws {
        let messages = #"[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]},{"role":"tool","tool_call_id":"call1","content":"18"}]"#
        let r = try chat("", messages: messages)
        #expect(r.messages[1].contentIsNull)
        #expect(r.messages[1].toolCalls == [ChatToolCall(id: "call1", name: "get_weather",
                                                         arguments: .object([("city", .scalar(.string("Paris"))), ("unit", .scalar(.string("celsius")))]))])
        #expect(r.messages[2].toolCallID == "call1")
        for (bad, param) in [
            (#"[{"role":"tool","content":"18"}]"#, "messages[0].tool_call_id"),
            (#"[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]"#,
             "messages[0].tool_calls[0].function.arguments"),
            (#"[{"role":"user","content":"x","tool_calls":[]}]"#, "messages[0].tool_calls"),
        ] {
            #expect(throws: APIError.self) { try chat("", messages: bad) }
            do { _ = try chat("", messages: bad) } catch { #expect(error.param == param) }
        }
    }

    /// The Qwen2.5 template renders tools and a tool-call round trip exactly as Hugging Face does
    /// (the expected text is `apply_chat_template`'s, from Tests/Fixtures/jinja/chat_cases.json).
    @Test func templateRendersToolsAndCallsAsHuggingFace() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("jinja/chat_cases.json"))) as? [[String: Any]]
        let expected = try #require(cases?.first { ($0["name"] as? String) == "Qwen-Qwen2.5-7B-Instruct.jinja/tool_call_roundtrip/agp=True" }?["expected"] as? String)
        let source = try String(contentsOf: fixtures.appendingPathComponent("jinja/templates/Qwen-Qwen2.5-7B-Instruct.jinja"), encoding: .utf8)
        let tokenizer = try BPETokenizer(definition: TokenizerDefinition(directory: fixtures.appendingPathComponent("models/serving")))
        let prompter = TemplatePrompter(template: try ChatTemplate(source: source), tokenizer: tokenizer)
        #expect(prompter.toolCallFormat == .hermes)
        let messages = #"[{"role":"user","content":"What's the weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call12345","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},{"role":"tool","tool_call_id":"call12345","name":"get_weather","content":"{\"temperature\": 18, \"condition\": \"sunny\"}"},{"role":"assistant","content":"It is 18 °C and sunny in Paris."}]"#
        let r = try chat(#""tools":[\#(weatherTool)]"#, messages: messages)
        #expect(try prompter.render(r.messages, tools: r.tools?.tools.map(\.spec)) == expected)
    }

    /// Only templates that show the model its tools and write calls as the parsers read them get `auto`.
    @Test func formatsAreRecognisedFromTemplates() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/jinja/templates")
        let expected: [String: ToolCallFormat?] = [
            "Qwen-Qwen2.5-7B-Instruct": .hermes, "Qwen-Qwen3-0.6B": .hermes, "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": .hermes,
            "Qwen3-Coder": nil, "GLM-4.6": nil, "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": nil, "MiniMax-M3": nil,
            "deepseek-ai-DeepSeek-V3.1": nil, "llama-cpp-deepseek-r1": .deepseek,
            "deepseek-ai-DeepSeek-V3.2": .dsmlFunctionCalls, "deepseek-ai-DeepSeek-V4": .dsmlToolCalls,
            "deepseek-ai-DeepSeek-V4-Flash-0731": .dsmlToolCalls,
            "mistralai-Mistral-Nemo-Instruct-2407": .mistral, "Mistral-Small-3.2-24B-Instruct-2506": .mistral,
            "HuggingFaceTB-SmolLM2-ChatML": nil,
        ]
        for (name, format) in expected {
            let source = try String(contentsOf: dir.appendingPathComponent(name + ".jinja"), encoding: .utf8)
            #expect(ToolCallFormat.detect(template: source) == format, "\(name)")
        }
        let id = ToolCallID.make(mistral: true)
        #expect(id.count == 9 && id.allSatisfy { $0.isLetter || $0.isNumber })
    }

    @Test func onlyForcedCallsCompileTheParameters() throws {
        let minimum = #"{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}}}"#
        #expect(try chat(#""tools":[\#(minimum)]"#).tools?.forcedGrammar() == nil)   // auto: the template shows it as is
        let forced = try #require(try chat(#""tools":[\#(minimum)],"tool_choice":"required""#).tools)
        do {
            _ = try forced.forcedGrammar()
            Issue.record("compiled")
        } catch {
            #expect(error.param == "tools[0].function.parameters.properties.n.multipleOf")
        }
    }

    /// Each function's schema is its own root for $ref; no parameters or {} is any object; others must be objects.
    @Test func forcedArgumentsAreObjectsOfTheirOwnSchemas() throws {
        let tree = ##"{"type":"function","function":{"name":"node","parameters":{"$defs":{"Leaf":{"type":"object","properties":{"v":{"type":"integer"}},"required":["v"]}},"type":"object","properties":{"leaf":{"$ref":"#/$defs/Leaf"},"next":{"$ref":"#"}},"required":["leaf"],"additionalProperties":false}}}"##
        let bare = #"{"type":"function","function":{"name":"ping","parameters":{}}}"#
        let tools = try #require(try chat(#""tools":[\#(tree),\#(bare)],"tool_choice":"required""#).tools)
        let g = try #require(try tools.forcedGrammar())
        #expect(matches(g, #"[{"name":"node","parameters":{"leaf":{"v":1},"next":{"leaf":{"v":2}}}},{"name":"ping","parameters":{"any":[1]}}]"#))
        #expect(!matches(g, #"[{"name":"node","parameters":{"leaf":{"v":1},"next":[{"name":"node"}]}}]"#))
        #expect(!matches(g, #"[{"name":"ping","parameters":3}]"#))
        let string = #"{"type":"function","function":{"name":"s","parameters":{"type":"string"}}}"#
        let named = try #require(try chat(#""tools":[\#(string)],"tool_choice":{"type":"function","function":{"name":"s"}}"#).tools)
        do { _ = try named.forcedGrammar(); Issue.record("compiled") } catch { #expect(error.param == "tools[0].function.parameters") }
        // Enum or const values that are objects describe objects.
        let choices = #"{"type":"function","function":{"name":"c","parameters":{"enum":[{"a":1},{"a":2}]}}}"#
        let c = try #require(try chat(#""tools":[\#(choices)],"tool_choice":{"type":"function","function":{"name":"c"}}"#).tools)
        #expect(try c.forcedGrammar() != nil)
        // 128 functions of 12 properties each fit together.
        let props = (0..<12).map { #""p\#($0)":{"type":"string"}"# }.joined(separator: ",")
        let many = (0..<128).map { #"{"type":"function","function":{"name":"f\#($0)","parameters":{"type":"object","properties":{\#(props)}}}}"# }
        let all = try #require(try chat(#""tools":[\#(many.joined(separator: ","))],"tool_choice":"required""#).tools)
        #expect(try all.forcedGrammar()?.problem == nil)
    }

    @Test func forcedCallsAreGrammars() throws {
        let named = try #require(try chat(#""tools":[\#(weatherTool),\#(timeTool)],"tool_choice":{"type":"function","function":{"name":"get_time"}}"#).tools)
        let g = try #require(try named.forcedGrammar())
        #expect(matches(g, #"{"zone": "UTC"}"#))
        #expect(!matches(g, #"{"city": "Paris"}"#))
        let required = try #require(try chat(#""tools":[\#(weatherTool),\#(timeTool)],"tool_choice":"required""#).tools)
        let r = try #require(try required.forcedGrammar())
        #expect(matches(r, #"[{"name":"get_weather","parameters":{"city":"Paris"}},{"name":"get_time","parameters":{"zone":"UTC"}}]"#))
        #expect(!matches(r, #"[]"#))
        #expect(!matches(r, #"[{"name":"get_date","parameters":{}}]"#))
        let single = try #require(try chat(#""tools":[\#(weatherTool)],"tool_choice":"required","parallel_tool_calls":false"#).tools)
        let s = try #require(try single.forcedGrammar())
        #expect(matches(s, #"[{"name":"get_weather","parameters":{"city":"Paris"}}]"#))
        #expect(!matches(s, #"[{"name":"get_weather","parameters":{"city":"Paris"}},{"name":"get_weather","parameters":{"city":"Rome"}}]"#))
    }
}

private func auto(_ format: ToolCallFormat, parallel: Bool = true) -> ToolOutput {
    .auto(format, names: ["get_weather", "get_time", "function"], parallel: parallel)
}

@Suite struct ToolCallOutputTests {
    @Test func formatsAreReadFromTheirText() {
        let hermes = auto(.hermes).extract("Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": \"{\\\"zone\\\": \\\"UTC\\\"}\"}\n</tool_call>")
        #expect(hermes.content == "Let me look.\n")
        #expect(hermes.calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#),
                                 ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        let v31 = auto(.deepseek).extract("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
        #expect(v31.content == nil && v31.calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        let v3 = auto(.deepseek).extract("Sure<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
        #expect(v3.content == "Sure" && v3.calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        // A V3.1 call to a function named "function" is not V3's fenced form.
        #expect(auto(.deepseek).extract("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{\"x\": 1}<｜tool▁call▁end｜>").calls
            == [ParsedToolCall(name: "function", arguments: #"{"x":1}"#)])
        // Mistral Small 3.2 / Devstral: NAME[ARGS]{…} per marker, a call id optional.
        let small = auto(.mistral).extract("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[CALL_ID]a1b2c3d4e[ARGS]{\"zone\": \"UTC\"}")
        #expect(small.calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#),
                                ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        // Hermes with "parameters" for "arguments"; without parallel calls, the first call only.
        let one = auto(.hermes, parallel: false).extract("<tool_call>{\"name\": \"get_time\", \"parameters\": {\"zone\": \"UTC\"}}</tool_call><tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>")
        #expect(one.calls == [ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        // Not calls: arguments that are no object, a function that was not offered.
        for text in ["<tool_call>{\"name\": \"get_time\", \"arguments\": null}</tool_call>", "<tool_call>{\"name\": \"get_time\"}</tool_call>",
                     "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>"] {
            #expect(auto(.hermes).extract(text).calls.isEmpty && auto(.hermes).extract(text).content == text, "\(text)")
        }
        let mistral = auto(.mistral).extract("[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}]")
        #expect(mistral.calls == [ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        let required = ToolOutput.required.extract(#"[{"name": "get_time", "parameters": {"zone": "UTC"}}]"#)
        #expect(required.content == nil && required.calls == [ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        #expect(ToolOutput.named("get_time").extract(" {\"zone\": \"UTC\"}\n").calls == [ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#)])
        // Cut short (by a stop string): text, not a call.
        #expect(ToolOutput.named("get_time").extract("{\"zone\": \"U").calls.isEmpty)
        // Text without calls, or with calls that do not parse, stays content, whole.
        #expect(auto(.hermes).extract("Just text.").calls.isEmpty)
        let broken = "Hmm <tool_call>{\"name\": \"f\", \"arguments\": {oops}</tool_call>"
        #expect(auto(.hermes).extract(broken).content == broken && auto(.hermes).extract(broken).calls.isEmpty)
    }

    /// DeepSeek-V3.2's and V4's DSML calls, as their templates write past calls (chat_breadth_cases.json: transformers'
    /// rendering of a call with arguments {"city": "Paris", "unit": "celsius"}) and as a model may write them.
    @Test(arguments: [("deepseek-ai-DeepSeek-V3.2", ToolCallFormat.dsmlFunctionCalls), ("deepseek-ai-DeepSeek-V4", .dsmlToolCalls),
                      ("deepseek-ai-DeepSeek-V4-Flash-0731", .dsmlToolCalls)])
    func dsmlCallsAreReadAsTheirTemplatesWriteThem(template: String, format: ToolCallFormat) throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("jinja/chat_breadth_cases.json"))) as? [[String: Any]]
        let rendered = try #require(cases?.first { ($0["name"] as? String) == "\(template).jinja/tool_call_roundtrip/agp=True" }?["expected"] as? String)
        let start = try #require(rendered.range(of: format.marker, options: .backwards))   // (the tools header shows one first)
        let end = try #require(rendered.range(of: "</" + format.marker.dropFirst(), range: start.upperBound..<rendered.endIndex))
        let written = String(rendered[start.lowerBound..<end.upperBound])
        let read = auto(format).extract("I'll check." + written)
        #expect(read.content == "I'll check.")
        #expect(read.calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris","unit":"celsius"}"#)])
    }

    @Test func dsmlValuesAreStringsOrJSON() {
        let open = ToolCallFormat.dsmlFunctionCalls.marker
        func p(_ key: String, _ string: Bool, _ value: String) -> String {
            "<｜DSML｜parameter name=\"\(key)\" string=\"\(string)\">\(value)</｜DSML｜parameter>\n"
        }
        func invoke(_ name: String, _ body: String) -> String { "<｜DSML｜invoke name=\"\(name)\">\n\(body)</｜DSML｜invoke>\n" }
        // Strings as written (quotes, backslashes, newlines and edge spaces kept); others as JSON, key order kept;
        // a value that is no JSON stays a string; a second call; an invoke holding one JSON object.
        let text = open + "\n" + invoke("get_weather", p("zone", true, " a \"b\"\\c\nd ") + p("days", false, "3") + p("opts", false, "{\"b\": [1, 2.5], \"a\": null}")
                                   + p("flag", false, " true ") + p("loose", false, "not json")) + invoke("get_time", "{\"zone\": \"UTC\"}\n")
            + invoke("get_time", "") + "</｜DSML｜function_calls>"
        // Attributes spaced another way, and a parameter without `string` (JSON if it parses).
        let spaced = open + "<｜DSML｜invoke  name = \"get_time\" >\n<｜DSML｜parameter string=\"true\"  name=\"zone\">UTC</｜DSML｜parameter>\n"
            + "<｜DSML｜parameter name=\"offset\">2</｜DSML｜parameter></｜DSML｜invoke>"
        #expect(auto(.dsmlFunctionCalls).extract(spaced).calls == [ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC","offset":2}"#)])
        #expect(auto(.dsmlFunctionCalls).extract(text).calls == [
            ParsedToolCall(name: "get_weather", arguments: #"{"zone":" a \"b\"\\c\nd ","days":3,"opts":{"b":[1,2.5],"a":null},"flag":true,"loose":"not json"}"#),
            ParsedToolCall(name: "get_time", arguments: #"{"zone":"UTC"}"#), ParsedToolCall(name: "get_time", arguments: "{}")])
        // Not calls (the text stays content, whole): cut short inside an invoke, a parameter without its end, the same
        // argument twice, text between parameters, an undeclared function, V4's block for V3.2's, a tag whose name
        // runs on, a repeated or missing name, an unquoted value.
        for broken in [open + invoke("get_time", p("zone", true, "UTC")).dropLast(20), open + invoke("get_time", "<｜DSML｜parameter name=\"zone\" string=\"true\">UTC\n"),
                       open + invoke("get_time", p("zone", true, "UTC") + p("zone", true, "CET")), open + invoke("get_time", p("zone", true, "UTC") + "and " + p("x", false, "1")),
                       open + invoke("rm_rf", ""), ToolCallFormat.dsmlToolCalls.marker + invoke("get_time", ""),
                       open + "<｜DSML｜invoker name=\"get_time\"></｜DSML｜invoke>", open + "<｜DSML｜invoke name=\"get_time\" name=\"x\"></｜DSML｜invoke>",
                       open + "<｜DSML｜invoke nam=\"get_time\"></｜DSML｜invoke>", open + "<｜DSML｜invoke name=get_time></｜DSML｜invoke>"] {
            let read = auto(.dsmlFunctionCalls).extract(String(broken))
            #expect(read.calls.isEmpty && read.content == String(broken), "\(broken)")
        }
    }

    /// However the text is split into tokens, the stream sends the content before the calls and holds the rest.
    @Test func streamFilterHoldsBackOnlyWhatMayBeACall() {
        let text = "Checking <tool it.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
        let scalars = Array(text.unicodeScalars)
        for cut in stride(from: 1, to: scalars.count, by: 3) {
            let filter = ToolStreamFilter(output: auto(.hermes))
            var sent = filter.feed(0, String(String.UnicodeScalarView(scalars[..<cut])))
            sent += filter.feed(0, String(String.UnicodeScalarView(scalars[cut...])))
            let (rest, calls) = filter.finish(0, stopped: true)
            #expect(sent + rest == "Checking <tool it.", "cut \(cut)")
            #expect(calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        }
        // No call: everything goes out, the held tail at the end.
        let plain = ToolStreamFilter(output: auto(.hermes))
        let head = plain.feed(1, "a <tool")
        #expect(head == "a ")
        #expect(plain.finish(1, stopped: true) == ("<tool", []))
        // Cut short by the length limit: what was held goes out as text, no calls.
        let cut = ToolStreamFilter(output: .required)
        #expect(cut.feed(2, "[{\"name\": \"get_") == "")
        #expect(cut.finish(2, stopped: false) == ("[{\"name\": \"get_", []))
    }
}

/// A prompter whose template writes hermes tool calls.
private struct HermesPrompter: ChatPrompting {
    let inner = CountingPrompter()
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { try inner.promptTokens(for: messages) }
    func tokenBytes(_ id: Int) -> [UInt8] { inner.tokenBytes(id) }
    func encode(_ text: String) -> [Int] { inner.encode(text) }
    func decode(_ ids: [Int]) -> String { inner.decode(ids) }
    var toolCallFormat: ToolCallFormat? { .hermes }
}

/// Counts one token per message character plus 100 per tool shown.
private struct ToolCountingPrompter: ChatPrompting {
    let inner = CountingPrompter()
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { try inner.promptTokens(for: messages) }
    func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?) throws -> [Int] {
        try inner.promptTokens(for: messages) + Array(repeating: 2, count: 100 * (tools?.count ?? 0))
    }
    func tokenBytes(_ id: Int) -> [UInt8] { inner.tokenBytes(id) }
    func encode(_ text: String) -> [Int] { inner.encode(text) }
    func decode(_ ids: [Int]) -> String { inner.decode(ids) }
}

@Suite struct ToolCallResponseTests {
    /// Streamed with tool_choice auto, text held back as a possible call goes out with its tokens' logprobs: each
    /// chunk carries the logprobs of the tokens whose text it sends, and no chunk carries logprobs without text.
    @Test func heldTextKeepsItsLogprobs() throws {
        // "<" may begin "<tool_call>": held until "b>" shows it does not.
        let server = try TestServer(backend: ScriptedBackend(texts: ["Hi ", "<", "b>", "!"]), prompter: HermesPrompter())
        let r = try server.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"x"}],"stream":true,"# +
                                   #""logprobs":true,"tools":[\#(weatherTool)]}"#)
        let choices = r.events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { ($0["choices"] as? [[String: Any]])?.first }
        var pairs: [(String, Int)] = []
        for c in choices where c["finish_reason"] is NSNull {
            let text = (c["delta"] as? [String: Any])?["content"] as? String ?? ""
            let n = ((c["logprobs"] as? [String: Any])?["content"] as? [Any])?.count ?? 0
            if !text.isEmpty || n > 0 { pairs.append((text, n)) }
        }
        #expect(pairs.map(\.0) == ["Hi ", "<b>", "!"] && pairs.map(\.1) == [1, 2, 1], "\(pairs)")
    }

    /// /tokenize counts the prompt a chat request with these tools would get.
    @Test func tokenizeShowsTheToolsToo() throws {
        let server = try TestServer(backend: ScriptedBackend(texts: []), prompter: ToolCountingPrompter())
        func count(_ extra: String) throws -> Int? {
            let r = try server.request("POST", "/tokenize", body: #"{"messages":[{"role":"user","content":"hi"}]"# + extra + "}")
            return (try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])?["count"] as? Int
        }
        #expect(try count("") == 3)
        #expect(try count(#","tools":[\#(weatherTool),\#(timeTool)]"#) == 203)
    }

    let call = ["I will check.", "\n<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"]

    func body(_ extra: String) -> String {
        #"{"model":"test-model","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[\#(weatherTool)]"# + extra + "}"
    }

    @Test func autoCallsComeBackAsToolCalls() throws {
        let server = try TestServer(backend: ScriptedBackend(texts: call), prompter: HermesPrompter())
        let r = try server.request("POST", "/v1/chat/completions", body: body(""))
        #expect(r.status == 200)
        // The format's markers may be special tokens: auto keeps their text unless the client says otherwise.
        #expect(server.backend.submitted.first?.sampling.skipSpecialTokens == false)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        let choice = try #require((json["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "tool_calls")
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["content"] as? String == "I will check.\n")   // as streamed
        let calls = try #require(message["tool_calls"] as? [[String: Any]])
        #expect(calls.count == 1)
        #expect((calls[0]["id"] as? String)?.hasPrefix("call_") == true)
        let function = try #require(calls[0]["function"] as? [String: Any])
        #expect(function["name"] as? String == "get_weather" && function["arguments"] as? String == #"{"city":"Paris"}"#)
    }

    @Test func streamedCallsArriveAsOneDeltaBeforeTheFinish() throws {
        let server = try TestServer(backend: ScriptedBackend(texts: call), prompter: HermesPrompter())
        let r = try server.request("POST", "/v1/chat/completions", body: body(#","stream":true"#))
        let events = r.body.components(separatedBy: "\n\n").compactMap { block -> [String: Any]? in
            guard block.hasPrefix("data: {") else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(block.dropFirst(6).utf8)) as? [String: Any]
        }
        let deltas = events.compactMap { (($0["choices"] as? [[String: Any]])?.first) }
        let content = deltas.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        #expect(content == "I will check.\n")
        let callDeltas = deltas.compactMap { ($0["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]] }
        #expect(callDeltas.count == 1)
        #expect((callDeltas.first?.first?["function"] as? [String: Any])?["arguments"] as? String == #"{"city":"Paris"}"#)
        #expect(deltas.last?["finish_reason"] as? String == "tool_calls")
    }

    /// tool_choice auto with a response format: the model writes the value, or calls in its own format instead.
    @Test func autoWithAResponseFormatLetsTheModelCallOrAnswer() throws {
        let format = #","response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object","properties":{"t":{"type":"number"}},"required":["t"]}}}"#
        let calling = try TestServer(backend: ScriptedBackend(texts: call.dropFirst().map { $0 }), prompter: HermesPrompter())
        let r = try calling.request("POST", "/v1/chat/completions", body: body(format))
        #expect(r.status == 200, "\(r.body)")
        let sampling = try #require(calling.backend.submitted.first?.sampling)
        #expect(sampling.grammar != nil && sampling.grammarMarkers == [GrammarMarker("<tool_call>", then: .free)])
        let message = try #require(((r.json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
        #expect(((message["tool_calls"] as? [[String: Any]])?.first?["function"] as? [String: Any])?["name"] as? String == "get_weather")
        let answering = try TestServer(backend: ScriptedBackend(texts: [#"{"t": 21.5}"#]), prompter: HermesPrompter())
        let a = try answering.request("POST", "/v1/chat/completions", body: body(format))
        let answer = try #require(((a.json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
        #expect(answer["content"] as? String == #"{"t": 21.5}"# && answer["tool_calls"] == nil)
        // The Responses API takes the same pair (an Agents SDK agent with tools and an output type).
        let responses = try TestServer(backend: ScriptedBackend(texts: call.dropFirst().map { $0 }), prompter: HermesPrompter())
        let resp = try responses.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Weather?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}}}"#)
        #expect(resp.status == 200, "\(resp.body)")
        #expect((resp.json["output"] as? [[String: Any]])?.compactMap { $0["type"] as? String }.contains("function_call") == true)
        #expect(responses.backend.submitted.first?.sampling.grammarMarkers.count == 1)
    }

    /// Whitespace before the calls is no content: not in the whole answer, not streamed, no Responses message.
    @Test func whitespaceBeforeCallsIsNotContent() throws {
        let texts = [" ", "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"]
        let server = try TestServer(backend: ScriptedBackend(texts: texts), prompter: HermesPrompter())
        let whole = try server.request("POST", "/v1/chat/completions", body: body(""))
        #expect((((whole.json["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])?["content"] is NSNull)
        let streamed = try server.request("POST", "/v1/chat/completions", body: body(#","stream":true"#))
        #expect(!streamed.body.contains(#""content":" ""#) && !streamed.body.contains(#""content":"\n""#) && streamed.body.contains("tool_calls"))
        let resp = try server.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Weather?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]}"#)
        #expect((resp.json["output"] as? [[String: Any]])?.map { $0["type"] as? String } == ["function_call"], "\(resp.body)")
        // Text that is not a call keeps its whitespace.
        let plain = try TestServer(backend: ScriptedBackend(texts: [" ", " Hi"]), prompter: HermesPrompter())
        let s = try plain.request("POST", "/v1/chat/completions", body: body(#","stream":true"#))
        #expect(s.body.contains(#""content":"  Hi""#) || s.body.contains(#""content":" ""#), "\(s.body)")
    }

    @Test func autoNeedsAFormatAndForcedCallsConstrainTheEngine() throws {
        let plain = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let r = try plain.request("POST", "/v1/chat/completions", body: body(""))
        #expect(r.status == 400)
        #expect(r.body.contains("tool_choice"))
        let forced = try TestServer(backend: ScriptedBackend(texts: [#"[{"name":"get_weather","#, #""parameters":{"city":"Rome"}}]"#]))
        let f = try forced.request("POST", "/v1/chat/completions", body: body(#","tool_choice":"required""#))
        #expect(f.status == 200)
        #expect(forced.backend.submitted.first?.sampling.grammar != nil)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(f.body.utf8)) as? [String: Any])
        let message = try #require((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
        #expect(message["content"] is NSNull)
        let calls = try #require(message["tool_calls"] as? [[String: Any]])
        #expect((calls.first?["function"] as? [String: Any])?["arguments"] as? String == #"{"city":"Rome"}"#)
    }
}
