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
    func samples(_ g: OutputGrammar, count: Int = 80, seed: UInt64, maxBytes: Int = 80) -> [String] {
        let m = GrammarMatcher(CompiledGrammar(g))
        var rng = SplitMix64(seed: seed)
        var out: [String] = []
        for _ in 0..<count {
            var state = m.start, text: [UInt8] = []
            for _ in 0..<maxBytes {
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
            ("email", Self.emailValidatorTakes),
            ("uri", { s in
                guard let u = URLComponents(string: s), let host = u.host, ["http", "https"].contains(u.scheme) else { return false }
                return !host.isEmpty && !(host.split(separator: ".").last?.allSatisfy(\.isNumber) ?? true)
            }),
            ("ipv6", { s in var a = in6_addr(); return inet_pton(AF_INET6, s, &a) == 1 }),
            ("duration", { s in
                s.range(of: #"^P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"#, options: .regularExpression) != nil && s != "P" && !s.hasSuffix("T")
            }),
        ]
        for (i, (format, valid)) in checks.enumerated() {
            let written = samples(try grammar(#"{"type":"string","format":"\#(format)"}"#), seed: UInt64(i + 1), maxBytes: 300)
            #expect(written.count >= 20, "\(format): only \(written.count) values finished")
            for s in written { #expect(valid(s), "\(format): \(s)") }
        }
    }

    /// email-validator's rules (pydantic's EmailStr): a dot-atom local part of at most 64 characters; labels
    /// without `ab--`; a domain of at most 253 with a dot, a TLD ending in a letter and no special-use name.
    static func emailValidatorTakes(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 64, parts[1].count <= 253 else { return false }
        let atext = #"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]"#
        guard String(parts[0]).range(of: "^\(atext)+(\\.\(atext)+)*$", options: .regularExpression) != nil else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let tld = labels.last, tld.last?.isLetter == true,
              !["arpa", "invalid", "local", "localhost", "onion", "test"].contains(tld.lowercased()) else { return false }
        return labels.allSatisfy { l in
            String(l).range(of: "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", options: .regularExpression) != nil
                && String(l).range(of: "^..--", options: .regularExpression) == nil
        }
    }

    @Test func lettersExceptWordsLeaveOutExactlyTheWords() throws {
        let p = SchemaCompiler.letters(excluding: ["arpa", "local", "localhost", "test"], length: 2...6)
        let dfa = try PatternDFA.compile("^" + p + "$")
        func matches(_ t: String) -> Bool {
            var state = dfa.start
            for u in t.unicodeScalars { guard let n = dfa.step(state, u.value) else { return false }; state = n }
            return dfa.accepting[Int(state)]
        }
        for word in ["arpa", "ARPA", "Local", "test", "localhost", "a", "abcdefg", "ab1"] { #expect(!matches(word), "\(word)") }
        for word in ["ar", "arp", "arpas", "loca", "locals", "tests", "tes", "com", "Io", "testy"] { #expect(matches(word), "\(word)") }
    }

    /// minLength/maxLength with a pattern or a format: every string written has a length in bounds, and the
    /// bounds are kept exactly (a string a length cut short is never begun).
    @Test func lengthsWithPatternsAndFormats() throws {
        for (schema, bounds) in [(#"{"type":"string","pattern":"^(ab|abcde)+$","minLength":3,"maxLength":9}"#, 3...9),
                                 (#"{"type":"string","format":"uri","minLength":1,"maxLength":40}"#, 1...40),
                                 (#"{"type":"string","format":"email","maxLength":12}"#, 0...12),
                                 (#"{"type":"string","pattern":"^x*$","minLength":5}"#, 5...80)] {
            let written = samples(try grammar(schema), seed: 7)
            #expect(written.count >= 20, "\(schema): only \(written.count) values finished")
            for s in written { #expect(bounds.contains(s.count), "\(schema): \(s) (\(s.count))") }
        }
        // Of the strings (ab|abcde)+ makes, only abcde has 5 characters: after "ab", another "a" could still end
        // in 4 characters or in 7 or more, never in 5, so it is refused.
        let g = GrammarMatcher(CompiledGrammar(try grammar(#"{"type":"string","pattern":"^(ab|abcde)+$","minLength":5,"maxLength":5}"#)))
        #expect(!g.advance(g.start, Array("\"ab".utf8)).isEmpty && g.advance(g.start, Array("\"aba".utf8)).isEmpty)
        let whole = g.advance(g.start, Array("\"abcde\"".utf8))
        #expect(!whole.isEmpty && g.canEnd(whole))
        // No string of 3 characters matches at all: a 400.
        #expect(throws: APIError.self) { try grammar(#"{"type":"string","pattern":"^(ab|abcde)+$","minLength":3,"maxLength":3}"#) }
        // A maximum no matching string reaches costs no table, however large; a minimum none reaches is named.
        let long = try grammar(#"{"type":"object","properties":{"a":{"type":"string","pattern":"^a{39}$","maxLength":1000000},"e":{"type":"string","format":"email","maxLength":10000}}}"#)
        for case let .patternString(dfa) in long.nodes { #expect(dfa.length == nil) }
        do {
            _ = try grammar(#"{"type":"string","pattern":"^a{3}$","minLength":4,"maxLength":10}"#)
            Issue.record("accepted a minimum no string reaches")
        } catch let e as APIError {
            #expect(e.param == "guided_json.minLength", "\(e.message)")
        }
    }

    /// Python's datetime (and pydantic's) have no year 0.
    @Test func datesStartInYearOne() throws {
        let m = GrammarMatcher(CompiledGrammar(try grammar(#"{"type":"string","format":"date"}"#)))
        #expect(m.advance(m.start, Array("\"0000".utf8)).isEmpty)
        let ok = m.advance(m.start, Array("\"0001-01-01\"".utf8))
        #expect(!ok.isEmpty && m.canEnd(ok))
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
            (#"{"type":"string","format":"idn-email"}"#, "guided_json.format"),
            (#"{"type":"string","pattern":"^a$","minLength":2}"#, "guided_json.minLength"),
            (#"{"type":"string","format":"uri","maxLength":1000000}"#, "guided_json.maxLength"),
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

