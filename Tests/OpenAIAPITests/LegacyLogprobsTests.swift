import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// The legacy (`/v1/completions`) logprobs layout with tokens that are not whole characters.
@Suite struct LegacyLogprobsTests {
    /// Token id → bytes: 1 "a", 2 "世"'s first two bytes, 3 its last byte, 4 "界", 5 "é", 6 a lone 0xE5.
    static let bytes: [Int: [UInt8]] = [1: Array("a".utf8), 2: [0xE4, 0xB8], 3: [0x96], 4: Array("界".utf8), 5: Array("é".utf8), 6: [0xE5]]
    static func tokenBytes(_ id: Int) -> [UInt8] { bytes[id] ?? [] }

    func entry(_ id: Int, _ lp: Float, top: [(Int, Float)]) -> TokenLogprobsEntry {
        TokenLogprobsEntry(token: id, TokenLogprobs(logprob: lp, top: top.map { TokenLogprobs.Candidate(id: $0.0, logprob: $0.1) }),
                           tokenBytes: Self.tokenBytes)
    }

    func object(_ v: JSONValue) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(v.bytes)) as? [String: Any])
    }

    /// Echoed "a世界é": offsets count characters the earlier tokens started (a token ending inside "世" has
    /// started it), never past the prompt; byte tokens are written as OpenAI writes them.
    @Test func promptOffsetsCountCharactersAndByteTokensAreNamed() throws {
        let prompt = PromptLogprobs(promptTokenIDs: [1, 2, 3, 4, 5], (0..<4).map { TokenLogprobs(logprob: -Float($0) - 1, top: []) },
                                    tokenBytes: Self.tokenBytes)
        let lp = try object(TextResponseBuilder.legacy([], offset: "a世界é".unicodeScalars.count, prompt: prompt))
        #expect(lp["tokens"] as? [String] == ["a", #"bytes:\xe4\xb8"#, #"bytes:\x96"#, "界", "é"])
        #expect(lp["text_offset"] as? [Int] == [0, 1, 2, 2, 3])
        let text = "a世界é"
        for (token, offset) in zip(["a", "世", "世", "界", "é"], lp["text_offset"] as? [Int] ?? []) {
            #expect(Array(text.unicodeScalars)[offset...].starts(with: token.unicodeScalars) || token == "世")
        }
    }

    /// Distinct byte tokens keep distinct keys; the chosen token is always among the top entries (OpenAI:
    /// "up to logprobs+1"), and no key repeats (JSON parsers would keep only one).
    @Test func topEntriesAreDistinctAndHoldTheChosenToken() throws {
        let e = entry(6, -3, top: [(2, -0.5), (6, -3), (3, -4)])
        let lp = try object(TextResponseBuilder.legacy([e], offset: 0))
        let top = try #require((lp["top_logprobs"] as? [[String: Double]])?.first)
        #expect(top == [#"bytes:\xe4\xb8"#: -0.5, #"bytes:\xe5"#: -3, #"bytes:\x96"#: -4])
        let none = try object(TextResponseBuilder.legacy([entry(1, -2, top: [])], offset: 0))
        #expect((none["top_logprobs"] as? [[String: Double]])?.first == ["a": -2])   // logprobs: 0 still names the chosen one
        let body = String(decoding: TextResponseBuilder.legacy([entry(1, -2, top: [(5, -1), (1, -2), (5, -1)])], offset: 0).bytes, as: UTF8.self)
        #expect(try JSONParser.parse(Array(body.utf8)) != .null)   // our strict parser refuses duplicate keys
    }
}
