import Foundation
import Testing
@testable import Engine

/// A JSON key as the grammar spells it.
private func key(_ name: String) -> [UInt8] { Array("\"\(name)\"".utf8) }

/// `{"name": string, "age"?: integer, "tags": [enum "a"|"b", 1...3 items], "ok": boolean|null}`
private func personGrammar() -> OutputGrammar {
    var g = OutputGrammar(nodes: [], root: 0)
    let string = g.add(.string)
    let integer = g.add(.number(integer: true))
    let tag = g.add(.literals([Array("\"a\"".utf8), Array("\"b\"".utf8)]))
    let tags = g.add(.array(items: tag, minItems: 1, maxItems: 3))
    let bool = g.add(.literals([Array("true".utf8), Array("false".utf8)]))
    let null = g.add(.literals([Array("null".utf8)]))
    let ok = g.add(.anyOf([bool, null]))
    g.root = g.add(.object(properties: [
        .init(key: key("name"), value: string, required: true),
        .init(key: key("age"), value: integer, required: false),
        .init(key: key("tags"), value: tags, required: true),
        .init(key: key("ok"), value: ok, required: true),
    ], additional: nil))
    return g
}

private func matches(_ g: OutputGrammar, _ text: String) -> (prefix: Bool, complete: Bool) {
    let m = GrammarMatcher(CompiledGrammar(g))
    let s = m.advance(m.start, Array(text.utf8))
    return (!s.isEmpty, !s.isEmpty && m.canEnd(s))
}

@Suite struct GrammarMatcherTests {
    @Test func anyValueAcceptsJSONAndRefusesWhatIsNot() {
        let g = OutputGrammar.anyValue
        for ok in [#"{"a": [1, -0.5, 2e10, 3E-2, true, false, null, "x\u00e9\n\"", {}], "b": {"c": []}}"#, "0", "-12.5e+3", #""é😀""#,
                   "[ ]", " \n\t{ }", "123456789012345678.123456789012345678e-99", "922337203685477580", #""\ud83d\ude00""#] {
            #expect(matches(g, ok).complete, "\(ok)")
        }
        for bad in ["1e100", "1234567890123456789", "0.1234567890123456789", "{\"x\":1,\"x\":2}", "{\"a\":}", "[1,]", "01", "1.", "-", "{\"a\" 1}", "{,}", "[1 2]", "tru", "nul", "{\"a\":1}x", "\"\u{01}\"", "\"\\ud800\"",
                    "\"\\x\"", "'a'", "{a:1}", "+1", ".5", "1e"] {
            #expect(!matches(g, bad).complete, "\(bad)")
        }
        // Prefixes of valid JSON are open; prefixes that no continuation can save are not.
        #expect(matches(g, "{\"a\": [1, tr").prefix)
        #expect(!matches(g, "{\"a\": [1, tx").prefix)
        #expect(!matches(g, "{\"a\"]").prefix)
    }

    @Test func stringsAreValidUTF8WithoutSurrogateEscapes() {
        let m = GrammarMatcher(CompiledGrammar(.anyValue))
        func open(_ bytes: [UInt8]) -> Bool { !m.advance(m.start, [0x22] + bytes).isEmpty }
        #expect(open([0xC3, 0xA9]))                 // é
        #expect(open([0xF0, 0x9F, 0x98, 0x80]))     // 😀
        #expect(open([0xE2]))                       // a character still arriving
        #expect(!open([0xC0, 0x80]))                // overlong
        #expect(!open([0xED, 0xA0, 0x80]))          // UTF-16 surrogate as UTF-8
        #expect(!open([0xF4, 0x90, 0x80, 0x80]))    // above U+10FFFF
        #expect(!open([0x80]))                      // a lone continuation byte
        #expect(!open([0xC3, 0x41]))                // a lead byte without its continuation
        #expect(open(Array("\\uD7FF".utf8)))
        #expect(!open(Array("\\uDC00".utf8)))                 // a low half alone
        #expect(open(Array("\\uD83D\\uDE00".utf8)))         // a pair
        #expect(!open(Array("\\uD83Dx".utf8)))                // a high half alone
        #expect(!open(Array("\\uD83D\\u0041".utf8)))        // a high half, then no low one
    }

