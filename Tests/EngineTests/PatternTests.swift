import Foundation
import Testing
@testable import Engine

private func dfa(_ p: String) throws -> PatternDFA { try PatternDFA.compile(p) }

/// Whether the DFA accepts the whole string.
private func accepts(_ d: PatternDFA, _ s: String) -> Bool {
    var state = d.start
    for u in s.unicodeScalars {
        guard let n = d.step(state, u.value) else { return false }
        state = n
    }
    return d.accepting[Int(state)]
}

@Suite struct PatternTests {
    @Test func compilesTheECMAScriptSubset() throws {
        let cases: [(String, [String], [String])] = [
            ("^[a-z]+$", ["a", "abc"], ["", "aB", "ab1"]),
            ("ab", ["ab", "xxabyy"], ["a", "b", "ba"]),                        // unanchored: found anywhere
            (#"^\d{3}-\d{4}$"#, ["555-1234"], ["5551234", "55-1234", "555-12345"]),
            ("^(?:cat|dog)s?$", ["cat", "dogs"], ["cats!", "bird"]),
            (#"^[^\s@]+@[^\s@]+\.[a-z]{2,}$"#, ["a@b.io", "x.y@z.com"], ["a b@c.io", "a@b.c", "@b.io"]),
            ("^a.c$", ["abc", "a€c"], ["a\nc", "ac"]),
            ("^x{2,3}?$", ["xx", "xxx"], ["x", "xxxx"]),
            (#"^(?<year>\d{4})$"#, ["2024"], ["24"]),
            (#"^[\w-]+$"#, ["a_b-c9"], ["a b"]),
            (#"^\u00e9\x41[\]\-]$"#, ["éA]", "éA-"], ["éA\\"]),
            ("^[]a]$".replacingOccurrences(of: "[]a]", with: "[a\\]]"), ["a", "]"], ["b"]),
            ("^a{0}b$", ["b"], ["ab"]),
            // A whole pattern that is one group of alternatives, anchored.
            ("^(cat|dog)$", ["cat", "dog"], ["cats", "xdog"]),
            ("^(?:a|b)$", ["a", "b"], ["ab"]),
            ("^((a|b))$", ["a"], ["c"]),
            ("(a|b)$", ["xa", "b"], ["ax"]),
            // Each top-level alternative has its own anchors (ECMAScript): ^a|b$ starts with a or ends with b.
            ("^a$|^b$", ["a", "b"], ["ab", "xa"]),
            ("^a|b$", ["ax", "xb", "a"], ["xa", "bx"]),
            (#"^[|]$|x\|y"#, ["|", "ax|yb"], ["xy"]),
            // Characters no pattern string writes (control characters other than the short escapes, DEL) are
            // never offered: the optional ones drop out, the others leave nothing.
            (#"^a\x7f?b\t?$"#, ["ab", "ab\t"], ["a\u{7f}b"]),
        ]
        for (p, yes, no) in cases {
            let d = try dfa(p)
            for s in yes { #expect(accepts(d, s), "\(p) should match \(s)") }
            for s in no { #expect(!accepts(d, s), "\(p) should not match \(s)") }
        }
    }

    @Test(arguments: ["(?=a)", "(?<!a)b", #"(a)\1"#, #"\bfoo"#, "a^b", "a$b", "[z-a]", "(a", "a)", "a{3,2}", "*a", "a{2000}", #"\q"#, "[a", #"a\"#,
                      "a**", "a{2}{3}", "a+??", "(?i)abc", #"\p{L}"#, #"^\x01$"#, #"^[a-z]{3}\x00$"#, #"^\uD83D\uDE00$"#])
    func refusesWhatItCannotKeep(pattern: String) {
        #expect(throws: PatternDFA.Failure.self) { try PatternDFA.compile(pattern) }
    }

    @Test func errorsSayWhatIsMissing() {
        func message(_ p: String) -> String {
            do { _ = try PatternDFA.compile(p); return "" } catch { return error.description }
        }
        #expect(message("(?i)abc").contains("inline flags"))
        #expect(message(#"\p{L}+"#).contains("property"))
        #expect(message("a**").contains("quantifier"))
        #expect(message(#"^\x01$"#).contains("control characters"))
    }

    /// A pattern with thousands of character classes repeated a thousand times stops at the table's size (or the
    /// work budget) instead of computing on; a second request for it is served from the cache.
    @Test func hugePatternsAreRefusedAndRepeatsAreCached() throws {
        let cls = "[" + String(String.UnicodeScalarView((0..<4000).map { Unicode.Scalar(0x4E00 + 2 * $0)! })) + "]"
        #expect(throws: PatternDFA.Failure.self) { try PatternDFA.compile("^" + cls + "{1000}$") }
        let p = "^(?:" + cls + "|x){3}$"
        let a = try PatternDFA.compile(p), b = try PatternDFA.compile(p)
        #expect(a == b && PatternCache.shared.get(p) == a)
    }

    @Test func refusesPatternsNothingMatchesOrThatAreTooLarge() {
        #expect(throws: PatternDFA.Failure.self) { try PatternDFA.compile("^[]$") }
        // (a|b)*a(a|b){16}: the DFA must remember 17 letters, 2^17 states.
        #expect(throws: PatternDFA.Failure.self) { try PatternDFA.compile("^(?:a|b)*a(?:a|b){16}$") }
    }

    /// Random writers through the JSON string matcher: never stuck, and every finished string matches the pattern as
    /// Foundation's own regular expressions read it.
    @Test(arguments: [#"^[A-Z][a-z]{1,6}$"#, #"^\d{3}-\d{4}$"#, "é+x", #"^(?:ab|a\"c)+$"#, #"^[^a-z]{2}\n?$"#, "^.{0,3}$"])
    func writersNeverStickAndMatch(pattern: String) throws {
        var g = OutputGrammar(nodes: [], root: 0)
        g.root = g.add(.patternString(try dfa(pattern)))
        let m = GrammarMatcher(CompiledGrammar(g))
        let regex = try NSRegularExpression(pattern: pattern)
        var rng = SplitMix64(seed: UInt64(pattern.utf8.count))
        // Bytes worth trying: printable ASCII, a few escapes' letters, UTF-8 of é and €.
        let alphabet = Array(32...126).map(UInt8.init) + [0xC3, 0xA9, 0xE2, 0x82, 0xAC]
        for _ in 0..<60 {
            var state = m.advance(m.start, [0x22]), text: [UInt8] = []
            var finished = false
            for _ in 0..<40 {
                let next = alphabet.filter { !m.step(state, $0).isEmpty }
                #expect(!next.isEmpty, "stuck after \(String(decoding: text, as: UTF8.self)) in \(pattern)")
                if next.isEmpty { break }
                // A quote now and then when one may come (it closes the string, or is an escaped one), else any allowed byte.
                let others = next.filter { $0 != 0x22 }
                let byte: UInt8 = next.contains(0x22) && (others.isEmpty || rng.next() % 3 == 0) ? 0x22 : others[Int(rng.next() % UInt64(others.count))]
                state = m.step(state, byte)
                if byte == 0x22, m.canEnd(state) { finished = true; break }
                text.append(byte)
            }
            guard finished else { continue }
            let decoded = try JSONSerialization.jsonObject(with: Data(([0x22] + text + [0x22])), options: .fragmentsAllowed) as? String ?? ""
            let found = regex.firstMatch(in: decoded, range: NSRange(decoded.startIndex..., in: decoded)) != nil
            #expect(found, "\(decoded) does not match \(pattern)")
        }
    }

    @Test func aLeadByteThatCannotBecomeAllowedIsRefusedAtOnce() throws {
        var g = OutputGrammar(nodes: [], root: 0)
        g.root = g.add(.patternString(try dfa("^[a-z€]+$")))
        let m = GrammarMatcher(CompiledGrammar(g))
        let open = m.advance(m.start, [0x22])
        #expect(m.step(open, 0xC3).isEmpty)                     // é's lead byte: no 2-byte character is allowed
        #expect(!m.advance(open, [0xE2, 0x82]).isEmpty)         // € = E2 82 AC
        #expect(m.advance(open, [0xE2, 0x80]).isEmpty)          // E2 80 xx is U+2000–U+203F: none allowed
        #expect(m.advance(open, Array(#"\u0061"#.utf8)).isEmpty) // no \u escapes in pattern strings
    }
}
