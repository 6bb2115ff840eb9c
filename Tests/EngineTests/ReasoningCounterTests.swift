import Testing
@testable import Engine

@Suite struct ReasoningCounterTests {
    func count(_ tokens: [String], inside: Bool) -> Int {
        var c = ReasoningCounter(ReasoningMarkers(startsInside: inside))
        for t in tokens { c.add(Array(t.utf8)) }
        return c.count
    }

    @Test func countsTheTokensOfTheThinkBlock() {
        // Opened by the prompt: up to the token that closes it, across a split marker.
        #expect(count(["a", "b</th", "ink>", "x", "y"], inside: true) == 3)
        #expect(count(["a", "b"], inside: true) == 2)   // never closed
        // Opened by the model at the start (whitespace first, the marker split).
        #expect(count(["  ", "<th", "ink>", "r", "</think>", "x"], inside: false) == 5)
        #expect(count(["<think></think>", "x"], inside: false) == 1)
        // No block at the start: nothing counts, even a later one.
        #expect(count(["Hello", " <think>", "x</think>"], inside: false) == 0)
        #expect(count(["<", "b"], inside: false) == 0)
    }

    /// The engine's usage carries the count for a request that asks for it, and none otherwise.
    @Test func usageReportsIt() {
        let vocab: [[UInt8]] = [Array("r".utf8), Array("</think>".utf8), Array("a".utf8)]
        for markers in [ReasoningMarkers(startsInside: true), nil] {
            var params = SamplingParams(temperature: 0, maxTokens: 3, ignoreEOS: true)
            params.reasoning = markers
            var gen = Generation(request: EngineRequest(id: "r", promptTokenIDs: [0], sampling: params), contextLength: 100, stopTokenIDs: [],
                                 decodeBytes: { ids in ids.flatMap { vocab[$0] } })
            var last: Usage?
            for next in [0, 1, 2] {
                var logits = [Float](repeating: 0, count: 3)
                logits[next] = 10
                for e in gen.accept(logits: logits).events { if case let .finished(_, u) = e { last = u } }
            }
            #expect(last?.reasoningTokens == (markers == nil ? nil : 2))
        }
    }
}
