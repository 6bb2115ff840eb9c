import Foundation
import Testing
@testable import Engine

/// Markers that may come where a grammar's value starts: a tool call in the model's format ends the grammar, a
/// think block the model opens defers it.
@Suite struct GrammarGateTests {
    /// Byte tokens, some JSON pieces, and the markers as single tokens (as real tokenizers hold them).
    static let vocab: [[UInt8]] = (0x20..<0x7F).map { [UInt8($0)] } + [[0x0A]]
        + ["{\"", "\":", "\"}", "<tool_call>", "<think>", "</think>", "hello"].map { Array($0.utf8) }
    static let tool = GrammarMarker("<tool_call>", then: .free)
    static let think = GrammarMarker("<think>", then: .waitFor(Array("</think>".utf8)))

    static func id(_ t: String, in vocab: [[UInt8]] = vocab) -> Int { vocab.firstIndex(of: Array(t.utf8))! }

    func generation(_ markers: [GrammarMarker], vocab: [[UInt8]] = vocab, temperature: Float = 1, seed: UInt64 = 1) -> Generation {
        var params = SamplingParams(temperature: temperature, seed: seed, maxTokens: 300)
        params.grammar = .anyObject
        params.grammarMarkers = markers
        return Generation(request: EngineRequest(id: "r", promptTokenIDs: [1], sampling: params), contextLength: 1000, stopTokenIDs: [vocab.count],
                          decodeBytes: { ids in ids.flatMap { $0 < vocab.count ? vocab[$0] : [] } }, vocabulary: { StructuredVocabulary(bytes: vocab) })
    }

    /// Runs on random logits, raised at each step for the tokens `favour` names (the first the most); the text and
    /// the last event.
    func run(_ gen: inout Generation, vocab: [[UInt8]] = vocab, seed: UInt64 = 1, favour: (Int) -> [Int]) -> (text: String, last: TokenEvent?) {
        let (text, events) = scriptedRun(&gen, logitCount: vocab.count + 1, seed: seed) { step, logits in
            for (rank, id) in favour(step).enumerated() { logits[id] = 200 - Float(rank) * 50 }
        }
        return (text, events.last)
    }

    static func isStop(_ e: TokenEvent?) -> Bool { if case .finished(.stop, _)? = e { return true } else { return false } }

    @Test func aToolCallMarkerEndsTheGrammar() {
        var gen = generation([Self.tool])
        let eos = Self.vocab.count
        // The marker, then text no JSON could be, then the end.
        let (text, last) = run(&gen) { step in step == 0 ? [Self.id("<tool_call>")] : step < 4 ? [Self.id("hello")] : [eos] }
        #expect(text == "<tool_call>hellohellohello" && Self.isStop(last), "\(text)")
    }

    @Test func withoutTheMarkerTheValueFollowsTheGrammar() {
        for seed in 1...5 {
            var gen = generation([Self.tool], seed: UInt64(seed))
            // The marker is favoured once the value has begun (past a number, where no string could hold it): too
            // late. Then the pieces that end the value.
            let begin = [Self.id("{\""), Self.id("a"), Self.id("\":"), Self.id("1")]
            let ends = [Self.vocab.count, Self.id("\"}"), Self.id("}")]
            let (text, last) = run(&gen, seed: UInt64(seed)) { step in step < 4 ? [begin[step]] : [Self.id("<tool_call>")] + ends }
            #expect(Self.isStop(last) && text == #"{"a":1}"#, "\(text)")
        }
        // Whitespace first does not begin the value: the marker may still come.
        var gen = generation([Self.tool])
        let (text, _) = run(&gen) { step in step == 0 ? [Self.id("\n")] : step == 1 ? [Self.id("<tool_call>")] : [Self.vocab.count] }
        #expect(text == "\n<tool_call>", "\(text)")
    }

    @Test func theValueMustStartBeforeTheRequestMayEnd() {
        var gen = generation([Self.tool])
        var logits = [Float](repeating: 0, count: Self.vocab.count + 1)
        logits[Self.vocab.count] = 100
        let (events, finished) = gen.accept(logits: logits)
        #expect(!finished)
        guard case let .token(id, _, _)? = events.first else { Issue.record("\(events)"); return }
        #expect(id != Self.vocab.count)
    }