    @Test func completeValueMustEndAndNumbersMayEnd() {
        let m = GrammarMatcher(CompiledGrammar(.anyObject))
        let done = m.advance(m.start, Array("{\"a\":1}".utf8))
        #expect(m.mustEnd(done) && m.canEnd(done))
        #expect(m.advance(done, Array(" ".utf8)).isEmpty)   // nothing after the value, not even whitespace
        #expect(m.advance(m.start, Array("[1]".utf8)).isEmpty)   // json_object: an object, not an array
        let any = GrammarMatcher(CompiledGrammar(.anyValue))
        let number = any.advance(any.start, Array("12".utf8))
        #expect(any.canEnd(number) && !any.mustEnd(number))
        #expect(!any.advance(number, Array("3".utf8)).isEmpty)
    }

    @Test func schemaObjectsKeepOrderRequiredAndTypes() {
        let g = personGrammar()
        #expect(g.problem == nil)
        #expect(matches(g, #"{"name":"x","age":3,"tags":["a","b"],"ok":null}"#).complete)
        #expect(matches(g, #"{"name": "x", "tags": ["b"], "ok": true}"#).complete)   // optional age skipped
        #expect(!matches(g, #"{"name":"x","tags":["a"]}"#).complete)                  // required ok missing
        #expect(!matches(g, #"{"tags":["a"],"name":"x","ok":true}"#).prefix)          // out of declared order
        #expect(!matches(g, #"{"name":"x","age":3.5"#).prefix)                        // integer only
        #expect(!matches(g, #"{"name":"x","tags":[]"#).prefix)                        // minItems 1
        #expect(!matches(g, #"{"name":"x","tags":["a","a","a","#).prefix)             // maxItems 3
        #expect(!matches(g, #"{"name":"x","tags":["c"#).prefix)                       // enum
        #expect(!matches(g, #"{"name":"x","extra":1"#).prefix)                        // no additional properties
    }

    @Test func recursiveGrammarsAndSelfReferenceWithoutInput() {
        // tree = {"v": integer, "kids": [tree]}
        var g = OutputGrammar(nodes: [], root: 0)
        let int = g.add(.number(integer: true))
        let tree = g.add(.object(properties: [], additional: nil))
        let kids = g.add(.array(items: tree, minItems: 0, maxItems: nil))
        g.nodes[tree] = .object(properties: [.init(key: key("v"), value: int, required: true), .init(key: key("kids"), value: kids, required: true)],
                                additional: nil)
        g.root = tree
        #expect(g.problem == nil)
        #expect(matches(g, #"{"v":1,"kids":[{"v":2,"kids":[]},{"v":3,"kids":[{"v":4,"kids":[]}]}]}"#).complete)
        var loop = OutputGrammar(nodes: [.anyOf([1]), .anyOf([0, 2]), .string], root: 0)
        #expect(loop.problem != nil)
        loop.nodes[1] = .anyOf([2])
        #expect(loop.problem == nil)
    }

    /// Two references to one definition, nested thirty deep, make 2^30 paths: flattened once, a value starts at
    /// once (this took minutes and gigabytes when each path was expanded).
    @Test func sharedAlternativesAreExpandedOnce() {
        var g = OutputGrammar(nodes: [], root: 0)
        var next = g.add(.string)
        for _ in 0..<30 { next = g.add(.anyOf([next, next])) }
        g.root = next
        #expect(g.problem == nil)
        #expect(matches(g, #""x""#).complete)
    }

