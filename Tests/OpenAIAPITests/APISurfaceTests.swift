import Foundation
import Testing
@testable import OpenAIAPI

/// Completions, tokenize, auth, CORS, readiness, metrics and the OpenAPI document, over real sockets.
@Suite struct APISurfaceTests {
    @Test func textCompletionWithEchoAndLegacyLogprobs() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: [" wor", "ld"]))
        let r = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hello","echo":true,"logprobs":1,"max_tokens":5}"#)
        #expect(r.status == 200)
        #expect(r.json["object"] as? String == "text_completion")
        #expect((r.json["id"] as? String)?.hasPrefix("cmpl-") == true)
        let choice = try #require((r.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["text"] as? String == "hello world")
        // With echo, the prompt's tokens come first (the test prompter names token i "t<i>"): the first with null
        // logprobs, offsets from 0 (counted over the tokens' text, never past the prompt's 5 characters); the
        // generated tokens' offsets from the echoed text's end, over the text they produced (" wor", "ld").
        let lp = try #require(choice["logprobs"] as? [String: Any])
        #expect(lp["tokens"] as? [String] == ["t104", "t101", "t108", "t108", "t111", "t0", "t1"])
        #expect(lp["text_offset"] as? [Int] == [0, 4, 5, 5, 5, 5, 9])
        let logprobs = try #require(lp["token_logprobs"] as? [Any])
        #expect(logprobs.first is NSNull && (logprobs[1] as? Double).map { abs($0 + 1) < 1e-6 } == true)
        let tops = try #require(lp["top_logprobs"] as? [Any])
        #expect(tops.first is NSNull && (tops[5] as? [String: Double]) == ["t0": -0.5])
        // The prompt reached the engine as tokens (one per character with the test prompter), asking for their logprobs.
        #expect(s.backend.submitted.first?.promptTokenIDs == "hello".unicodeScalars.map { Int($0.value) })
        #expect(s.backend.submitted.first?.promptLogprobs == 1)
        // Without echo, no prompt logprobs are asked for.
        _ = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hello","logprobs":1,"max_tokens":5}"#)
        #expect(s.backend.submitted.last?.promptLogprobs == nil)
    }

    /// Streamed, the echoed prompt opens the choice once its logprobs are in, with them.
    @Test func streamedEchoCarriesThePromptLogprobs() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: [" wor", "ld"]))
        let r = try s.request("POST", "/v1/completions",
                              body: #"{"model":"test-model","prompt":"hi","echo":true,"logprobs":0,"max_tokens":5,"stream":true}"#)
        let chunks = r.events.filter { $0 != "[DONE]" }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        #expect(choices.first?["text"] as? String == "hi")
        let opening = try #require(choices.first?["logprobs"] as? [String: Any])
        #expect(opening["tokens"] as? [String] == ["t104", "t105"] && opening["text_offset"] as? [Int] == [0, 2])
        #expect((opening["token_logprobs"] as? [Any])?.first is NSNull)
        #expect(choices.map { $0["text"] as? String ?? "" }.joined() == "hi world")
        #expect(choices.compactMap { ($0["logprobs"] as? [String: Any])?["text_offset"] as? [Int] }.flatMap { $0 } == [0, 2, 2, 6])
    }

    @Test func batchOfPromptsAndTokenPrompts() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["!"]))
        let r = try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":["ab",[120,121,122]],"n":2,"max_tokens":3}"#)
        #expect(r.status == 200)
        let choices = try #require(r.json["choices"] as? [[String: Any]])
        #expect(choices.count == 4)
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2, 3])
        let usage = try #require(r.json["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == 5 && usage["completion_tokens"] as? Int == 4)
        #expect(Set(s.backend.submitted.map(\.promptTokenIDs)) == [[97, 98], [120, 121, 122]])
    }

    @Test func completionRejections() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let cases: [(String, String?)] = [
            (#"{"model":"test-model"}"#, "prompt"),
            (#"{"model":"test-model","prompt":"a","suffix":"b"}"#, "suffix"),
            (#"{"model":"test-model","prompt":[]}"#, "prompt"),
            (#"{"model":"test-model","prompt":[1,"a"]}"#, "prompt"),
            (#"{"model":"test-model","prompt":[-5]}"#, "prompt"),
            (#"{"model":"test-model","prompt":"a","logprobs":true}"#, "logprobs"),
        ]
        for (body, param) in cases {
            let r = try s.request("POST", "/v1/completions", body: body)
            #expect(r.status == 400, "\(body)")
            #expect((r.json["error"] as? [String: Any])?["param"] as? String == param, "\(body): \(r.body)")
        }
        #expect(s.backend.submitted.isEmpty)
    }

    @Test func tokenizeAndDetokenize() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []), contextLength: 77)
        let t = try s.request("POST", "/tokenize", body: #"{"prompt":"hey"}"#)
        #expect(t.json["tokens"] as? [Int] == [104, 101, 121])
        #expect(t.json["count"] as? Int == 3 && t.json["max_model_len"] as? Int == 77)
        let chat = try s.request("POST", "/tokenize", body: #"{"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(chat.json["count"] as? Int == 3)
        let d = try s.request("POST", "/detokenize", body: #"{"tokens":[104,105]}"#)
        #expect(d.json["prompt"] as? String == "hi")
        #expect(try s.request("POST", "/detokenize", body: #"{"tokens":[-1]}"#).status == 400)
        #expect(try s.request("POST", "/tokenize", body: #"{"model":"nope","prompt":"x"}"#).status == 404)
    }

    @Test func bearerAuthGuardsTheAPIButNotProbes() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), options: APIOptions(apiKeys: ["k-one", "k-two"]))
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"a"}],"max_tokens":1}"#
        let none = try s.request("POST", "/v1/chat/completions", body: body)
        #expect(none.status == 401)
        #expect((none.json["error"] as? [String: Any])?["code"] as? String == "invalid_api_key")
        #expect(none.headers["www-authenticate"] == "Bearer")
        #expect(try s.request("POST", "/v1/chat/completions", body: body, headers: ["Authorization": "Bearer k-on"]).status == 401)
        #expect(try s.request("POST", "/v1/chat/completions", body: body, headers: ["Authorization": "Bearer k-two"]).status == 200)
        #expect(try s.request("GET", "/v1/models", headers: ["Authorization": "Bearer k-one"]).status == 200)
        #expect(try s.request("GET", "/health").status == 200)
        #expect(try s.request("GET", "/metrics").status == 200)
        #expect(APIOptions.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!APIOptions.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
    }

    @Test func corsPreflightAndHeaders() throws {
        let off = try TestServer(backend: ScriptedBackend(texts: []))
        #expect(try off.request("GET", "/v1/models").headers["access-control-allow-origin"] == nil)
        let s = try TestServer(backend: ScriptedBackend(texts: []), options: APIOptions(apiKeys: ["k"], corsOrigin: "https://app.example"))
        let pre = try s.request("OPTIONS", "/v1/chat/completions", headers: ["Origin": "https://app.example"])
        #expect(pre.status == 204)
        #expect(pre.headers["access-control-allow-origin"] == "https://app.example")
        #expect(pre.headers["access-control-allow-headers"]?.contains("Authorization") == true)
        let get = try s.request("GET", "/v1/models", headers: ["Authorization": "Bearer k"])
        #expect(get.headers["access-control-allow-origin"] == "https://app.example")
        #expect(get.headers["access-control-expose-headers"] == "X-Request-Id")
        // The OpenAI JS SDK's preflight asks for its X-Stainless-* headers; header names are allowed back, anything
        // that is not a header name is not echoed.
        let sdk = try s.request("OPTIONS", "/v1/chat/completions", headers: [
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-retry-count, x-stainless-os"])
        #expect(sdk.headers["access-control-allow-headers"] == "Authorization, Content-Type, X-Request-Id, X-Api-Key, x-stainless-retry-count, x-stainless-os")
        let odd = try s.request("OPTIONS", "/v1/chat/completions", headers: [
            "Origin": "https://app.example", "Access-Control-Request-Headers": "x-ok, bad header"])
        #expect(odd.headers["access-control-allow-headers"] == "Authorization, Content-Type, X-Request-Id, X-Api-Key")
    }

    @Test func loadingServerAnswers503UntilReady() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), ready: false)
        let h = try s.request("GET", "/health")
        #expect(h.status == 503 && h.json["status"] as? String == "loading" && h.headers["retry-after"] == "1")
        #expect(try s.request("GET", "/v1/models").status == 503)
        #expect(try s.request("GET", "/metrics").status == 200, "scrapes work while loading")
        s.router.setReady(s.context)
        #expect(try s.request("GET", "/health").status == 200)
    }

    @Test func requestIDAndMetricsAndOpenAPI() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]))
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"a"}],"max_tokens":1}"#
        let r = try s.request("POST", "/v1/chat/completions", body: body, headers: ["X-Request-Id": "trace-42"])
        #expect(r.json["id"] as? String == "chatcmpl-trace-42")
        let m = try s.request("GET", "/metrics")
        #expect(m.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(m.body == "test_metric 1\n", "/metrics is the exposition the owner of the metrics backend renders")
        let doc = try s.request("GET", "/openapi.json")
        let paths = try #require(doc.json["paths"] as? [String: Any])
        #expect(Set(paths.keys).isSuperset(of: ["/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize", "/detokenize", "/health", "/metrics"]))
    }
}
