@testable import Engine
import Foundation
import Testing
@testable import OpenAIAPI

private func parse(_ fields: String) throws(APIError) -> ResponsesRequest {
    try ResponsesRequest.parse(Array(("{\"model\":\"m\"," + fields + "}").utf8))
}

private let weather = #"{"type":"function","name":"get_weather","description":"Weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}"#

/// Renders messages as `role:content` lines (tool calls as `call:name(args)#id`, tool answers as `tool#id:content`)
/// and tokenizes one token per character, so a test can read the conversation the model was given.
final class TranscriptPrompter: ChatPrompting, @unchecked Sendable {
    func tokenBytes(_ id: Int) -> [UInt8] { Array("t\(id)".utf8) }
    func encode(_ text: String) -> [Int] { text.unicodeScalars.map { Int($0.value) } }
    func decode(_ ids: [Int]) -> String { String(String.UnicodeScalarView(ids.compactMap { Unicode.Scalar(UInt32($0)) })) }
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { encode(Self.transcript(messages)) }

    static func transcript(_ messages: [ChatMessage]) -> String {
        messages.map { m in
            var line = m.role + (m.toolCallID.map { "#" + $0 } ?? "") + ":" + m.content
            for c in m.toolCalls { line += " call:\(c.name)(\(c.arguments.compactText))#\(c.id)" }
            return line
        }.joined(separator: "\n")
    }
}

private func prompt(_ r: EngineRequest) -> String { TranscriptPrompter().decode(r.promptTokenIDs) }