    /// An additional key may not be a declared one: its value would escape the declared schema.
    @Test func additionalKeysAreNotDeclaredOnes() {
        var g = OutputGrammar(nodes: [], root: 0)
        let int = g.add(.number(integer: true))
        let any = g.addAnyValue()
        g.root = g.add(.object(properties: [.init(key: key("a"), value: int, required: false)], additional: any))
        #expect(!matches(g, #"{"a":"s"}"#).complete)
        #expect(matches(g, #"{"a":1,"ab":"s"}"#).complete)
        #expect(matches(g, #"{"b":[1]}"#).complete)
        #expect(!matches(g, #"{"b":1,"c":2,"b":3}"#).complete)   // nor one written before
        #expect(matches(g, #"{"b":1,"c":2,"bb":3}"#).complete)
    }

    /// Keys are read with canonical escapes only, so "a" and "\u0061" cannot pass for two keys (or for a
    /// declared one); values keep every escape JSON has.
    @Test func keysHaveOneSpelling() {
        let g = OutputGrammar.anyObject
        for ok in [#"{"a\n":1}"#, #"{"\u0001\u001f":1}"#, #"{"\"\\":1}"#, #"{"é":"\u0061\/\u000A"}"#] {
            #expect(matches(g, ok).complete, "\(ok)")
        }
        for bad in [#"{"\u0061":1}"#, #"{"a\u000a":1}"#, #"{"\/":1}"#, #"{"\u001F":1}"#, #"{"\u00e9":1}"#, #"{"a":1,"\u0061":2}"#] {
            #expect(!matches(g, bad).complete, "\(bad)")
        }
    }

    /// Many optional properties are one parse (a key trie), not one per property: the last can come first.
    @Test func manyOptionalPropertiesStayReachable() {
        var g = OutputGrammar(nodes: [], root: 0)
        let int = g.add(.number(integer: true))
        let any = g.addAnyValue()
        let props = (0..<600).map { OutputGrammar.Property(key: key("p\($0)"), value: int, required: false) }
        g.root = g.add(.object(properties: props, additional: any))
        #expect(matches(g, #"{"p599":1}"#).complete)
        #expect(matches(g, #"{"p5":1,"p17":2,"zz":3}"#).complete)
        #expect(!matches(g, #"{"p17":1,"p5":2}"#).complete)   // declared order
    }

    @Test func aCompleteLiteralEndsTheValue() {
        var g = OutputGrammar(nodes: [], root: 0)
        g.root = g.add(.literals([Array("true".utf8), Array("false".utf8)]))
        let m = GrammarMatcher(CompiledGrammar(g))
        #expect(m.mustEnd(m.advance(m.start, Array("true".utf8))))
        var n = OutputGrammar(nodes: [], root: 0)
        n.root = n.add(.number(integer: true))
        let numbers = GrammarMatcher(CompiledGrammar(n))
        #expect(!numbers.mustEnd(numbers.advance(numbers.start, Array("12".utf8))))
        #expect(numbers.mustEnd(numbers.advance(numbers.start, Array(String(repeating: "9", count: 18).utf8))))
    }

    @Test func schemasWithNoFiniteValueAreRefused() {
        // node = {"n": node} with n required: every value would be infinite.
        var g = OutputGrammar(nodes: [], root: 0)
        let o = g.add(.object(properties: [], additional: nil))
        g.nodes[o] = .object(properties: [.init(key: key("n"), value: o, required: true)], additional: nil)
        g.root = o
        #expect(g.problem != nil)
        g.nodes[o] = .object(properties: [.init(key: key("n"), value: o, required: false)], additional: nil)
        #expect(g.problem == nil)
    }

    @Test func nestingAndWhitespaceAreBounded() {
        let m = GrammarMatcher(CompiledGrammar(.anyValue))
        let deep = m.advance(m.start, [UInt8](repeating: UInt8(ascii: "["), count: GrammarMatcher.maxFrames / 2))
        #expect(!deep.isEmpty)
        #expect(m.advance(m.start, [UInt8](repeating: UInt8(ascii: "["), count: GrammarMatcher.maxFrames + 2)).isEmpty)
        let spaces = [UInt8](repeating: 0x20, count: Int(GrammarMatcher.maxWhitespace))
        #expect(!m.advance(m.start, Array("[".utf8) + spaces).isEmpty)
        #expect(m.advance(m.start, Array("[".utf8) + spaces + [0x20]).isEmpty)
        #expect(!m.advance(m.start, Array("[".utf8) + spaces + Array("1,".utf8) + spaces).isEmpty)   // the count restarts
    }
}

