import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// `POST /v1/embeddings`: OpenAI's request and response shapes over a scripted engine whose pooled vector for a
/// prompt is [3, 4, prompt length, first token] (`ScriptedBackend`), on a model with 4-wide hidden states.
@Suite struct EmbeddingsAPITests {
    static func vectors(_ r: RawResponse) -> [[Double]] {
        ((r.json["data"] as? [[String: Any]]) ?? []).map { ($0["embedding"] as? [NSNumber] ?? []).map(\.doubleValue) }
    }

    static func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 } }

    static func unit(_ v: [Double]) -> [Double] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }

    @Test func oneTextGivesOneUnitVectorInOpenAIsShape() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hey"}"#)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["object"] as? String == "list" && r.json["model"] as? String == "test-model")
        let data = try #require(r.json["data"] as? [[String: Any]])
        #expect(data.count == 1 && data[0]["object"] as? String == "embedding" && data[0]["index"] as? Int == 0)
        #expect(Self.close(Self.vectors(r)[0], Self.unit([3, 4, 3, 104])))
        let usage = try #require(r.json["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == 3 && usage["total_tokens"] as? Int == 3 && usage.count == 2)
        let sent = try #require(s.backend.submitted.first)
        #expect(sent.pooling == .last && sent.promptTokenIDs == [104, 101, 121] && sent.sampling.maxTokens == 0)
    }

    /// Strings, token ids and token-id arrays; each input its own engine request, answered in input order.
    @Test func batchesKeepTheirOrder() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":["a","bcd","xy"],"normalize":false}"#)
        #expect(r.status == 200, "\(r.body)")
        #expect(Self.vectors(r) == [[3, 4, 1, 97], [3, 4, 3, 98], [3, 4, 2, 120]])
        #expect(((r.json["data"] as? [[String: Any]]) ?? []).map { $0["index"] as? Int } == [0, 1, 2])
        #expect((r.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 6)
        #expect(Set(s.backend.submitted.map(\.id)).count == 3)
        // Each input's place in the request, by which the engine lets other requests' first inputs go ahead of it.
        #expect(s.backend.submitted.map(\.batchIndex) == [0, 1, 2])
        let ids = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":[5,6,7,8],"normalize":false}"#)
        #expect(Self.vectors(ids) == [[3, 4, 4, 5]])
        let lists = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":[[9],[7,8]],"normalize":false}"#)
        #expect(Self.vectors(lists) == [[3, 4, 1, 9], [3, 4, 2, 7]])
    }

    /// The OpenAI SDKs ask for base64 by default: little-endian float32 bytes of the same vector.
    @Test func base64IsTheSameVectorsBytes() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let plain = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":["hey","you"]}"#)
        let encoded = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":["hey","you"],"encoding_format":"base64"}"#)
        let strings = ((encoded.json["data"] as? [[String: Any]]) ?? []).compactMap { $0["embedding"] as? String }
        #expect(strings.count == 2)
        for (text, expected) in zip(strings, Self.vectors(plain)) {
            let bytes = try #require(Data(base64Encoded: text))
            let floats = stride(from: 0, to: bytes.count, by: 4).map { i -> Float in
                var bits: UInt32 = 0
                for k in 0..<4 { bits |= UInt32(bytes[i + k]) << (8 * UInt32(k)) }
                return Float(bitPattern: bits)
            }
            #expect(floats.map(Double.init) == expected.map { Double(Float($0)) })
        }
    }

    /// `dimensions` keeps the first values and normalises what is left (OpenAI's shortening).
    @Test func dimensionsShortenThenNormalise() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hey","dimensions":2}"#)
        #expect(Self.close(Self.vectors(r)[0], [0.6, 0.8]), "\(r.body)")
        let all = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hey","dimensions":4,"normalize":false}"#)
        #expect(Self.vectors(all) == [[3, 4, 3, 104]])
        let over = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hey","dimensions":5}"#)
        #expect(over.status == 400 && (over.json["error"] as? [String: Any])?["param"] as? String == "dimensions")
    }

    @Test func badRequestsNameTheirParameter() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []), contextLength: 10)
        let long = String(repeating: "x", count: 11)
        let cases: [(String, Int, String)] = [
            (#"{"model":"test-model"}"#, 400, "input"),
            (#"{"input":"a"}"#, 400, "model"),
            (#"{"model":"other","input":"a"}"#, 404, "model"),
            (#"{"model":"test-model","input":[]}"#, 400, "input"),
            (#"{"model":"test-model","input":""}"#, 400, "input"),
            (#"{"model":"test-model","input":["a",""]}"#, 400, "input[1]"),
            (#"{"model":"test-model","input":[[1],[]]}"#, 400, "input[1]"),
            (#"{"model":"test-model","input":3}"#, 400, "input"),
            (#"{"model":"test-model","input":[{"text":"a"}]}"#, 400, "input"),
            (#"{"model":"test-model","input":["a",1]}"#, 400, "input"),
            (#"{"model":"test-model","input":[1,"a"]}"#, 400, "input"),
            (#"{"model":"test-model","input":[1,300000]}"#, 400, "input"),
            (#"{"model":"test-model","input":[[1],[-1]]}"#, 400, "input[1]"),
            (#"{"model":"test-model","input":[[300000]]}"#, 400, "input[0]"),
            (#"{"model":"test-model","input":["a",[1,2]]}"#, 400, "input"),
            (#"{"model":"test-model","input":[[1,2],"a"]}"#, 400, "input"),
            (#"{"model":"test-model","input":["\#(long)"]}"#, 400, "input[0]"),
            (#"{"model":"test-model","input":"\#(long)"}"#, 400, "input"),
            (#"{"model":"test-model","input":["a","\#(long)"]}"#, 400, "input[1]"),
            (#"{"model":"test-model","input":"a","encoding_format":"int8"}"#, 400, "encoding_format"),
            (#"{"model":"test-model","input":"a","dimensions":0}"#, 400, "dimensions"),
            (#"{"model":"test-model","input":"a","dimensions":"2"}"#, 400, "dimensions"),
            (#"{"model":"test-model","input":"a","priority":1}"#, 400, "priority"),
            (#"{"model":"test-model","input":"a","truncate_prompt_tokens":0}"#, 400, "truncate_prompt_tokens"),
            (#"{"model":"test-model","input":"a","normalize":"yes"}"#, 400, "normalize"),
            (#"{"model":"test-model","input":"a","user":5}"#, 400, "user"),
        ]
        for (body, status, param) in cases {
            let r = try s.request("POST", "/v1/embeddings", body: body)
            let error = r.json["error"] as? [String: Any]
            #expect(r.status == status && error?["param"] as? String == param, "\(body) → \(r.status) \(r.body)")
            #expect(error?["type"] as? String == "invalid_request_error", "\(body)")
        }
        let many = "[" + Array(repeating: #""a""#, count: 2049).joined(separator: ",") + "]"
        let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":\#(many)}"#)
        #expect(r.status == 400 && r.body.contains("2048"))
        #expect(s.backend.submitted.isEmpty, "nothing reaches the engine from a bad request")
    }

    /// An input longer than the model takes is cut to its last tokens only when the request asks
    /// (`truncate_prompt_tokens`; -1: as many as fit); a prompt as long as the context fits.
    @Test func truncationIsAskedFor() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []), contextLength: 10)
        let exact = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"abcdefghij"}"#)
        #expect(exact.status == 200 && s.backend.submitted.last?.promptTokenIDs.count == 10)
        let cut = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"abcdefghijkl","truncate_prompt_tokens":-1}"#)
        #expect(cut.status == 200 && s.backend.submitted.last?.promptTokenIDs == Array(99...108))
        let three = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"abcdefghijkl","truncate_prompt_tokens":3}"#)
        #expect(three.status == 200 && s.backend.submitted.last?.promptTokenIDs == [106, 107, 108])
        // A cut that still does not fit names the cut, not the input.
        let over = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"abcdefghijkl","truncate_prompt_tokens":11}"#)
        let error = over.json["error"] as? [String: Any]
        #expect(over.status == 400 && error?["param"] as? String == "truncate_prompt_tokens", "\(over.body)")
        #expect((error?["message"] as? String)?.contains("at most 10") == true)
    }

    /// A checkpoint that declares a pooling this server lacks serves no embeddings, and says why.
    @Test func aModelWithoutPoolingSaysWhy() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []), pooling: nil, poolingRefusal: "declares 'cls' pooling")
        let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"a"}"#)
        #expect(r.status == 400 && r.body.contains("declares 'cls' pooling"), "\(r.body)")
        #expect(s.backend.submitted.isEmpty)
    }

    @Test func priorityIsAnInt32() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []), priorityScheduling: true)
        for (value, status) in [("2147483647", 200), ("-2147483648", 200), ("2147483648", 400), ("-2147483649", 400)] {
            let r = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"a","priority":\#(value)}"#)
            #expect(r.status == status, "\(value): \(r.body)")
        }
    }

    @Test func onlyPostIsAllowed() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: []))
        let r = try s.request("GET", "/v1/embeddings")
        #expect(r.status == 405 && r.headers["allow"] == "POST")
    }

    /// An embedding model's checkpoint without an output head serves embeddings and refuses to generate, naming why.
    @Test func aHeadlessModelOnlyEmbeds() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), generates: false)
        for (path, body) in [("/v1/chat/completions", #"{"model":"test-model","messages":[{"role":"user","content":"hi"}]}"#),
                             ("/v1/completions", #"{"model":"test-model","prompt":"hi"}"#),
                             ("/v1/responses", #"{"model":"test-model","input":"hi"}"#)] {
            let r = try s.request("POST", path, body: body)
            let error = r.json["error"] as? [String: Any]
            #expect(r.status == 400 && error?["code"] as? String == "model_not_supported" && error?["param"] as? String == "model", "\(path): \(r.body)")
            #expect((error?["message"] as? String)?.contains("/v1/embeddings") == true)
        }
        #expect(s.backend.submitted.isEmpty)
        let e = try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hi"}"#)
        #expect(e.status == 200 && s.backend.submitted.count == 1)
    }

    /// Without a chat template, chat requests are refused with the reason; raw prompts and embeddings still serve.
    @Test func aModelWithoutAChatTemplateTakesNoMessages() throws {
        let s = try TestServer(backend: ScriptedBackend(texts: ["x"]), prompter: TemplatelessPrompter())
        for (path, body, param) in [("/v1/chat/completions", #"{"model":"test-model","messages":[{"role":"user","content":"hi"}]}"#, "messages"),
                                    ("/v1/responses", #"{"model":"test-model","input":"hi"}"#, "input"),
                                    ("/tokenize", #"{"messages":[{"role":"user","content":"hi"}]}"#, "messages")] {
            let r = try s.request("POST", path, body: body)
            let error = r.json["error"] as? [String: Any]
            #expect(r.status == 400 && error?["code"] as? String == "no_chat_template" && error?["param"] as? String == param, "\(path): \(r.body)")
        }
        #expect(try s.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hi","max_tokens":1}"#).status == 200)
        #expect(try s.request("POST", "/v1/embeddings", body: #"{"model":"test-model","input":"hi"}"#).status == 200)
    }
}

/// `CountingPrompter` for a model that has no chat template.
struct TemplatelessPrompter: ChatPrompting {
    func tokenBytes(_ id: Int) -> [UInt8] { CountingPrompter().tokenBytes(id) }
    func encode(_ text: String) -> [Int] { CountingPrompter().encode(text) }
    func decode(_ ids: [Int]) -> String { CountingPrompter().decode(ids) }
    func promptTokens(for messages: [ChatMessage]) throws -> [Int] { throw MissingChatTemplate() }
}
