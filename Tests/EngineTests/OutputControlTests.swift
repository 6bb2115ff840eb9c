import Testing
@testable import Engine

/// vLLM's output controls: a request's own stop tokens, min_tokens, include_stop_str_in_output,
/// allowed_token_ids and bad_words.
@Suite struct OutputControlTests {
    /// Letters a–f, ".", and the model's end token (id 7, text "</s>").
    static let vocab: [[UInt8]] = ["a", "b", "c", "d", "e", "f", ".", "</s>"].map { Array($0.utf8) }
    static let eos = 7
    static func id(_ t: String) -> Int { vocab.firstIndex(of: Array(t.utf8))! }

    func run(_ params: SamplingParams, favour: (Int) -> [Int]) -> (text: String, ids: [Int], last: TokenEvent?) {
        var gen = Generation(request: EngineRequest(id: "r", promptTokenIDs: [0], sampling: params), contextLength: 1000,
                             stopTokenIDs: [Self.eos], decodeBytes: { ids in ids.flatMap { Self.vocab[$0] } },
                             vocabulary: { StructuredVocabulary(bytes: Self.vocab) }, specialTokenIDs: [Self.eos])
        var events: [TokenEvent] = []
        for step in 0..<50 {
            var logits = [Float](repeating: 0, count: Self.vocab.count)
            for (rank, id) in favour(step).enumerated() { logits[id] = 100 - Float(rank) * 10 }
            let (e, finished) = gen.accept(logits: logits)
            events += e
            if finished { break }
        }
        var text = "", ids: [Int] = []
        for e in events {
            switch e {
            case let .token(id, t, _): text += t; ids.append(id)
            case let .text(t): text += t
            default: break
            }
        }
        return (text, ids, events.last)
    }

    static func params(maxTokens: Int = 20) -> SamplingParams { SamplingParams(temperature: 0, maxTokens: maxTokens) }

    static func stopped(_ e: TokenEvent?) -> Usage? { if case let .finished(.stop, usage)? = e { return usage } else { return nil } }

    @Test func aRequestsStopTokenIsCountedAndItsTextKeptOnlyIfAsked() throws {
        var p = Self.params()
        p.stopTokenIDs = [Self.id(".")]
        let dot = run(p) { [[Self.id("a")], [Self.id("b")], [Self.id(".")]][min($0, 2)] }
        #expect(dot.text == "ab" && dot.ids.count == 3)
        #expect(try #require(Self.stopped(dot.last)).completionTokens == 3)
        p.includeStopString = true
        #expect(run(p) { [[Self.id("a")], [Self.id("b")], [Self.id(".")]][min($0, 2)] }.text == "ab.")
        p.includeStopString = false
        let end = run(p) { [[Self.id("a")], [Self.eos]][min($0, 1)] }
        #expect(end.text == "a" && Self.stopped(end.last)?.completionTokens == 1)
        // With ignore_eos the model's end token is text like any other; the request's still stops.
        p.ignoreEOS = true
        let through = run(p) { [[Self.eos], [Self.id(".")]][min($0, 1)] }
        #expect(through.ids == [Self.eos, Self.id(".")] && through.text == "" && Self.stopped(through.last) != nil)
    }

    /// Usage names what ended the output when it was the request's own stop string or stop token (vLLM's
    /// `stop_reason`, Anthropic's `stop_sequence`); the model's end token and a length finish name nothing.
    @Test func usageNamesTheStopStringOrTokenThatEndedTheOutput() throws {
        var p = Self.params()
        p.stopStrings = ["zz", "cd", "bc"]
        // "b" then "c" completes "bc" (the earliest match), though "cd" is listed first and would complete next.
        let string = run(p) { [[Self.id("a")], [Self.id("b")], [Self.id("c")], [Self.id("d")]][min($0, 3)] }
        #expect(string.text == "a" && Self.stopped(string.last)?.stop == .string("bc"), "\(string)")
        p.stopStrings = []
        p.stopTokenIDs = [Self.id("."), Self.id("f")]
        let token = run(p) { [[Self.id("a")], [Self.id("f")]][min($0, 1)] }
        #expect(Self.stopped(token.last)?.stop == .token(Self.id("f")))
        let eos = run(p) { [[Self.id("a")], [Self.eos]][min($0, 1)] }
        #expect(try #require(Self.stopped(eos.last)).stop == nil)
        guard case let .finished(.length, usage)? = run(Self.params(maxTokens: 2)) { _ in [Self.id("a")] }.last else {
            Issue.record("expected a length finish"); return
        }
        #expect(usage.stop == nil)
    }

    /// Under a grammar a request's stop token is the value's text: it ends the output only where the value may end.
    @Test func insideAValueAStopTokenEndsOnlyWhereTheValueMay() throws {
        for (pattern, expected) in [("^ab\\.?$", "ab."), ("^a\\.b\\.c$", "a.b.c")] {
            var p = Self.params()
            p.stopTokenIDs = [Self.id(".")]
            p.grammar = .rawText(try PatternDFA.compile(pattern))
            let r = run(p) { _ in [Self.id("."), Self.id("a"), Self.id("b"), Self.id("c")] }
            #expect(r.text == expected && Self.stopped(r.last) != nil, "\(pattern): \(r.text)")
        }
    }