    @Test func aThinkBlockTheModelOpensDefersTheGrammarOnce() throws {
        var gen = generation([Self.think, Self.tool])
        let eos = Self.vocab.count
        // <think>, reasoning (the end favoured too: refused while the block is open), </think>, then <think> again
        // (refused: one block), then anything.
        let (text, last) = run(&gen) { step in
            switch step {
            case 0: return [Self.id("<think>")]
            case 1, 2: return [eos, Self.id("hello")]
            case 3: return [Self.id("</think>")]
            case 4: return [Self.id("<think>")]
            default: return []
            }
        }
        #expect(Self.isStop(last) && text.hasPrefix("<think>hellohello</think>"), "\(text)")
        let answer = String(text.dropFirst("<think>hellohello</think>".count))
        #expect(!answer.contains("<think>"))
        #expect(try JSONSerialization.jsonObject(with: Data(answer.utf8)) is [String: Any], "\(answer)")
        // After the block, a tool call may still come instead of the value.
        var calling = generation([Self.think, Self.tool])
        let (called, _) = run(&calling) { step in
            [[Self.id("<think>")], [Self.id("</think>")], [Self.id("\n")], [Self.id("<tool_call>")], [Self.id("hello")]][min(step, 4)] + [eos]
        }
        #expect(called.hasPrefix("<think></think>\n<tool_call>hello"), "\(called)")
    }

    /// A tokenizer without the marker as one token: once a piece of it is out, only its rest may follow.
    @Test func aMarkerSplitOverTokensIsWrittenWhole() {
        let vocab = Self.vocab.filter { $0 != Array("<tool_call>".utf8) } + [Array("<tool".utf8), Array("_call>".utf8)]
        for seed in 1...5 {
            var gen = generation([Self.tool], vocab: vocab, seed: UInt64(seed))
            let (text, _) = run(&gen, vocab: vocab, seed: UInt64(seed)) { step in
                step == 0 ? [Self.id("<tool", in: vocab)] : step < 4 ? [Self.id("{\"", in: vocab), vocab.count] : [vocab.count]
            }
            #expect(text.hasPrefix("<tool_call>"), "\(text)")
        }
        // Two markers that begin alike: the tokens after the shared piece decide which.
        let pieces = Self.vocab.filter { !["<tool_call>", "<think>"].contains(String(decoding: $0, as: UTF8.self)) }
            + ["think>", "tool_call>"].map { Array($0.utf8) }
        for (second, expected) in [("tool_call>", "<tool_call>hello"), ("think>", "<think>hello")] {
            var gen = generation([Self.think, Self.tool], vocab: pieces)
            let (text, _) = run(&gen, vocab: pieces) { step in
                [[Self.id("<", in: pieces)], [Self.id(second, in: pieces)], [Self.id("hello", in: pieces)]][min(step, 2)] + [pieces.count]
            }
            #expect(text.hasPrefix(expected), "\(text)")
        }
    }

    @Test func markerTokensPreferTheWholeMarker() {
        let vocab = ["<", "<tool", "_call>", "<tool_call>", "<tool_call>\n", "x"].map { Array($0.utf8) }
        let tokens = MarkerTokens(marker: Array("<tool_call>".utf8), vocabularySize: vocab.count, tokenBytes: { vocab[$0] })
        #expect(Set(tokens.candidates[0].keys) == [3, 4])
        #expect(Set(tokens.candidates[5].keys) == [2])
        let split = Array(vocab[0...2])
        let pieces = MarkerTokens(marker: Array("<tool_call>".utf8), vocabularySize: split.count, tokenBytes: { split[$0] })
        #expect(Set(pieces.candidates[0].keys) == [0, 1])
    }
}

/// Runs a generation on random logits (0–10, from `seed`) that `adjust` changes per step, until it finishes or
/// `steps` pass: the text written and the events.
func scriptedRun(_ gen: inout Generation, logitCount: Int, seed: UInt64, steps: Int = 300,
                 adjust: (Int, inout [Float]) -> Void) -> (text: String, events: [TokenEvent]) {
    var rng = SplitMix64(seed: seed)
    var events: [TokenEvent] = []
    for step in 0..<steps {
        var logits = (0..<logitCount).map { _ in Float(rng.next() % 1000) / 100 }
        adjust(step, &logits)
        let (e, finished) = gen.accept(logits: logits)
        events += e
        if finished { break }
    }
    let text = events.map { e -> String in
        switch e { case let .token(_, t, _), let .text(t): return t; default: return "" }
    }.joined()
    return (text, events)
}