/// A small byte-level vocabulary: every printable ASCII byte, some UTF-8 pieces, and multi-byte JSON-ish tokens.
private func testVocabulary() -> [[UInt8]] {
    var v: [[UInt8]] = (0x20..<0x7F).map { [UInt8($0)] } + [[0x0A], [0xC3], [0xA9], [0xC3, 0xA9], [0xF0, 0x9F], [0x98, 0x80]]
    for t in ["{\"", "\":", "\",", "\"}", "\"]", "true", "false", "null", "name", "age", "tags", "ok", "\":\"", "},{", "[\"", "\"a\"", "12",
              "0.5", "e-3", " {", "\n  ", "\\u00", "\\n", "ab", "\"a\",\"b\"]", "}\n", "{}", "[]"] {
        v.append(Array(t.utf8))
    }
    v.append([])   // a special token: never picked
    return v
}

@Suite struct StructuredSamplingTests {
    /// The mask from the walk over the sorted vocabulary equals checking each token on its own, in every state
    /// reached along random valid outputs.
    @Test func maskWalkEqualsPerTokenCheck() {
        let vocab = testVocabulary()
        let stop = vocab.count
        for grammar in [OutputGrammar.anyValue, personGrammar()] {
            var out = StructuredOutput(grammar: grammar, vocabulary: StructuredVocabulary(bytes: vocab), stopTokenIDs: [stop])
            var rng = SplitMix64(seed: 7)
            for _ in 0..<60 {
                let mask = out.mask(count: vocab.count + 1)
                for id in 0...vocab.count { #expect(mask[id] == out.allows(id), "token \(id)") }
                let allowed = mask.indices.filter { mask[$0] && $0 != stop }
                if allowed.isEmpty || out.mustEnd { break }
                out.advance(allowed[Int(rng.next() % UInt64(allowed.count))])
            }
        }
    }

    /// Inside an additional key the mask comes from a cache that ignores the key's running hash; the tokens that
    /// could close it are checked again: a key written before stays closed.
    @Test func cachedMasksStillRefuseARepeatedKey() {
        let vocab = testVocabulary()
        var out = StructuredOutput(grammar: .anyObject, vocabulary: StructuredVocabulary(bytes: vocab), stopTokenIDs: [])
        func id(_ t: String) -> Int { vocab.firstIndex(of: Array(t.utf8))! }
        for t in ["{\"", "ab", "\":", "1", ",", "\"", "a"] { #expect(out.allows(id(t)), "\(t)"); out.advance(id(t)) }
        _ = out.mask(count: vocab.count)   // caches the state "inside a key" without its hash
        out.advance(id("b"))                // "ab", as before
        let mask = out.mask(count: vocab.count)
        #expect(!mask[id("\"")] && !mask[id("\":")] && !out.allows(id("\"")))
        #expect(mask[id("a")])              // "aba" is new
        for t in 0..<vocab.count { #expect(mask[t] == out.allows(t), "token \(t)") }
        // A whole key in one token: after {"a":1, the token "a" would repeat it.
        var whole = StructuredOutput(grammar: .anyObject, vocabulary: StructuredVocabulary(bytes: vocab), stopTokenIDs: [])
        for t in ["{\"", "a", "\":", "1", ","] { whole.advance(id(t)) }
        let m = whole.mask(count: vocab.count)
        #expect(!m[id("\"a\"")] && m[id("\"")])
        for t in 0..<vocab.count { #expect(m[t] == whole.allows(t), "token \(t)") }
    }

    /// Whatever the logits, the output parses as JSON of the requested shape and ends with `stop`.
    @Test(arguments: [Float(0), 1, 1.5])
    func randomLogitsStillGiveValidJSON(temperature: Float) throws {
        let vocab = testVocabulary()
        let eos = vocab.count
        for seed in 0..<12 {
            var params = SamplingParams(temperature: temperature, topP: seed % 3 == 0 ? 0.9 : 1, seed: UInt64(seed), maxTokens: 400)
            params.grammar = seed % 2 == 0 ? personGrammar() : .anyObject
            let req = EngineRequest(id: "r\(seed)", promptTokenIDs: [1], sampling: params)
            var gen = Generation(request: req, contextLength: 1000, stopTokenIDs: [eos], decodeBytes: { ids in ids.flatMap { $0 < vocab.count ? vocab[$0] : [] } },
                                 vocabulary: { StructuredVocabulary(bytes: vocab) })
            var rng = SplitMix64(seed: UInt64(seed) &* 31 &+ 5)
            var events: [TokenEvent] = []
            for _ in 0..<400 {
                let logits = (0...vocab.count).map { _ in Float(rng.next() % 1000) / 100 }
                let (e, finished) = gen.accept(logits: logits)
                events += e
                if finished { break }
            }
            let text = events.map { e -> String in
                switch e {
                case let .token(_, t, _), let .text(t): return t
                default: return ""
                }
            }.joined()
            guard case .finished(.stop, _)? = events.last else {
                Issue.record("seed \(seed): did not end with stop: \(String(describing: events.last)) after \(text.prefix(200))")
                continue
            }
            let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let object = try #require(value as? [String: Any], "seed \(seed): \(text)")
            if seed % 2 == 0 {
                #expect(object["name"] is String)
                let tags = try #require(object["tags"] as? [String])
                #expect((1...3).contains(tags.count) && tags.allSatisfy { $0 == "a" || $0 == "b" })
                #expect(object["ok"] is NSNull || object["ok"] is Bool)
                #expect(Set(object.keys).isSubset(of: ["name", "age", "tags", "ok"]))
            }
        }
    }

    /// Greedy under a grammar is the argmax over the allowed tokens, whether or not it lies in the first 32.
    @Test func greedyPicksTheBestAllowedToken() {
        let vocab = testVocabulary()
        let v = StructuredVocabulary(bytes: vocab)
        var params = SamplingParams(temperature: 0)
        params.grammar = .anyObject
        var sampler = Sampler(params: params)
        var out = StructuredOutput(grammar: .anyObject, vocabulary: v, stopTokenIDs: [])
        // Descending logits over the ids, so the first 40 tokens (ASCII ' ' … 'G') hold the best 32: of those, only
        // ' ' may start an object; with whitespace made worst, '{' (far down) and then '{"' are the candidates.
        var logits = (0..<vocab.count).map { Float(vocab.count - $0) }
        logits[0] = -50
        let brace = vocab.firstIndex(of: Array("{".utf8))!, braceQuote = vocab.firstIndex(of: Array("{\"".utf8))!
        logits[braceQuote] = logits[brace] - 1
        let mask = out.mask(count: logits.count)
        let expected = logits.indices.filter { mask[$0] }.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }
        #expect(sampler.sample(logits, history: [], generated: [], output: &out) == expected)
        #expect(expected == brace)
    }

    /// A stop token whose text is printable may still only end a complete value, never a string.
    @Test func stopTokensWithTextOnlyEndCompleteValues() {
        var vocab = testVocabulary()
        vocab.append(Array("<|end|>".utf8))
        let stop = vocab.count - 1
        var out = StructuredOutput(grammar: .anyObject, vocabulary: StructuredVocabulary(bytes: vocab), stopTokenIDs: [stop])
        for piece in ["{\"", "ab"] { out.advance(vocab.firstIndex(of: Array(piece.utf8))!) }
        #expect(!out.mask(count: vocab.count)[stop] && !out.allows(stop))
    }

    /// With ignore_eos there is no stop token to sample: a complete literal or a number out of digits ends it.
    @Test func ignoreEOSStillEndsACompleteValue() {
        let vocab = testVocabulary()
        for (node, text) in [(OutputGrammar.Node.literals([Array("true".utf8), Array("false".utf8)]), ["true", "false"]),
                             (.number(integer: true), [String(repeating: "9", count: 18)])] {
            var params = SamplingParams(temperature: 1, seed: 3, maxTokens: 100, ignoreEOS: true)
            params.grammar = OutputGrammar(nodes: [node], root: 0)
            let req = EngineRequest(id: "r", promptTokenIDs: [1], sampling: params)
            var gen = Generation(request: req, contextLength: 1000, stopTokenIDs: [vocab.count], decodeBytes: { ids in ids.flatMap { vocab[$0] } },
                                 vocabulary: { StructuredVocabulary(bytes: vocab) })
            var events: [TokenEvent] = []
            for _ in 0..<100 {
                var logits = [Float](repeating: 0, count: vocab.count + 1)
                logits[vocab.firstIndex(of: [UInt8(ascii: "9")])!] = 5
                let (e, finished) = gen.accept(logits: logits)
                events += e
                if finished { break }
            }
            guard case .finished(.stop, _)? = events.last else { Issue.record("\(events.last as Any)"); continue }
            let out = events.compactMap { if case let .token(_, t, _) = $0 { return t } else { return nil } }.joined()
            #expect(text.contains(out) || (out.count == 18 && out.allSatisfy(\.isNumber)), "\(out)")
        }
    }

    @Test func hitsTheLengthLimitInsideTheValue() {
        let vocab = testVocabulary()
        var params = SamplingParams(temperature: 0, maxTokens: 2)
        params.grammar = .anyObject
        let req = EngineRequest(id: "r", promptTokenIDs: [1], sampling: params)
        var gen = Generation(request: req, contextLength: 100, stopTokenIDs: [], decodeBytes: { ids in ids.flatMap { vocab[$0] } },
                             vocabulary: { StructuredVocabulary(bytes: vocab) })
        let logits = [Float](repeating: 0, count: vocab.count)
        _ = gen.accept(logits: logits)
        let (events, finished) = gen.accept(logits: logits)
        #expect(finished)
        #expect(events.last.map { if case .finished(.length, _) = $0 { return true } else { return false } } == true)
    }
}

/// A thinking model under a response format: the reasoning before `</think>` is free, the answer after it follows
/// the grammar.
@Suite struct DelayedGrammarTests {
    @Test func theGrammarAppliesAfterTheMarker() throws {
        let vocab = testVocabulary() + [Array("I think".utf8), Array("</think>".utf8), Array("</think>{\"".utf8)]
        let eos = vocab.count
        func id(_ t: String) -> Int { vocab.firstIndex(of: Array(t.utf8))! }
        for (seed, close) in [(1, "</think>"), (2, "</think>{\"")] {
            var params = SamplingParams(temperature: 1, seed: UInt64(seed), maxTokens: 300)
            params.grammar = .anyObject
            params.grammarAfter = Array("</think>".utf8)
            let req = EngineRequest(id: "r", promptTokenIDs: [1], sampling: params)
            var gen = Generation(request: req, contextLength: 1000, stopTokenIDs: [eos], decodeBytes: { ids in ids.flatMap { $0 < vocab.count ? vocab[$0] : [] } },
                                 vocabulary: { StructuredVocabulary(bytes: vocab) })
            // Reasoning first ("I think", twice: no JSON could begin so), then the marker, then anything.
            let (text, events) = scriptedRun(&gen, logitCount: vocab.count + 1, seed: UInt64(seed)) { step, logits in
                if step < 2 { logits[id("I think")] = 100 } else if step == 2 { logits[id(close)] = 100 }
            }
            guard case .finished(.stop, _)? = events.last else { Issue.record("did not stop: \(text.prefix(200))"); continue }
            #expect(text.hasPrefix("I thinkI think</think>"), "\(text.prefix(60))")
            let answer = String(text.dropFirst("I thinkI think</think>".count))
            #expect(try JSONSerialization.jsonObject(with: Data(answer.utf8)) is [String: Any], "\(answer)")
        }
    }

    /// A token that ends the block and goes on with text no value begins with is drawn again without it; one whose
    /// rest begins the value is taken.
    @Test func aTokenEndingTheBlockWithTextOutsideTheValueIsRefused() throws {
        let vocab = testVocabulary() + [Array("</think>X".utf8), Array("</think>\n\n{".utf8), Array("</think>".utf8)]
        let eos = vocab.count
        func id(_ t: String) -> Int { vocab.firstIndex(of: Array(t.utf8))! }
        var params = SamplingParams(temperature: 0, maxTokens: 100)
        params.grammar = .anyObject
        params.grammarAfter = Array("</think>".utf8)
        var gen = Generation(request: EngineRequest(id: "r", promptTokenIDs: [1], sampling: params), contextLength: 1000, stopTokenIDs: [eos],
                             decodeBytes: { ids in ids.flatMap { $0 < vocab.count ? vocab[$0] : [] } }, vocabulary: { StructuredVocabulary(bytes: vocab) })
        // "</think>X" is the favourite, then "</think>\n\n{": the second is taken, and the value goes on from its "{".
        let (text, events) = scriptedRun(&gen, logitCount: vocab.count + 1, seed: 3) { step, logits in
            if step == 0 { logits[id("</think>X")] = 100; logits[id("</think>\n\n{")] = 90 } else if step > 3 { logits[id("}")] = 50; logits[eos] = 60 }
        }
        guard case .finished(.stop, _)? = events.last else { Issue.record("\(text)"); return }
        #expect(text.hasPrefix("</think>\n\n{"), "\(text)")
        #expect(try JSONSerialization.jsonObject(with: Data(text.dropFirst("</think>".count).utf8)) is [String: Any], "\(text)")
    }

    /// The model may not end the request before the value: stop tokens are out while the grammar waits.
    @Test func noStopBeforeTheValue() {
        let vocab = testVocabulary() + [Array("</think>".utf8)]
        let eos = vocab.count, close = vocab.count - 1
        var params = SamplingParams(temperature: 0, maxTokens: 50)
        params.grammar = .anyObject
        params.grammarAfter = Array("</think>".utf8)
        var gen = Generation(request: EngineRequest(id: "r", promptTokenIDs: [1], sampling: params), contextLength: 1000, stopTokenIDs: [eos],
                             decodeBytes: { ids in ids.flatMap { $0 < vocab.count ? vocab[$0] : [] } }, vocabulary: { StructuredVocabulary(bytes: vocab) })
        var logits = [Float](repeating: 0, count: vocab.count + 1)
        logits[eos] = 50
        logits[close] = 10
        let (events, finished) = gen.accept(logits: logits)
        #expect(!finished)
        guard case let .token(id, _, _)? = events.first else { Issue.record("\(events)"); return }
        #expect(id == close)
    }

    /// Skipped special tokens' text stays out, except the ones the request keeps (a thinking model's markers).
    @Test func keptSpecialTokensKeepTheirText() {
        let vocab: [[UInt8]] = [Array("a".utf8), Array("</think>".utf8), Array("<|im_end|>".utf8)]
        var params = SamplingParams(temperature: 0, maxTokens: 3, ignoreEOS: true)
        params.keepSpecialTokenIDs = [1]
        var gen = Generation(request: EngineRequest(id: "r", promptTokenIDs: [0], sampling: params), contextLength: 100, stopTokenIDs: [],
                             decodeBytes: { ids in ids.flatMap { vocab[$0] } }, specialTokenIDs: [1, 2])
        var text = ""
        for next in [1, 2, 0] {
            var logits = [Float](repeating: 0, count: 3)
            logits[next] = 10
            for e in gen.accept(logits: logits).events { if case let .token(_, t, _) = e { text += t } }
        }
        #expect(text == "</think>a")
    }
}