    /// Stop strings do not cut a value: "b" inside it is the value's text; the same stop ends free text.
    @Test func stopStringsDoNotCutAValue() throws {
        var p = Self.params()
        p.stopStrings = ["b"]
        p.grammar = .rawText(try PatternDFA.compile("^abc$"))
        let r = run(p) { _ in [Self.id("a"), Self.id("b"), Self.id("c")] }
        #expect(r.text == "abc" && Self.stopped(r.last) != nil, "\(r.text)")
        p.grammar = nil
        #expect(run(p) { [[Self.id("a")], [Self.id("b")], [Self.id("c")]][min($0, 2)] }.text == "a")
    }

    /// A value nothing allowed may continue ends there if it may; one complete before anything is written is empty.
    @Test func aCompleteValueEndsWhenNothingAllowedFollows() throws {
        var p = Self.params()
        p.grammar = .rawText(try PatternDFA.compile("^ab(cd)?$"))
        p.allowedTokenIDs = [Self.id("a"), Self.id("b")]
        let r = run(p) { _ in [Self.id("a"), Self.id("b")] }
        #expect(r.text == "ab" && Self.stopped(r.last) != nil)
        var q = Self.params()
        q.grammar = .rawText(try PatternDFA.compile("^$"))
        q.ignoreEOS = true
        let empty = run(q) { _ in [Self.id("a")] }
        #expect(empty.text.isEmpty && empty.ids.isEmpty && Self.stopped(empty.last) != nil)
    }

    @Test func minTokensHoldsBackStopTokensAndStopStrings() {
        var p = Self.params()
        p.minTokens = 3
        // The end token is favoured from the start: it may only come fourth.
        let r = run(p) { _ in [Self.eos, Self.id("a")] }
        #expect(r.text == "aaa" && Self.stopped(r.last) != nil)
        // A stop string that completes within the first min_tokens tokens does not stop; one that completes later does.
        p.stopStrings = ["ab"]
        let s = run(p) { [[Self.id("a")], [Self.id("b")], [Self.id("c")], [Self.id("a")], [Self.id("b")], [Self.id("c")]][min($0, 5)] }
        #expect(s.text == "abc" && Self.stopped(s.last) != nil, "\(s.text)")
    }

    @Test func includeStopStringKeepsTheMatch() {
        var p = Self.params()
        p.stopStrings = ["cd"]
        let steps = [Self.id("a"), Self.id("b"), Self.id("c"), Self.id("d"), Self.id("e")]
        #expect(run(p) { [steps[min($0, 4)]] }.text == "ab")
        p.includeStopString = true
        #expect(run(p) { [steps[min($0, 4)]] }.text == "abcd")
    }

    @Test func allowedTokenIDsAndBadWords() {
        var p = Self.params(maxTokens: 4)
        p.allowedTokenIDs = [Self.id("c"), Self.id("d")]
        #expect(run(p) { _ in [Self.id("a"), Self.id("b"), Self.id("d"), Self.id("c")] }.text == "dddd")
        // "a" then "b" is barred (after "a", b may not come); "e" is barred anywhere.
        var q = Self.params(maxTokens: 4)
        q.badWords = [[Self.id("a"), Self.id("b")], [Self.id("e")]]
        #expect(run(q) { step in step % 2 == 0 ? [Self.id("a"), Self.id("b")] : [Self.id("b"), Self.id("e"), Self.id("c")] }.text == "acac")
        #expect(run(q) { _ in [Self.id("e"), Self.id("b")] }.text == "bbbb")
    }

    @Test func aFormatNoAllowedTokenCanWriteFails() {
        var p = Self.params()
        p.grammar = .anyObject
        p.allowedTokenIDs = [Self.id("a")]
        let r = run(p) { _ in [Self.id("a")] }
        guard case let .failed(message)? = r.last else { Issue.record("\(String(describing: r.last))"); return }
        #expect(message.contains("allowed_token_ids") && r.text.isEmpty)
    }

    /// Held text fed while matching was off, then an empty feed with matching on (the end of a value, a flush):
    /// a stop string shorter than what is held has no start to try. This crashed the server.
    @Test func anEmptyFeedAfterMatchingWasOffFindsNothing() {
        var m = StopStringMatcher(["\n", "END"])
        #expect(m.feed("ab", matching: false) == ("", nil))
        #expect(m.feed("", matching: true) == ("", nil) && m.drain() == "ab")
    }

    /// Under min_tokens a request's stop token is still the value's text inside a value.
    @Test func minTokensDoesNotBarAStopTokenAValueNeeds() throws {
        var p = Self.params()
        p.stopTokenIDs = [Self.id(".")]
        p.minTokens = 5
        p.grammar = .rawText(try PatternDFA.compile("^a\\.b$"))
        let r = run(p) { _ in [Self.id("a"), Self.id("."), Self.id("b")] }
        #expect(r.text == "a.b" && Self.stopped(r.last) != nil, "\(r.text) \(String(describing: r.last))")
    }

    @Test func stopStringsFedWithoutMatchingNeverMatchLater() {
        var m = StopStringMatcher(["ab", "abc"])
        #expect(m.feed("ab", matching: false) == ("", nil))   // "ab" held back (it may begin "abc")
        // "ab" completed while matching was off; "abc" ends in the new text, so it stops.
        #expect(m.feed("c", matching: true) == ("", "abc"))
        var n = StopStringMatcher(["ab"])
        #expect(n.feed("xa", matching: false) == ("x", nil))
        #expect(n.feed("b", matching: true) == ("", "ab"))   // "ab" ends in the new text
        var o = StopStringMatcher(["ab"])
        #expect(o.feed("ab", matching: false) == ("a", nil))
        #expect(o.feed("c", matching: true) == ("b", nil) && o.drain() == "c")   // "ab" ended before matching began
    }
}