@Suite struct ResponsesRequestTests {
    @Test func inputItemsBecomeChatMessages() throws {
        #expect(try parse(#""input":"Hi""#).input == [ChatMessage(role: "user", content: "Hi")])
        let r = try parse(#""instructions":"Be brief.","input":[{"role":"developer","content":"d"},"# +
                          #"{"type":"message","role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},"# +
                          #"{"role":"assistant","content":[{"type":"output_text","text":"Let me look.","annotations":[]}]},"# +
                          #"{"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"},"# +
                          #"{"type":"function_call","call_id":"c2","name":"get_weather","arguments":""},"# +
                          #"{"type":"function_call_output","call_id":"c1","output":"3 C"},"# +
                          #"{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"sun"}]}]"#)
        #expect(r.instructions == "Be brief.")
        #expect(try parse(#""input":[{"role":"assistant","content":[{"type":"refusal","refusal":"No."}]}]"#).input == [ChatMessage(role: "assistant", content: "No.")])
        #expect(TranscriptPrompter.transcript(r.input) == """
            developer:d
            user:ab
            assistant:Let me look. call:get_weather({"city":"Oslo"})#c1 call:get_weather({})#c2
            tool#c1:3 C
            tool#c2:sun
            """)
        // A call with no assistant text before it is an assistant turn of its own, with null content.
        let calls = try parse(#""input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]"#).input
        #expect(calls.count == 2 && calls[1].role == "assistant" && calls[1].contentIsNull && calls[1].toolCalls.map(\.id) == ["c"])
    }

    @Test func settingsAreRead() throws {
        let r = try parse(#""input":"x","max_output_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":3,"seed":1,"stop":["@@"],"# +
                          #""top_logprobs":2,"include":["message.output_text.logprobs"],"metadata":{"k":"v"},"store":false,"stream":true"#)
        #expect(r.sampling.maxTokens == 7 && r.sampling.temperature == 0.5 && r.sampling.topP == 0.9 && r.sampling.topK == 3)
        #expect(r.sampling.seed == 1 && r.sampling.stop == ["@@"] && r.sampling.topLogprobs == 2)
        #expect(!r.store && r.stream && r.echo.metadata == .object([("k", .string("v"))]))
        // No logprobs unless `include` asks for them (as OpenAI: top_logprobs alone returns none); a JSON schema
        // format is a grammar.
        #expect(try parse(#""input":"x""#).sampling.topLogprobs == nil)
        #expect(try parse(#""input":"x","top_logprobs":3"#).sampling.topLogprobs == nil)
        // Neutral values of newer fields pass.
        #expect(try parse(#""input":"x","reasoning":{"effort":"none"},"tools":[{"type":"function","name":"f","defer_loading":false,"allowed_callers":["direct"]}],"tool_choice":"none""#)
            .tools?.tools.map(\.name) == ["f"])
        #expect(try parse(#""input":"x","parallel_tool_calls":false"#).echo.parallelToolCalls == false)
        let schema = try parse(#""input":"x","text":{"format":{"type":"json_schema","name":"p","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}"#)
        #expect(schema.sampling.grammar != nil)
        #expect(schema.echo.text.serialized().contains(#""name":"p""#))
        #expect(try parse(#""input":"x","text":{"format":{"type":"json_object"}}"#).sampling.grammar == .anyObject)
        let tools = try #require(try parse(#""input":"x","tools":[\#(weather)],"tool_choice":{"type":"function","name":"get_weather"}"#).tools)
        #expect(tools.choice == .named("get_weather"))
        // The template sees the chat form of the tool.
        #expect(tools.tools[0].spec.compactText
            == #"{"type":"function","function":{"name":"get_weather","description":"Weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}"#)
    }

    static let refused: [(String, String)] = [
        (#""instructions":"x""#, "input"),
        (#""input":[]"#, "input"),
        (#""input":7"#, "input"),
        (#""input":[{"role":"user","content":[{"type":"input_image","image_url":"http://x"}]}]"#, "input[0].content[0].type"),
        (#""input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]"#, "input[0].content[0].type"),
        (#""input":[{"role":"tool","content":"x"}]"#, "input[0].role"),
        (#""input":[{"type":"reasoning","summary":"x"}]"#, "input[0].summary"),
        (#""input":[{"type":"item_reference","id":"msg_1"}]"#, "input[0].type"),
        (#""input":[{"type":"function_call","name":"f","arguments":"{}"}]"#, "input[0].call_id"),
        (#""input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{"}]"#, "input[0].arguments"),
        (#""input":[{"type":"function_call_output","call_id":"c"}]"#, "input[0].output"),
        (#""input":"x","background":true"#, "background"),
        (#""input":"x","reasoning":{"effort":"high"}"#, "reasoning"),
        (#""input":"x","truncation":"auto""#, "truncation"),
        (#""input":"x","conversation":"conv_1""#, "conversation"),
        (#""input":"x","include":["file_search_results"]"#, "include[0]"),
        (#""input":"x","max_output_tokens":0"#, "max_output_tokens"),
        (#""input":"x","top_logprobs":21"#, "top_logprobs"),
        (#""input":"x","text":{"format":{"type":"json_schema","name":"p"}}"#, "text.format.schema"),
        (#""input":"x","text":{"format":{"type":"json_schema","name":"p","schema":{"type":"string","pattern":"\\1"}}}"#, "text.format.schema.pattern"),
        (#""input":"x","text":{"verbosity":"high"}"#, "text.verbosity"),
        (#""input":"x","tools":[{"type":"web_search"}]"#, "tools[0].type"),
        (#""input":"x","tools":[{"type":"function","function":{"name":"f"}}]"#, "tools[0].name"),
        (#""input":"x","tools":[\#(weather)],"tool_choice":{"type":"function","name":"nope"}"#, "tool_choice.name"),
        (#""input":"x","tools":[\#(weather)],"tool_choice":"required","text":{"format":{"type":"json_object"}}"#, "text.format"),
        (#""input":"x","metadata":{"a":1}"#, "metadata.a"),
        (#""input":"x","service_tier":"priority""#, "service_tier"),
        (#""input":"x","stream_options":{}"#, "stream_options"),
        (#""input":"x","stream":true,"stream_options":{"include_usage":true}"#, "stream_options.include_usage"),
        (#""input":"x","max_tokens":5"#, "max_tokens"),
        (#""input":"x","n":2"#, "n"),
        (#""input":"x","response_format":{"type":"json_object"}"#, "response_format"),
        (#""input":"x","min_tokens":3,"max_output_tokens":2"#, "min_tokens"),
        (#""input":"x","prompt_cache_retention":"forever""#, "prompt_cache_retention"),
        (#""input":"x","tools":[{"type":"function","name":"f","defer_loading":true}]"#, "tools[0].defer_loading"),
    ]

    @Test(arguments: refused)
    func refusesWhatItCannotDo(fields: String, param: String) {
        do {
            _ = try parse(fields)
            Issue.record("accepted: \(fields)")
        } catch {
            #expect(error.status == 400)
            #expect(error.param == param, "\(fields): \(error.message)")
        }
    }
}

@Suite struct ResponseStoreTests {
    @Test func evictsTheLeastRecentlyUsedAndBreaksChainsHonestly() {
        let store = ResponseStore(capacity: 2)
        func text(_ id: String) -> String? { store.object(id).map { String(decoding: $0, as: UTF8.self) } }
        store.put(id: "a", object: .string("A"), previousID: nil, turn: [ChatMessage(role: "user", content: "1")])
        store.put(id: "b", object: .string("B"), previousID: "a", turn: [ChatMessage(role: "user", content: "2")])
        #expect(store.conversation(upTo: "b", byteLimit: 1 << 20) == .messages([ChatMessage(role: "user", content: "1"), ChatMessage(role: "user", content: "2")]))
        _ = store.object("a")   // a is now more recent than b
        store.put(id: "c", object: .string("C"), previousID: "b", turn: [])
        #expect(store.count == 2 && text("b") == nil && text("a") == #""A""#)
        // c continues b, which is gone: the conversation cannot be rebuilt.
        #expect(store.conversation(upTo: "c", byteLimit: 1 << 20) == .missing)
        #expect(store.delete("a") && !store.delete("a") && text("a") == nil)
        // Over the byte budget, older entries go, the newest stays.
        let small = ResponseStore(capacity: 10, maxBytes: 100)
        for i in 0..<5 { small.put(id: "\(i)", object: .string(String(repeating: "x", count: 40)), previousID: nil, turn: []) }
        #expect(small.count == 2 && small.object("4") != nil && small.storedBytes <= 100)
    }

    @Test func everyStringOfATurnCounts() {
        let store = ResponseStore(capacity: 10, maxBytes: 50_000)
        var m = ChatMessage(role: "assistant", content: "")
        m.toolCalls = [ChatToolCall(id: String(repeating: "c", count: 30_000), name: "f", arguments: .object([]))]
        store.put(id: "a", object: .null, previousID: nil, turn: [m])
        #expect(store.storedBytes > 30_000)
        store.put(id: "b", object: .null, previousID: nil, turn: [m])
        #expect(store.count == 1 && store.object("b") != nil)
    }

    @Test func longChainsStopAtTheLimitAndManyUsesStayCheap() {
        let store = ResponseStore(capacity: 100)
        for i in 0..<50 {
            store.put(id: "\(i)", object: .null, previousID: i == 0 ? nil : "\(i - 1)", turn: [ChatMessage(role: "user", content: String(repeating: "y", count: 100))])
        }
        guard case let .messages(m) = store.conversation(upTo: "49", byteLimit: 1 << 20) else { Issue.record("chain lost"); return }
        #expect(m.count == 50)
        #expect(store.conversation(upTo: "49", byteLimit: 2000) == .tooLong)
        // Thousands of reads keep the bookkeeping bounded and the order right: the least recently used goes.
        for _ in 0..<5000 { _ = store.object("7") }
        for i in 50..<149 { store.put(id: "\(i)", object: .null, previousID: nil, turn: []) }
        #expect(store.count == 100 && store.object("7") != nil && store.object("0") == nil)
    }
}

@Suite(.serialized) struct ResponsesEndpointTests {
    func server(_ texts: [String], finish: FinishReason = .stop, options: APIOptions = APIOptions()) throws -> TestServer {
        try TestServer(backend: ScriptedBackend(texts: texts, finish: finish), contextLength: 4000, options: options, prompter: TranscriptPrompter())
    }

    @Test func answersWhole() throws {
        let s = try server(["Hel", "lo"])
        let r = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Hi","instructions":"Be kind.","metadata":{"k":"v"}}"#)
        #expect(r.status == 200)
        let j = r.json
        #expect((j["id"] as? String)?.hasPrefix("resp_") == true && j["object"] as? String == "response" && j["status"] as? String == "completed")
        let output = try #require(j["output"] as? [[String: Any]])
        #expect(output.count == 1 && output[0]["type"] as? String == "message" && output[0]["role"] as? String == "assistant")
        let part = try #require((output[0]["content"] as? [[String: Any]])?.first)
        #expect(part["type"] as? String == "output_text" && part["text"] as? String == "Hello")
        let usage = try #require(j["usage"] as? [String: Any])
        #expect(usage["output_tokens"] as? Int == 2 && usage["input_tokens"] as? Int == "system:Be kind.\nuser:Hi".unicodeScalars.count)
        #expect(j["instructions"] as? String == "Be kind." && (j["metadata"] as? [String: String]) == ["k": "v"] && j["store"] as? Bool == true)
        #expect(prompt(s.backend.submitted[0]) == "system:Be kind.\nuser:Hi")
    }

    @Test func aTokenWhoseTextNeverShowsKeepsItsLogprob() throws {
        // The last token's text is held back (a stop string began at it): its logprob still counts, whole and streamed.
        let s = try server(["Hel", "lo", ""])
        let body = #"{"model":"test-model","input":"Hi","include":["message.output_text.logprobs"]"#
        let whole = try s.request("POST", "/v1/responses", body: body + "}").json
        let part = ((whole["output"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])?.first
        #expect((part?["logprobs"] as? [Any])?.count == 3 && part?["text"] as? String == "Hello")
        let e = (try s.request("POST", "/v1/responses", body: body + #","stream":true}"#)).namedEvents
        let streamed = e.filter { $0.0 == "response.output_text.delta" }.reduce(0) { $0 + (($1.1["logprobs"] as? [Any])?.count ?? 0) }
        #expect(streamed == 3)
    }

    @Test func runningOutOfTokensIsIncomplete() throws {
        let s = try server(["a", "b"], finish: .length)
        let j = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Hi","max_output_tokens":2}"#).json
        #expect(j["status"] as? String == "incomplete")
        #expect((j["incomplete_details"] as? [String: String]) == ["reason": "max_output_tokens"])
        #expect(((j["output"] as? [[String: Any]])?.first?["status"]) as? String == "incomplete")
        #expect(s.backend.submitted[0].sampling.maxTokens == 2)
    }


    @Test func streamsTypedEventsThatAddUpToTheWholeAnswer() throws {
        let s = try server(["Hel", "lo", "!"])
        let r = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"Hi","stream":true,"include":["message.output_text.logprobs"]}"#)
        #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let e = r.namedEvents
        #expect(e.map(\.0) == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                               "response.output_text.delta", "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                               "response.content_part.done", "response.output_item.done", "response.completed"])
        #expect(e.allSatisfy { $0.0 == $0.1["type"] as? String })
        #expect(e.map { $0.1["sequence_number"] as? Int } == Array(0..<e.count))
        #expect(e.filter { $0.0 == "response.output_text.delta" }.compactMap { $0.1["delta"] as? String }.joined() == "Hello!")
        #expect(e.filter { $0.0 == "response.output_text.delta" }.allSatisfy { ($0.1["logprobs"] as? [Any])?.count == 1 })
        let created = try #require(e.first?.1["response"] as? [String: Any])
        #expect(created["status"] as? String == "in_progress" && (created["output"] as? [Any])?.isEmpty == true)
        let done = try #require(e.last?.1["response"] as? [String: Any])
        #expect(done["status"] as? String == "completed" && done["id"] as? String == created["id"] as? String)
        let part = try #require(((done["output"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])?.first)
        #expect(part["text"] as? String == "Hello!" && (part["logprobs"] as? [Any])?.count == 3)
        // The item the stream built is the one the final object holds.
        let itemDone = try #require(e.first { $0.0 == "response.output_item.done" }?.1["item"] as? [String: Any])
        #expect(NSDictionary(dictionary: itemDone).isEqual(to: (done["output"] as? [[String: Any]])?.first ?? [:]))
    }

    @Test func storedResponsesContinueAConversationAndCanBeDeleted() throws {
        let s = try server(["Fine."])
        let first = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"How are you?","instructions":"Old rules."}"#).json
        let id = try #require(first["id"] as? String)
        let got = try s.request("GET", "/v1/responses/\(id)")
        #expect(got.status == 200 && got.json["id"] as? String == id && got.json["status"] as? String == "completed")
        let second = try s.request("POST", "/v1/responses",
                                   body: #"{"model":"test-model","input":"And now?","instructions":"New rules.","previous_response_id":"\#(id)"}"#)
        #expect(second.status == 200 && second.json["previous_response_id"] as? String == id)
        // The earlier turn is replayed; its instructions are not.
        #expect(prompt(s.backend.submitted[1]) == "system:New rules.\nuser:How are you?\nassistant:Fine.\nuser:And now?")
        let deleted = try s.request("DELETE", "/v1/responses/\(id)")
        #expect(deleted.status == 200 && deleted.json["deleted"] as? Bool == true && deleted.json["object"] as? String == "response")
        #expect(try s.request("GET", "/v1/responses/\(id)").status == 404)
        #expect(try s.request("DELETE", "/v1/responses/\(id)").status == 404)
        let orphan = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x","previous_response_id":"\#(id)"}"#)
        #expect(orphan.status == 404 && (orphan.json["error"] as? [String: Any])?["code"] as? String == "previous_response_not_found")
        #expect(try s.request("PUT", "/v1/responses/\(id)").headers["allow"] == "GET, HEAD, DELETE")
        // Not stored: not retrievable.
        let unstored = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x","store":false}"#).json
        #expect(unstored["store"] as? Bool == false)
        #expect(try s.request("GET", "/v1/responses/\(unstored["id"] as? String ?? "")").status == 404)
    }

    @Test func inputItemsArePagedNewestFirst() throws {
        let s = try server(["ok"])
        let body = #"{"model":"test-model","instructions":"I","input":[{"role":"user","content":"a"},"# +
            #"{"type":"function_call","call_id":"c1","name":"f","arguments":"{\"x\":1}"},{"type":"function_call_output","call_id":"c1","output":"r"},"# +
            #"{"role":"user","content":"b"}]}"#
        let id = try s.request("POST", "/v1/responses", body: body).json["id"] as? String ?? ""
        let all = try s.request("GET", "/v1/responses/\(id)/input_items?order=asc").json
        let data = try #require(all["data"] as? [[String: Any]])
        #expect(data.map { $0["type"] as? String } == ["message", "function_call", "function_call_output", "message"])
        #expect(data[0]["role"] as? String == "user" && data[1]["arguments"] as? String == #"{"x":1}"# && data[2]["output"] as? String == "r")
        #expect(all["has_more"] as? Bool == false && all["first_id"] as? String == data[0]["id"] as? String)
        // Newest first by default; a page of 2, then the rest after its last id. Ids do not change between listings.
        let page = try s.request("GET", "/v1/responses/\(id)/input_items?limit=2").json
        let first = try #require(page["data"] as? [[String: Any]])
        #expect(first.map { $0["id"] as? String } == [data[3]["id"] as? String, data[2]["id"] as? String] && page["has_more"] as? Bool == true)
        let rest = try s.request("GET", "/v1/responses/\(id)/input_items?limit=2&after=\(page["last_id"] as? String ?? "")").json
        #expect((rest["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [data[1]["id"] as? String, data[0]["id"] as? String])
        #expect(try s.request("GET", "/v1/responses/\(id)/input_items?limit=0").status == 400)
        #expect(try s.request("GET", "/v1/responses/nope/input_items").status == 404)
        #expect(try s.request("POST", "/v1/responses/\(id)/input_items").headers["allow"] == "GET, HEAD")
    }

    @Test func aServerThatStoresNothingSaysSo() throws {
        let s = try server(["x"], options: APIOptions(storedResponses: 0))
        let j = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x"}"#).json
        #expect(j["store"] as? Bool == false)
        #expect(try s.request("GET", "/v1/responses/\(j["id"] as? String ?? "")").status == 404)
    }

    @Test func aForcedCallIsAFunctionCallItemAndItsOutputContinues() throws {
        let s = try server([#"{"city":"#, #""Oslo"}"#])
        let body = #"{"model":"test-model","input":"Weather?","tools":[\#(weather)],"tool_choice":{"type":"function","name":"get_weather"}}"#
        let j = try s.request("POST", "/v1/responses", body: body).json
        #expect(s.backend.submitted[0].sampling.grammar != nil)
        let call = try #require((j["output"] as? [[String: Any]])?.first)
        #expect(call["type"] as? String == "function_call" && call["name"] as? String == "get_weather" && call["arguments"] as? String == #"{"city":"Oslo"}"#)
        let callID = try #require(call["call_id"] as? String)
        #expect(callID.hasPrefix("call_") && (call["id"] as? String)?.hasPrefix("fc_") == true)
        #expect((j["tools"] as? [[String: Any]])?.first?["name"] as? String == "get_weather")
        #expect((j["tool_choice"] as? [String: String]) == ["type": "function", "name": "get_weather"])
        let next = #"{"model":"test-model","previous_response_id":"\#(j["id"] as? String ?? "")","input":[{"type":"function_call_output","call_id":"\#(callID)","output":"3 C"}]}"#
        #expect(try s.request("POST", "/v1/responses", body: next).status == 200)
        #expect(prompt(s.backend.submitted[1]) == "user:Weather?\nassistant: call:get_weather({\"city\":\"Oslo\"})#\(callID)\ntool#\(callID):3 C")
    }

    @Test func aStreamedCallArrivesAsItsItemEvents() throws {
        // `required` asks for a list of calls.
        let s = try server([#"[{"name":"get_weather","parameters":{"city":"Oslo"}}]"#])
        let body = #"{"model":"test-model","input":"Weather?","stream":true,"tools":[\#(weather)],"tool_choice":"required"}"#
        let e = (try s.request("POST", "/v1/responses", body: body)).namedEvents
        #expect(e.map(\.0) == ["response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
                               "response.function_call_arguments.done", "response.output_item.done", "response.completed"])
        #expect(e[4].1["arguments"] as? String == #"{"city":"Oslo"}"# && e[4].1["name"] as? String == "get_weather")
        let output = (e.last?.1["response"] as? [String: Any])?["output"] as? [[String: Any]]
        #expect(output?.count == 1 && output?.first?["type"] as? String == "function_call" && output?.first?["status"] as? String == "completed")
    }

    @Test func wrongModelAndRoutes() throws {
        let s = try server(["x"])
        let wrong = try s.request("POST", "/v1/responses", body: #"{"model":"other","input":"x"}"#)
        #expect(wrong.status == 404 && (wrong.json["error"] as? [String: Any])?["param"] as? String == "model")
        #expect(try s.request("GET", "/v1/responses").headers["allow"] == "POST")
        #expect(try s.request("GET", "/v1/responses/a/b").status == 404)
        let cancel = try s.request("POST", "/v1/responses/nope/cancel")
        #expect(cancel.status == 404)
        #expect(try s.request("POST", "/v1/responses/input_tokens", body: "{}").status == 404)
        let id = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x"}"#).json["id"] as? String ?? ""
        let again = try s.request("GET", "/v1/responses/\(id)?stream=true")
        #expect(again.status == 400 && (again.json["error"] as? [String: Any])?["param"] as? String == "stream")
        #expect(try s.request("GET", "/v1/responses/\(id)?include[]=message.output_text.logprobs").status == 200)
        // A client's X-Request-Id names the engine request, as on the chat path.
        _ = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x"}"#, headers: ["X-Request-Id": "trace-42"])
        #expect(s.backend.submitted.last?.id.hasPrefix("resp-trace-42") == true)
        let tooLong = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x","max_output_tokens":5000}"#)
        #expect(tooLong.status == 400 && (tooLong.json["error"] as? [String: Any])?["param"] as? String == "max_output_tokens")
    }
}
