import Foundation
import Testing
@testable import OpenAIAPI

/// A request's run (its engine requests, prompts and grammars) is freed once the response is done. Until this
/// session the run's end callback held the run itself, so every request leaked it: ~2 KB for a plain chat,
/// ~2 MB with a 3,000-property schema (the server's memory grew without end under structured requests).
@Suite struct ChoiceRunLifetimeTests {
    func freed(_ id: String) async -> Bool {
        for _ in 0..<200 {
            if !ChoiceRun.isAlive(containing: id) { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return false
    }

    @Test(arguments: [false, true])
    func runsAreFreedAfterTheResponse(stream: Bool) async throws {
        let server = try TestServer(backend: ScriptedBackend(texts: ["a", "b"]))
        let id = "lifetime-\(stream)-\(UUID().uuidString.prefix(8))"
        let body = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}],"n":2,"stream":\#(stream)}"#
        let r = try server.request("POST", "/v1/chat/completions", body: body, headers: ["X-Request-Id": id])
        #expect(r.status == 200)
        #expect(await freed(id))
        let c = try server.request("POST", "/v1/completions", body: #"{"model":"test-model","prompt":"hi","stream":\#(stream)}"#,
                                   headers: ["X-Request-Id": id + "-c"])
        #expect(c.status == 200)
        #expect(await freed(id + "-c"))
    }
}
