@testable import Engine
import Foundation
import Testing
import Tokenizer
@testable import OpenAIAPI

private func parse(_ fields: String, counting: Bool = false) throws(APIError) -> MessagesRequest {
    try MessagesRequest.parse(Array(("{\"model\":\"m\"," + fields + "}").utf8), counting: counting)
}

private let weather = #"{"name":"get_weather","description":"Weather in a city.","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}"#

/// The transcript prompter with a template that writes hermes tool calls (`tool_choice` auto reads them).
private final class HermesTranscriptPrompter: ChatPrompting, @unchecked Sendable {
    let inner = TranscriptPrompter()
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { try inner.promptTokens(for: messages) }
    func tokenBytes(_ id: Int) -> [UInt8] { inner.tokenBytes(id) }
    func encode(_ text: String) -> [Int] { inner.encode(text) }
    func decode(_ ids: [Int]) -> String { inner.decode(ids) }
    var toolCallFormat: ToolCallFormat? { .hermes }
}

@Suite struct MessagesRequestTests {
    @Test func blocksBecomeChatMessages() throws {
        let r = try parse(#""max_tokens":9,"system":[{"type":"text","text":"x-anthropic-billing-header: cc=1;"},{"type":"text","text":"Be brief."},"# +
                          #"{"type":"text","text":"Use tools.","cache_control":{"type":"ephemeral"}}],"messages":["# +
                          #"{"role":"user","content":"Weather?"},{"role":"user","content":[{"type":"text","text":"In Oslo."}]},"# +
                          #"{"role":"assistant","content":[{"type":"thinking","thinking":"Look it up.","signature":"s"},{"type":"redacted_thinking","data":"xx"},"# +
                          #"{"type":"text","text":"Let me look."},{"type":"tool_use","id":"tu1","name":"get_weather","input":{"z":1,"city":"Oslo"}}]},"# +
                          #"{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":[{"type":"text","text":"3 C"}],"is_error":false},"# +
                          #"{"type":"text","text":"Thanks."}]}]"#)
        // The billing block is left out; consecutive user turns are one turn; the call's input keeps its key order.
        #expect(TranscriptPrompter.transcript(r.chat.messages) == """
            system:Be brief.
            Use tools.
            user:Weather?
            In Oslo.
            assistant:Let me look. call:get_weather({"z":1,"city":"Oslo"})#tu1
            tool#tu1:3 C
            user:Thanks.
            """)
        #expect(r.chat.messages[2].reasoningContent == "Look it up.")
        #expect(!r.prefill && r.chat.sampling.maxTokens == 9 && !r.chat.stream)
        // A call with no text is an assistant turn whose content is null.
        let call = try parse(#""max_tokens":9,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},"# +
                             #"{"role":"user","content":[{"type":"tool_result","tool_use_id":"a"}]}]"#)
        #expect(call.chat.messages[1].contentIsNull && call.chat.messages[2] == { var m = ChatMessage(role: "tool", content: ""); m.toolCallID = "a"; return m }())
    }

    /// What clients send beyond Anthropic's rules, read as vLLM reads it: system messages among the messages join the
    /// system prompt, Claude Code's `ctx` and `msg` roles are user turns, a tool's `defer_loading` shows it anyway.
    @Test func claudeCodesExtrasAreRead() throws {
        let r = try parse(#""max_tokens":9,"system":"A.","messages":[{"role":"system","content":[{"type":"text","text":"B."}]},"# +
                          #"{"role":"ctx","content":"Context."},{"role":"user","content":"Hi"}],"tools":[{"name":"f","input_schema":{"type":"object"},"defer_loading":true}]"#)
        #expect(TranscriptPrompter.transcript(r.chat.messages) == "system:A.\nB.\nuser:Context.\nHi")
        #expect(r.chat.tools?.tools.map(\.name) == ["f"])
    }

    /// Claude Code's billing line is left out, but not what follows it in the same block.
    @Test func onlyTheBillingLineIsLeftOut() throws {
        let r = try parse(#""max_tokens":9,"system":[{"type":"text","text":"x-anthropic-billing-header: cc=1;\nBe brief."}],"messages":[{"role":"user","content":"x"}]"#)
        #expect(r.chat.messages.first == ChatMessage(role: "system", content: "Be brief."))
    }

    @Test func aFinalAssistantMessageIsAPrefill() throws {
        let r = try parse(#""max_tokens":9,"messages":[{"role":"user","content":"Capital of France?"},{"role":"assistant","content":"The capital is"}]"#)
        #expect(r.prefill && r.chat.messages.last == ChatMessage(role: "assistant", content: "The capital is"))
        // An empty final assistant message asks for nothing: a new turn.
        let empty = try parse(#""max_tokens":9,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":""}]"#)
        #expect(!empty.prefill && empty.chat.messages.map(\.role) == ["user"])
    }

    @Test func settingsAreRead() throws {
        let r = try parse(#""max_tokens":50,"temperature":0.5,"top_p":0.9,"top_k":3,"stop_sequences":["END","@@"],"metadata":{"user_id":"u1"},"# +
                          #""stream":true,"seed":7,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"# +
                          #""tool_choice":{"type":"any","disable_parallel_tool_use":true},"service_tier":"auto","cache_control":{"type":"ephemeral"}"#)
        let s = r.chat.sampling
        #expect(s.maxTokens == 50 && s.temperature == 0.5 && s.topP == 0.9 && s.topK == 3 && s.stop == ["END", "@@"] && s.user == "u1" && s.seed == 7)
        #expect(r.chat.stream && r.chat.tools?.choice == .required && r.chat.tools?.parallel == false && r.chat.unknownFields.isEmpty)
        // The template sees the chat form of the tool.
        #expect(r.chat.tools?.tools[0].spec.compactText
            == #"{"type":"function","function":{"name":"get_weather","description":"Weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}"#)
        #expect(try parse(#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"tool_choice":{"type":"tool","name":"get_weather"}"#)
            .chat.tools?.choice == .named("get_weather"))
        // Thinking switches the template variables thinking templates read, unless chat_template_kwargs sets them.
        let thinking = try parse(#""max_tokens":2000,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":1024},"# +
                                 #""chat_template_kwargs":{"thinking":false}"#)
        #expect(thinking.chat.templateArguments == ["enable_thinking": .scalar(.bool(true)), "thinking": .scalar(.bool(false))])
        #expect(try parse(#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"adaptive"}"#).chat.templateArguments.isEmpty)
        let omitted = try parse(#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"disabled"},"output_config":{"effort":"low"}"#)
        #expect(omitted.chat.templateArguments["enable_thinking"] == .scalar(.bool(false)) && omitted.chat.templateArguments["reasoning_effort"] == .scalar(.string("low")))
        // Structured outputs are a grammar; count_tokens needs no max_tokens.
        #expect(try parse(#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}"#)
            .chat.sampling.grammar != nil)
        #expect(try parse(#""messages":[{"role":"user","content":"x"}]"#, counting: true).chat.sampling.maxTokens == nil)
    }

    static let refused: [(String, String)] = [
        (#""messages":[{"role":"user","content":"x"}]"#, "max_tokens"),
        (#""max_tokens":0,"messages":[{"role":"user","content":"x"}]"#, "max_tokens"),
        (#""max_tokens":5"#, "messages"),
        (#""max_tokens":5,"messages":[]"#, "messages"),
        (#""max_tokens":5,"messages":[{"role":"tool","content":"x"}]"#, "messages[0].role"),
        (#""max_tokens":5,"messages":[{"role":"system","content":"x"}]"#, "messages"),
        (#""max_tokens":5,"messages":[{"role":"user"}]"#, "messages[0].content"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"http://x"}}]}]"#, "messages[0].content[0].type"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}]"#, "messages[0].content[0].tool_use_id"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":[]}]}]"#,
         "messages[1].content[0].input"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Hi "}]"#, "messages"),
        (#""max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]"#, "temperature"),
        (#""max_tokens":5,"stop_sequences":[""],"messages":[{"role":"user","content":"x"}]"#, "stop_sequences[0]"),
        (#""max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]"#, "system[0].type"),
        (#""max_tokens":5,"metadata":{"user":"x"},"messages":[{"role":"user","content":"x"}]"#, "metadata.user"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]"#, "tools[0].type"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]"#, "tools[0].input_schema"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"tool_choice":{"type":"tool","name":"nope"}"#, "tool_choice.name"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"tool_choice":{"type":"sometimes"}"#, "tool_choice.type"),
        (#""max_tokens":2000,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":1024}"#,
         "tool_choice"),
        (#""max_tokens":1024,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":1024}"#, "max_tokens"),
        (#""max_tokens":5000,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":100}"#, "thinking.budget_tokens"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_config":{"effort":"extreme"}"#, "output_config.effort"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"output_format":{"type":"json_schema"}"#, "output_format.schema"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"container":"c1""#, "container"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"mcp_servers":[{"type":"url","url":"http://x","name":"m"}]"#, "mcp_servers"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"min_tokens":6"#, "min_tokens"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop":["a"]"#, "stop"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequence":"a""#, "stop_sequence"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"thread":{"type":"create"}"#, "thread"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[]}]"#, "messages[0].content"),
        (#""max_tokens":5,"messages":[{"role":"user","content":""},{"role":"user","content":"x"}]"#, "messages[0].content"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[]},{"role":"user","content":"y"}]"#, "messages[1].content"),
        // Every level refuses what it does not know, and text blocks hold text.
        (#""max_tokens":5,"messages":[{"role":"user","content":"x","foo":1}]"#, "messages[0].foo"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","foo":1}]}]"#, "messages[0].content[0].foo"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"bogus"}}]}]"#,
         "messages[0].content[0].cache_control.type"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1d"}}]}]"#,
         "messages[0].content[0].cache_control.ttl"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"none","foo":1}"#, "tool_choice.foo"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"disabled","budget_tokens":1024}"#, "thinking.budget_tokens"),
        (#""max_tokens":5,"system":[{"type":"text","text":"s","foo":1}],"messages":[{"role":"user","content":"x"}]"#, "system[0].foo"),
        (#""max_tokens":5,"cache_control":{"type":"bogus"},"messages":[{"role":"user","content":"x"}]"#, "cache_control.type"),
        (#""max_tokens":5,"speed":"turbo","messages":[{"role":"user","content":"x"}]"#, "speed"),
        (#""max_tokens":5,"workspace_id":7,"messages":[{"role":"user","content":"x"}]"#, "workspace_id"),
        (#""max_tokens":5,"diagnostics":{"x":1},"messages":[{"role":"user","content":"x"}]"#, "diagnostics.x"),
        (#""max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]"#, "messages[0].content[0]"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"   "}]"#, "messages[0].content"),
        (#""max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"text","text":" "}]},{"role":"user","content":"y"}]"#,
         "messages[1].content[0]"),
    ]

    @Test(arguments: refused)
    func refusesWhatItCannotDo(fields: String, param: String) {
        do {
            _ = try parse(fields)
            Issue.record("accepted: \(fields)")
        } catch {
            #expect(error.status == 400 && error.param == param, "\(fields): \(error)")
        }
    }
}

@Suite(.serialized) struct MessagesEndpointTests {
    let ask = #"{"model":"test-model","max_tokens":20,"messages":[{"role":"user","content":"Hi"}]"#

    func server(_ texts: [String], finish: FinishReason = .stop, stop: StopCause? = nil, cached: Int = 0, options: APIOptions = APIOptions(),
                prompter: any ChatPrompting = TranscriptPrompter()) throws -> TestServer {
        try TestServer(backend: ScriptedBackend(texts: texts, finish: finish, stop: stop, cached: cached), contextLength: 4000, options: options, prompter: prompter)
    }

    @Test func answersAMessage() throws {
        let s = try server(["Hel", "lo"], cached: 2)
        let r = try s.request("POST", "/v1/messages", body: ask + "}")
        #expect(r.status == 200)
        let j = r.json
        #expect((j["id"] as? String)?.hasPrefix("msg_") == true && j["type"] as? String == "message" && j["role"] as? String == "assistant")
        #expect(j["model"] as? String == "test-model" && j["stop_reason"] as? String == "end_turn" && j["stop_sequence"] is NSNull)
        #expect((j["content"] as? [[String: String]]) == [["type": "text", "text": "Hello"]])
        // The prompt "user:Hi" is 7 tokens, 2 of them from the prefix cache.
        let usage = try #require(j["usage"] as? [String: Any])
        #expect(usage["input_tokens"] as? Int == 5 && usage["cache_read_input_tokens"] as? Int == 2 && usage["cache_creation_input_tokens"] as? Int == 0)
        #expect(usage["output_tokens"] as? Int == 2)
        #expect(s.backend.submitted[0].sampling.maxTokens == 20)
    }

    @Test func namesTheStopSequenceAndTheLengthLimit() throws {
        let stopped = try server(["a"], stop: .string("END")).request("POST", "/v1/messages", body: ask + #","stop_sequences":["END"]}"#).json
        #expect(stopped["stop_reason"] as? String == "stop_sequence" && stopped["stop_sequence"] as? String == "END")
        let cut = try server(["a"], finish: .length).request("POST", "/v1/messages", body: ask + "}").json
        #expect(cut["stop_reason"] as? String == "max_tokens" && cut["stop_sequence"] is NSNull)
    }

    @Test func streamsEventsThatAddUpToTheWholeMessage() throws {
        let s = try server(["Hel", "lo", "!"], stop: .string("##"))
        let r = try s.request("POST", "/v1/messages", body: ask + #","stream":true}"#)
        #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let e = r.namedEvents
        #expect(e.map(\.0) == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
                               "content_block_stop", "message_delta", "message_stop"])
        #expect(e.allSatisfy { $0.0 == $0.1["type"] as? String })
        let start = try #require(e[0].1["message"] as? [String: Any])
        #expect((start["content"] as? [Any])?.isEmpty == true && start["stop_reason"] is NSNull && (start["usage"] as? [String: Any])?["input_tokens"] as? Int == 7)
        #expect(e.filter { $0.0 == "content_block_delta" }.compactMap { ($0.1["delta"] as? [String: Any])?["text"] as? String }.joined() == "Hello!")
        let delta = try #require(e[7].1["delta"] as? [String: Any])
        #expect(delta["stop_reason"] as? String == "stop_sequence" && delta["stop_sequence"] as? String == "##")
        #expect((e[7].1["usage"] as? [String: Any])?["output_tokens"] as? Int == 3)
    }

    @Test func toolCallsBecomeToolUseBlocks() throws {
        let texts = ["Checking.", "<tool_call>", #"{"name": "get_weather", "arguments": {"city": "Rome"}}"#, "</tool_call>"]
        let body = #"{"model":"test-model","max_tokens":50,"messages":[{"role":"user","content":"Weather?"}],"tools":[\#(weather)]"#
        let whole = try server(texts, prompter: HermesTranscriptPrompter()).request("POST", "/v1/messages", body: body + "}").json
        #expect(whole["stop_reason"] as? String == "tool_use")
        let content = try #require(whole["content"] as? [[String: Any]])
        #expect(content.count == 2 && content[0]["text"] as? String == "Checking." && content[1]["type"] as? String == "tool_use")
        #expect((content[1]["id"] as? String)?.hasPrefix("toolu_") == true && content[1]["name"] as? String == "get_weather")
        #expect((content[1]["input"] as? [String: String]) == ["city": "Rome"])
        let e = (try server(texts, prompter: HermesTranscriptPrompter()).request("POST", "/v1/messages", body: body + #","stream":true}"#)).namedEvents
        #expect(e.map(\.0) == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop", "content_block_start",
                               "content_block_delta", "content_block_stop", "message_delta", "message_stop"])
        let json = try #require((e[6].1["delta"] as? [String: Any])?["partial_json"] as? String)
        #expect(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String] == ["city": "Rome"])
        #expect(e[5].1["index"] as? Int == 1 && (e[8].1["delta"] as? [String: Any])?["stop_reason"] as? String == "tool_use")
    }

    @Test func reasoningIsAThinkingBlock() throws {
        let texts = ["Let me think", ".</think>", "\n\nParis."]
        let s = try TestServer(backend: ScriptedBackend(texts: texts), contextLength: 4000, options: APIOptions(reasoning: .auto), prompter: ThinkingPrompter())
        let j = try s.request("POST", "/v1/messages", body: ask + "}").json
        let content = try #require(j["content"] as? [[String: String]])
        #expect(content == [["type": "thinking", "thinking": "Let me think.", "signature": ""], ["type": "text", "text": "Paris."]])
        let e = (try s.request("POST", "/v1/messages", body: ask + #","stream":true}"#)).namedEvents
        let kinds = e.compactMap { ($0.1["delta"] as? [String: Any])?["type"] as? String }
        #expect(kinds.first == "thinking_delta" && kinds.last == "text_delta" && Set(kinds) == ["thinking_delta", "text_delta"], "\(kinds)")
        // display "omitted": the block is there, its text is not.
        let omitted = try s.request("POST", "/v1/messages", body: ask + #","thinking":{"type":"adaptive","display":"omitted"}}"#).json
        #expect((omitted["content"] as? [[String: String]])?.first == ["type": "thinking", "thinking": "", "signature": ""])
    }

    /// The SDK's tool runner asks for a server-held thread; the rejection carries the details it reads to go on
    /// without one. Every answer carries the request id as `request-id`, the header the SDKs read.
    @Test func threadsAreRefusedTheWayTheSDKExpects() throws {
        let s = try server(["x"])
        let r = try s.request("POST", "/v1/messages", body: ask + #","thread":{"type":"create"}}"#)
        let error = try #require(r.json["error"] as? [String: Any])
        let details = try #require(error["details"] as? [String: Any])
        #expect(r.status == 400 && details["error_code"] as? String == "thread_unsupported_request" && details["unsupported"] as? [String] == ["thread"])
        #expect(r.headers["request-id"]?.hasPrefix("req_") == true)
        let ok = try s.request("POST", "/v1/messages", body: ask + "}")
        #expect(ok.headers["request-id"] != nil && ok.headers["request-id"] == ok.headers["x-request-id"], "\(ok.headers)")
    }

    /// An output format or a forced call cannot follow a prefill (the value would start over after it); a forced call
    /// cut short by max_tokens has no valid input, so no block.
    @Test func constrainedOutputsAndPrefillsAndCutCalls() throws {
        let prefill = #"{"model":"test-model","max_tokens":9,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"{\"a\":"}],"#
            + #""output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}}"#
        let refused = try server(["x"]).request("POST", "/v1/messages", body: prefill)
        #expect(refused.status == 400 && (refused.json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error", "\(refused.body)")
        let cut = try server([#"[{"name": "get_weather", "parameters": {"ci"#], finish: .length)
            .request("POST", "/v1/messages", body: #"{"model":"test-model","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tools":[\#(weather)],"tool_choice":{"type":"any"}}"#)
        #expect(cut.json["stop_reason"] as? String == "max_tokens" && (cut.json["content"] as? [Any])?.isEmpty == true, "\(cut.body)")
    }

    @Test func countsTheTokensOfTheSamePrompt() throws {
        let s = try server([])
        let r = try s.request("POST", "/v1/messages/count_tokens", body: #"{"model":"test-model","system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#)
        // "system:Be brief.\nuser:Hi"
        #expect(r.status == 200 && r.json["input_tokens"] as? Int == 24 && s.backend.submitted.isEmpty)
    }

    @Test func errorsComeInAnthropicsShape() throws {
        let s = try server(["x"], options: APIOptions(apiKeys: ["sk-1"]))
        // Anthropic's SDKs send the key as x-api-key; a bearer key works too.
        #expect(try s.request("POST", "/v1/messages", body: ask + "}", headers: ["x-api-key": "sk-1"]).status == 200)
        #expect(try s.request("POST", "/v1/messages", body: ask + "}", headers: ["Authorization": "Bearer sk-1"]).status == 200)
        for (r, status, type) in [
            (try s.request("POST", "/v1/messages", body: ask + "}", headers: ["x-api-key": "sk-2"]), 401, "authentication_error"),
            (try s.request("POST", "/v1/messages", body: ask + "}"), 401, "authentication_error"),
            (try s.request("POST", "/v1/messages", body: #"{"model":"other","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
                           headers: ["x-api-key": "sk-1"]), 404, "not_found_error"),
            (try s.request("POST", "/v1/messages", body: #"{"model":"test-model","messages":[{"role":"user","content":"x"}]}"#,
                           headers: ["x-api-key": "sk-1"]), 400, "invalid_request_error"),
            (try s.request("GET", "/v1/messages", headers: ["x-api-key": "sk-1"]), 405, "invalid_request_error"),
            (try s.request("POST", "/v1/messages/batches", body: "{}", headers: ["x-api-key": "sk-1"]), 404, "not_found_error"),
        ] {
            #expect(r.status == status && r.json["type"] as? String == "error" && (r.json["error"] as? [String: Any])?["type"] as? String == type, "\(r.body)")
        }
        // Other routes keep OpenAI's shape.
        #expect(try s.request("POST", "/v1/chat/completions", body: "{}").json["error"] as? [String: Any] != nil)
    }

    /// Anthropic's SDKs send `anthropic-version`: /v1/models answers them in their shape; OpenAI's clients keep theirs.
    @Test func modelsAnswerAnthropicsSDKInItsShape() throws {
        let s = try server([])
        let list = try s.request("GET", "/v1/models", headers: ["anthropic-version": "2023-06-01"]).json
        let model = try #require((list["data"] as? [[String: Any]])?.first)
        #expect(model["type"] as? String == "model" && model["id"] as? String == "test-model" && model["lifecycle"] as? String == "active")
        #expect(model["created_at"] as? String == "2023-11-14T22:13:20Z" && model["max_input_tokens"] as? Int == 4000)
        #expect(list["has_more"] as? Bool == false && list["first_id"] as? String == "test-model" && list["object"] == nil)
        let one = try s.request("GET", "/v1/models/test-model", headers: ["anthropic-version": "2023-06-01"])
        #expect(one.json["display_name"] as? String == "test-model" && one.headers["request-id"] != nil)
        let missing = try s.request("GET", "/v1/models/other", headers: ["anthropic-version": "2023-06-01"])
        #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["type"] as? String == "not_found_error" && missing.headers["request-id"] != nil)
        #expect(try s.request("GET", "/v1/models").json["object"] as? String == "list")
    }

    @Test func aPrefillIsContinuedAndNotRepeated() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let source = try String(contentsOf: fixtures.appendingPathComponent("jinja/templates/Qwen-Qwen2.5-7B-Instruct.jinja"), encoding: .utf8)
        let tokenizer = try BPETokenizer(definition: TokenizerDefinition(directory: fixtures.appendingPathComponent("models/serving")))
        let prompter = TemplatePrompter(template: try ChatTemplate(source: source), tokenizer: tokenizer)
        let s = try server([" Paris."], prompter: prompter)
        let j = try s.request("POST", "/v1/messages", body: #"{"model":"test-model","max_tokens":5,"messages":[{"role":"user","content":"Capital of France?"},"# +
                                                            #"{"role":"assistant","content":"The capital is"}]}"#).json
        #expect((j["content"] as? [[String: String]]) == [["type": "text", "text": " Paris."]])
        // The prompt is the conversation's generation prompt followed by the prefill, as Hugging Face's
        // continue_final_message renders it.
        let turn = try prompter.render([ChatMessage(role: "user", content: "Capital of France?")])
        #expect(s.backend.submitted[0].promptTokenIDs == prompter.encode(turn + "The capital is"))
    }
}
