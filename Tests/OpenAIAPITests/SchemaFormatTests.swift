@testable import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// `format` and `pattern` from a request's schema to the strings written.
@Suite struct SchemaFormatTests {
    func grammar(_ schema: String) throws -> OutputGrammar {
        try #require(try ChatCompletionRequest.parse(Array((#"{"model":"m","messages":[{"role":"user","content":"x"}],"guided_json":"# + schema + "}").utf8))
            .sampling.grammar)
    }

    /// Strings random writers finish under the grammar (a JSON string each), decoded.
    func samples(_ g: OutputGrammar, count: Int = 80, seed: UInt64) -> [String] {
        let m = GrammarMatcher(CompiledGrammar(g))
        var rng = SplitMix64(seed: seed)
        var out: [String] = []
        for _ in 0..<count {
            var state = m.start, text: [UInt8] = []
            for _ in 0..<80 {
                let next = (0...255).map(UInt8.init).filter { !m.step(state, $0).isEmpty }
                guard !next.isEmpty else { break }
                let byte = next[Int(rng.next() % UInt64(next.count))]
                state = m.step(state, byte)
                text.append(byte)
                if m.canEnd(state) { break }
            }
            if m.canEnd(state), let s = try? JSONSerialization.jsonObject(with: Data(text), options: .fragmentsAllowed) as? String { out.append(s) }
        }
        return out
    }

    @Test func formatsWriteValuesTheirParsersAccept() throws {
        let utc = TimeZone(identifier: "UTC")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        func validDate(_ s: some StringProtocol) -> Bool {
            let p = s.split(separator: "-").compactMap { Int($0) }
            guard p.count == 3 else { return false }
            return DateComponents(calendar: calendar, year: p[0], month: p[1], day: p[2]).isValidDate
        }
        let checks: [(String, (String) -> Bool)] = [
            ("date", { validDate($0) }),
            ("uuid", { UUID(uuidString: $0) != nil }),
            ("ipv4", { s in let o = s.split(separator: ".").compactMap { Int($0) }; return o.count == 4 && o.allSatisfy { (0...255).contains($0) } }),
            ("date-time", { s in
                let f = ISO8601DateFormatter()
                f.formatOptions = s.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
                return f.date(from: s.uppercased()) != nil && validDate(s.prefix(10))
            }),
            ("time", { s in s.range(of: #"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"#, options: .regularExpression) != nil }),
            ("hostname", { s in s.utf8.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { l in
                (1...63).contains(l.count) && l.first != "-" && l.last != "-" && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } } }),
        ]
        for (i, (format, valid)) in checks.enumerated() {
            let written = samples(try grammar(#"{"type":"string","format":"\#(format)"}"#), seed: UInt64(i + 1))
            #expect(written.count >= 20, "\(format): only \(written.count) values finished")
            for s in written { #expect(valid(s), "\(format): \(s)") }
        }
    }

    @Test func patternsAndTheirLimits() throws {
        let g = try grammar(#"{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]{3}-\\d{2}$"}},"required":["code"]}"#)
        let m = GrammarMatcher(CompiledGrammar(g))
        func complete(_ t: String) -> Bool { let s = m.advance(m.start, Array(t.utf8)); return !s.isEmpty && m.canEnd(s) }
        #expect(complete(#"{"code":"ABC-12"}"#) && !complete(#"{"code":"AB-12"}"#) && !complete(#"{"code":"abc-12"}"#))
        // Without a type, string and number keywords hold where the value is a string or a number.
        let typeless = try grammar(#"{"type":"object","properties":{"p":{"pattern":"^a+$"},"n":{"minimum":3}},"required":["p","n"]}"#)
        let t = GrammarMatcher(CompiledGrammar(typeless))
        func ok(_ text: String) -> Bool { let s = t.advance(t.start, Array(text.utf8)); return !s.isEmpty && t.canEnd(s) }
        #expect(ok(#"{"p":"aa","n":3}"#) && ok(#"{"p":true,"n":"x"}"#) && !ok(#"{"p":"b","n":3}"#) && !ok(#"{"p":"a","n":2}"#))
        do {
            _ = try grammar(#"{"type":"integer","pattern":"a"}"#)
            Issue.record("accepted a pattern on an integer")
        } catch let e as APIError {
            #expect(e.message.contains("applies to strings") && e.param == "guided_json.pattern")
        }
        let refused: [(String, String)] = [
            (#"{"type":"string","pattern":"(?=a)"}"#, "guided_json.pattern"),
            (#"{"type":"string","format":"email"}"#, "guided_json.format"),
            (#"{"type":"string","pattern":"^a$","minLength":2}"#, "guided_json.minLength"),
            (#"{"type":"string","pattern":"^a$","format":"date"}"#, "guided_json.format"),
            (#"{"type":"string","pattern":5}"#, "guided_json.pattern"),
        ]
        for (schema, param) in refused {
            do {
                _ = try grammar(schema)
                Issue.record("accepted \(schema)")
            } catch let e as APIError {
                #expect(e.param == param, "\(schema): \(e.message)")
            }
        }
    }
}

