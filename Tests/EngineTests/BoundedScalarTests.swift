import Testing
@testable import Engine

private func matcher(_ node: OutputGrammar.Node) -> GrammarMatcher {
    var g = OutputGrammar(nodes: [], root: 0)
    g.root = g.add(node)
    return GrammarMatcher(CompiledGrammar(g))
}

private func complete(_ m: GrammarMatcher, _ text: String) -> Bool {
    let s = m.advance(m.start, Array(text.utf8))
    return !s.isEmpty && m.canEnd(s)
}

private func open(_ m: GrammarMatcher, _ text: String) -> Bool { !m.advance(m.start, Array(text.utf8)).isEmpty }

@Suite struct BoundedScalarTests {
    @Test func stringLengthsCountCharacters() {
        let m = matcher(.boundedString(minLength: 2, maxLength: 3))
        for ok in [#""ab""#, #""abc""#, #""éé""#, #""😀😀😀""#, #""a\n""#, #""\u00e9x""#, #""\ud83d\ude00x""#, #""\"\\""#] {
            #expect(complete(m, ok), "\(ok)")
        }
        for bad in [#""a""#, #""""#, #""abcd""#, #""é😀ab""#, #""\ud83d\ude00""#] { #expect(!complete(m, bad), "\(bad)") }
        // The fourth character is refused as it starts, not at the closing quote.
        #expect(open(m, #""abc"#) && !open(m, #""abcd"#) && !open(m, "\"abc\u{E9}"))
        #expect(complete(matcher(.boundedString(minLength: 0, maxLength: 0)), #""""#))
        #expect(!complete(matcher(.boundedString(minLength: 1, maxLength: nil)), #""""#))
    }

    @Test func integerRanges() {
        let m = matcher(.numberRange(NumberRange(integer: true, lower: -20, upper: 150)))
        for ok in ["0", "-0", "-20", "-7", "150", "99", "1"] { #expect(complete(m, ok), "\(ok)") }
        for bad in ["-21", "151", "1500", "200", "-200", "05", "1.0", "1e2", "-", ""] { #expect(!complete(m, bad), "\(bad)") }
        // Refused at the first digit that no completion could save.
        #expect(open(m, "150") && !open(m, "151") && !open(m, "160") && open(m, "-20") && !open(m, "-21") && !open(m, "-30"))
        let small = matcher(.numberRange(NumberRange(integer: true, lower: 1, upper: 5)))
        #expect(!open(small, "0") && !open(small, "-") && open(small, "5") && !open(small, "6"))
    }

    @Test func decimalRangesInMillionths() {
        let unit = matcher(.numberRange(NumberRange(integer: false, lower: 0, upper: 1_000_000)))
        for ok in ["0", "1", "1.0", "0.5", "0.999999", "1.000000", "-0", "-0.0", "0.25"] { #expect(complete(unit, ok), "\(ok)") }
        for bad in ["1.000001", "1.1", "2", "-0.1", "0.1234567", "1e0", ".5", "10"] { #expect(!complete(unit, bad), "\(bad)") }
        let exclusive = matcher(.numberRange(NumberRange(integer: false, lower: 1, upper: 999_999)))
        #expect(!complete(exclusive, "0") && !complete(exclusive, "1") && complete(exclusive, "0.000001") && complete(exclusive, "0.999999"))
        #expect(open(exclusive, "0.") && open(exclusive, "0.00000") && !open(exclusive, "0.000000"))
    }

    /// Whatever bytes a writer picks among those allowed, it is never stuck, and every value it completes is in range.
    @Test(arguments: [true, false])
    func everyAllowedPrefixCanStillEndInRange(integer: Bool) {
        var rng = SplitMix64(seed: integer ? 7 : 11)
        let alphabet = Array("-0123456789.".utf8)
        for _ in 0..<300 {
            let span = Int64(rng.next() % 3 == 0 ? 5 : 2_000_000_000)
            let a = Int64(rng.next() % UInt64(2 * span)) - span, b = a + Int64(rng.next() % UInt64(span))
            let r = NumberRange(integer: integer, lower: a, upper: b)
            let m = matcher(.numberRange(r))
            var state = m.start, text: [UInt8] = []
            for _ in 0..<40 {
                let next = alphabet.filter { !m.step(state, $0).isEmpty }
                let canEnd = m.canEnd(state)
                #expect(canEnd || !next.isEmpty, "stuck at \(String(decoding: text, as: UTF8.self)) in \(r)")
                if next.isEmpty || (canEnd && rng.next() % 4 == 0) { break }
                let byte = next[Int(rng.next() % UInt64(next.count))]
                text.append(byte)
                state = m.step(state, byte)
            }
            guard m.canEnd(state) else { continue }
            let written = String(decoding: text, as: UTF8.self)
            let units = integer ? Double(written)! : (Double(written)! * 1e6).rounded()
            #expect(units >= Double(r.lower) && units <= Double(r.upper), "\(written) outside \(r)")
        }
    }
}

