import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// vLLM's sampling extensions the server implements, from the request to the engine's parameters.
@Suite struct VLLMControlsTests {
    static let ask = #"{"model":"test-model","messages":[{"role":"user","content":"hello there"}],"max_tokens":5"#

    @Test func theControlsReachTheEngine() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let r = try s.request("POST", "/v1/chat/completions", body: Self.ask + #","stop_token_ids":[7,9],"min_tokens":2,"include_stop_str_in_output":true,"allowed_token_ids":[1,2,3],"bad_words":["  ab"]}"#)
        #expect(r.status == 200, "\(r.body)")
        let p = try #require(s.backend.submitted.first?.sampling)
        #expect(p.stopTokenIDs == [7, 9] && p.minTokens == 2 && p.includeStopString && p.allowedTokenIDs == [1, 2, 3])
        // The word without its leading spaces; " ab" makes no other first token with as many tokens here.
        #expect(p.badWords == [[97, 98]])
    }

    @Test func truncatePromptTokensKeepsTheLastOnes() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        _ = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"abcdef","max_tokens":1,"truncate_prompt_tokens":3}"#)
        #expect(s.backend.submitted.last?.promptTokenIDs == [100, 101, 102])
        // Echoed, the prompt is what the model saw.
        let e = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"abcdef","max_tokens":1,"echo":true,"truncate_prompt_tokens":3}"#)
        #expect(((e.json["choices"] as? [[String: Any]])?.first?["text"] as? String)?.hasPrefix("def") == true)
        // -1: the model's whole context, so no cut.
        _ = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"abcdef","max_tokens":1,"truncate_prompt_tokens":-1}"#)
        #expect(s.backend.submitted.last?.promptTokenIDs.count == 6)
        // The Responses API takes them too.
        _ = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"hi","truncate_prompt_tokens":2,"min_tokens":1}"#)
        #expect(s.backend.submitted.last?.promptTokenIDs.count == 2 && s.backend.submitted.last?.sampling.minTokens == 1)
        // /tokenize counts what such a request runs.
        let t = try s.request("POST", "/tokenize", body: #"{"prompt":"abcdef","truncate_prompt_tokens":3}"#)
        #expect(t.json["tokens"] as? [Int] == [100, 101, 102])
    }

    @Test func badValuesAreNamed() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        for (extra, param) in [(#""stop_token_ids":[1,300000]"#, "stop_token_ids[1]"), (#""allowed_token_ids":[]"#, "allowed_token_ids"),
                               (#""allowed_token_ids":[1.5]"#, "allowed_token_ids[0]"), (#""min_tokens":6"#, "min_tokens"),
                               (#""bad_words":"ab""#, "bad_words"), (#""bad_words":[""]"#, "bad_words[0]"), (#""bad_words":["x","\n"]"#, "bad_words[1]"),
                               (#""truncate_prompt_tokens":-2"#, "truncate_prompt_tokens"), (#""stop_token_ids":{}"#, "stop_token_ids")] {
            let r = try s.request("POST", "/v1/chat/completions", body: Self.ask + "," + extra + "}")
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["param"] as? String == param, "\(extra): \(r.body)")
        }
    }

    /// The request's own constraints leaving no way on are its error (400), not the server's.
    @Test func unsatisfiableConstraintsAreTheRequestsError() {
        let e = APIError.engineFailure("no token of the model's vocabulary can continue the output in the requested format")
        #expect(e.status == 400 && e.type == "invalid_request_error")
        #expect(APIError.engineFailure("the model step failed").status == 500)
    }

    /// vLLM's `stop_reason`: the stop string (or stop token id) that ended a choice, null otherwise; whole and on the
    /// streamed chunk that finishes the choice, on both completion APIs.
    @Test func stopReasonNamesWhatStoppedTheChoice() throws {
        func choice(_ stop: StopCause?, _ path: String, _ body: String) throws -> [String: Any] {
            let s = try TestServer(backend: ScriptedBackend(texts: ["a", "b"], stop: stop))
            return try #require((s.request("POST", path, body: body).json["choices"] as? [[String: Any]])?.first)
        }
        let chat = #"{"model":"test-model","messages":[{"role":"user","content":"x"}],"stop":["END"]}"#
        let legacy = #"{"model":"test-model","prompt":"x","stop_token_ids":[9]}"#
        #expect(try choice(.string("END"), "/v1/chat/completions", chat)["stop_reason"] as? String == "END")
        #expect(try choice(.token(9), "/v1/completions", legacy)["stop_reason"] as? Int == 9)
        #expect(try choice(nil, "/v1/chat/completions", chat)["stop_reason"] is NSNull)
        for (path, body) in [("/v1/chat/completions", chat), ("/v1/completions", legacy)] {
            let s = try TestServer(backend: ScriptedBackend(texts: ["a", "b"], stop: .string("END")))
            let r = try s.request("POST", path, body: String(body.dropLast()) + #","stream":true}"#)
            let chunks = r.body.components(separatedBy: "\n").filter { $0.hasPrefix("data: {") }
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
                .compactMap { ($0["choices"] as? [[String: Any]])?.first }
            // Only the finishing chunk carries it.
            #expect(chunks.filter { $0["stop_reason"] != nil }.count == 1 && chunks.last?["stop_reason"] as? String == "END", "\(r.body)")
        }
    }

    /// vLLM's `prompt_logprobs`: per choice on /v1/completions, once on a chat response; null first, then each prompt
    /// token keyed by its id with logprob, rank and text; refused with stream (as vLLM does) and on the Responses API.
    @Test func promptLogprobsComeInVLLMsShape() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["a"]))
        let legacy = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"abc","prompt_logprobs":1,"n":2,"temperature":1}"#)
        let choices = try #require(legacy.json["choices"] as? [[String: Any]])
        #expect(choices.count == 2)
        for c in choices {
            let list = try #require(c["prompt_logprobs"] as? [Any])
            // "abc" is three tokens (97, 98, 99); the first has none.
            #expect(list.count == 3 && list[0] is NSNull)
            let second = try #require(list[1] as? [String: [String: Any]])
            #expect(second.keys.sorted() == ["98"] && second["98"]?["decoded_token"] as? String == "t98")
            #expect(abs((second["98"]?["logprob"] as? Double ?? 0) + 1) < 1e-6)
        }
        #expect(s.backend.submitted.allSatisfy { $0.promptLogprobs == 1 })
        let chat = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"x"}],"prompt_logprobs":0}"#)
        #expect((chat.json["prompt_logprobs"] as? [Any])?.first is NSNull && (chat.json["choices"] as? [[String: Any]])?.first?["prompt_logprobs"] == nil)
        // Without it, no field.
        #expect(try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"abc"}"#).json["choices"].map { "\($0)" }?.contains("prompt_logprobs") == false)
        for (path, body, param) in [
            ("/v1/completions", #"{"model":"test-model","prompt":"abc","prompt_logprobs":1,"stream":true}"#, "prompt_logprobs"),
            ("/v1/completions", #"{"model":"test-model","prompt":"abc","prompt_logprobs":21}"#, "prompt_logprobs"),
            ("/v1/responses", #"{"model":"test-model","input":"abc","prompt_logprobs":1}"#, "prompt_logprobs"),
        ] {
            let r = try s.request("POST", path, body: body)
            #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["param"] as? String == param, "\(body): \(r.body)")
        }
    }

    /// vLLM's `return_tokens_as_token_ids`: logprobs name each token (and each alternative) `token_id:<id>`, bytes
    /// included; the Responses API refuses it.
    @Test func tokensComeAsTheirIDsWhenAsked() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["a", "b"]))
        let chat = try s.request("POST", "/v1/chat/completions", body: #"{"model":"test-model","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2,"return_tokens_as_token_ids":true}"#)
        let content = try #require((((chat.json["choices"] as? [[String: Any]])?.first?["logprobs"]) as? [String: Any])?["content"] as? [[String: Any]])
        #expect(content.map { $0["token"] as? String } == ["token_id:0", "token_id:1"])
        #expect(content[0]["bytes"] as? [Int] == Array("token_id:0".utf8).map(Int.init))
        #expect((content[1]["top_logprobs"] as? [[String: Any]])?.map { $0["token"] as? String } == ["token_id:1", "token_id:2"])
        let legacy = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"x","logprobs":1,"return_tokens_as_token_ids":true}"#)
        let lp = try #require((legacy.json["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
        #expect(lp["tokens"] as? [String] == ["token_id:0", "token_id:1"])
        // Without it, the tokens' text.
        let plain = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"x","logprobs":1}"#)
        #expect((((plain.json["choices"] as? [[String: Any]])?.first?["logprobs"]) as? [String: Any])?["tokens"] as? [String] == ["t0", "t1"])
        let r = try s.request("POST", "/v1/responses", body: #"{"model":"test-model","input":"x","return_tokens_as_token_ids":true}"#)
        #expect(r.status == 400 && (r.json["error"] as? [String: Any])?["param"] as? String == "return_tokens_as_token_ids")
    }
}
