import Foundation
import Logging
import Testing
@testable import Engine

/// Collects one request's events and lets a test wait for the end.
final class EventLog: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [TokenEvent] = []

    func record(_ e: TokenEvent) { cond.lock(); items.append(e); cond.broadcast(); cond.unlock() }

    /// Waits until a terminal event arrives (or 5 s pass) and returns everything received.
    func waitForEnd() -> [TokenEvent] {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(5)
        while !items.contains(where: { if case .token = $0 { return false }; if case .text = $0 { return false }; return true }) {
            if !cond.wait(until: deadline) { break }
        }
        return items
    }
}

@Suite struct EngineLoopTests {
    func engine(_ model: CountingModel = CountingModel(), stops: Set<Int> = []) -> EngineLoop {
        // Token i decodes to the letter (97 + i % 26) so text events are checkable.
        let e = EngineLoop(model: model, decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: stops,
                           configuration: EngineConfiguration(blockSize: 4, kvCacheBytes: 64 << 10), logger: Logger(label: "test"))
        e.start()
        return e
    }

    func run(_ e: EngineLoop, _ prompt: [Int], _ params: SamplingParams, id: String = UUID().uuidString) -> [TokenEvent] {
        let log = EventLog()
        e.submit(EngineRequest(id: id, promptTokenIDs: prompt, sampling: params)) { log.record($0) }
        return log.waitForEnd()
    }

    @Test func greedyGenerationStopsAtMaxTokens() {
        let e = engine()
        defer { e.shutdown() }
        let events = run(e, [1, 2, 3], SamplingParams(temperature: 0, maxTokens: 4))
        #expect(events == [.token(id: 4, text: "e"), .token(id: 5, text: "f"), .token(id: 6, text: "g"), .token(id: 7, text: "h"),
                           .finished(reason: .length, usage: Usage(promptTokens: 3, completionTokens: 4))])
    }

    @Test func stopTokenEndsWithoutBeingEmitted() {
        let e = engine(stops: [6])
        defer { e.shutdown() }
        let events = run(e, [3], SamplingParams(temperature: 0, maxTokens: 10))
        #expect(events == [.token(id: 4, text: "e"), .token(id: 5, text: "f"), .finished(reason: .stop, usage: Usage(promptTokens: 1, completionTokens: 2))])
        // ignore_eos runs through the model's stop tokens.
        let through = run(e, [3], SamplingParams(temperature: 0, maxTokens: 4, ignoreEOS: true))
        #expect(through.last == .finished(reason: .length, usage: Usage(promptTokens: 1, completionTokens: 4)))
        // A request's own stop ids apply too, and (as vLLM's stop_token_ids) stay in the output; usage names the one
        // that stopped it (the model's own stop token is named by none).
        let own = run(e, [10], SamplingParams(temperature: 0, maxTokens: 9, stopTokenIDs: [12]))
        #expect(own.map { if case let .token(id, _, _) = $0 { return id } else { return nil } } == [11, 12, nil]
            && own.last == .finished(reason: .stop, usage: Usage(promptTokens: 1, completionTokens: 2, stop: .token(12))))
    }

    @Test func contextLengthCapsGeneration() {
        let e = engine(CountingModel(vocab: 50, context: 8))
        defer { e.shutdown() }
        let events = run(e, [0, 1, 2, 3, 4], SamplingParams(temperature: 0, maxTokens: 100))
        #expect(events.last == .finished(reason: .length, usage: Usage(promptTokens: 5, completionTokens: 3)))
    }

    @Test func invalidRequestsFailClearly() {
        let e = engine()
        defer { e.shutdown() }
        #expect(run(e, [], SamplingParams(maxTokens: 3)) == [.failed(message: "the prompt is empty")])
        let tooLong = run(e, Array(repeating: 1, count: 64), SamplingParams(maxTokens: 3))
        #expect(tooLong.count == 1)
        if case let .failed(msg) = tooLong.first { #expect(msg.contains("64")) } else { Issue.record("expected failure") }
    }

    @Test func abortedRequestEndsAndOthersContinue() {
        let e = engine()
        defer { e.shutdown() }
        let first = EventLog(), second = EventLog()
        e.submit(EngineRequest(id: "a", promptTokenIDs: [1], sampling: SamplingParams(temperature: 0, maxTokens: 40))) { first.record($0) }
        e.submit(EngineRequest(id: "b", promptTokenIDs: [1], sampling: SamplingParams(temperature: 0, maxTokens: 60))) { second.record($0) }
        e.abort("b")
        guard case .finished(.abort, _)? = second.waitForEnd().last else { Issue.record("b did not abort"); return }
        let a = first.waitForEnd()
        #expect(a.last == .finished(reason: .length, usage: Usage(promptTokens: 1, completionTokens: 40)))
    }

    @Test func shutdownFailsLaterSubmissions() {
        let e = engine()
        e.shutdown()
        #expect(run(e, [1], SamplingParams(maxTokens: 2)) == [.failed(message: "the engine is shutting down")])
    }
}

@Suite struct SamplerTests {
    @Test func greedyPicksArgmaxWithLowestIdOnTies() {
        var s = Sampler(params: SamplingParams(temperature: 0))
        #expect(s.sample([0, 3, 1, 3]) == 1)
    }

    @Test func sameSeedSameTokens() {
        let logits: [Float] = (0..<100).map { Float($0 % 7) * 0.3 }
        func draw(_ seed: UInt64) -> [Int] {
            var s = Sampler(params: SamplingParams(temperature: 0.9, topP: 0.95, seed: seed))
            return (0..<50).map { _ in s.sample(logits) }
        }
        #expect(draw(1) == draw(1))
        #expect(draw(1) != draw(2))
    }

    @Test func samplingFollowsTheDistribution() {
        // p(1) / p(0) = e^(ln 3) = 3 at temperature 1.
        var s = Sampler(params: SamplingParams(temperature: 1, seed: 123))
        let logits: [Float] = [0, Float(Foundation.log(3.0))]
        let ones = (0..<20_000).filter { _ in s.sample(logits) == 1 }.count
        #expect(abs(Double(ones) / 20_000 - 0.75) < 0.015)
    }

    @Test func topKAndTopPRestrictTheCandidates() {
        let logits: [Float] = [5, 4, 3, 2, 1]
        var k1 = Sampler(params: SamplingParams(temperature: 2, topK: 1, seed: 5))
        #expect((0..<200).allSatisfy { _ in k1.sample(logits) == 0 })
        var k2 = Sampler(params: SamplingParams(temperature: 5, topK: 2, seed: 5))
        #expect(Set((0..<500).map { _ in k2.sample(logits) }) == [0, 1])
        var p = Sampler(params: SamplingParams(temperature: 1, topP: 0.5, seed: 5))
        #expect((0..<200).allSatisfy { _ in p.sample(logits) == 0 })   // p(0) ≈ 0.64 ≥ 0.5
    }

    /// Top-k by selection and top-p from the head of the distribution keep exactly the tokens a full sort keeps,
    /// in the same order.
    @Test func fastTopKAndTopPMatchTheFullSort() {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<40 {
            let n = 3000 + trial * 37
            let spread = Float(1 + trial % 5) * 2
            let logits = (0..<n).map { _ in (Float(rng.next() % 10_000) / 10_000 - 0.5) * spread * 4 }
            var reference = Candidates(logits: logits)
            reference.sortDescending()
            let k = 1 + trial * 5
            var fast = Candidates(logits: logits)
            TopK(k: k).process(&fast)
            #expect(fast.ids == Array(reference.ids.prefix(k)), "trial \(trial)")
            let p: Float = [0.5, 0.9, 0.95, 0.99][trial % 4]
            let m = reference.logits[0]
            let total = reference.logits.reduce(0.0) { $0 + Foundation.exp(Double($1 - m)) }
            var mass = 0.0, keep = n
            for (i, l) in reference.logits.enumerated() { mass += Foundation.exp(Double(l - m)) / total; if mass >= Double(p) { keep = i + 1; break } }
            var nucleus = Candidates(logits: logits)
            TopP(p: p).process(&nucleus)
            #expect(nucleus.ids.count == keep, "trial \(trial)")
            #expect(nucleus.ids == Array(reference.ids.prefix(keep)), "trial \(trial)")
        }
    }

    /// A temperature far below 1 (but not 0) is the greedy limit, never NaN probabilities: dividing first
    /// overflowed every positive logit to +∞, and the sampler then returned the last candidate every time.
    @Test func tinyTemperatureIsTheGreedyLimit() {
        let logits: [Float] = [1.5, 7.25, 3, -2, 7.0]
        for t: Float in [1e-40, 1e-30, 1e-10, 1e-6] {
            var s = Sampler(params: SamplingParams(temperature: t, seed: 9))
            #expect((0..<100).allSatisfy { _ in s.sample(logits) == 1 }, "temperature \(t)")
        }
        var near = Sampler(params: SamplingParams(temperature: 1e-3, seed: 9))   // 0.25 apart: still the top one
        #expect((0..<100).allSatisfy { _ in near.sample(logits) == 1 })
    }

    /// Softmax stays a distribution for infinite and NaN logits: +∞ ones share the mass, NaN gets none.
    @Test func probabilitiesAreTotal() {
        func probs(_ l: [Float]) -> [Float] { Candidates(logits: l).probabilities() }
        #expect(probs([1, .infinity, 2, .infinity]) == [0, 0.5, 0, 0.5])
        #expect(probs([.nan, 0, 0]) == [0, 0.5, 0.5])
        #expect(probs([-.infinity, -.infinity]) == [0.5, 0.5])
        let finite = probs([0, Float(Foundation.log(3.0))])
        #expect(abs(finite[0] - 0.25) < 1e-6 && abs(finite[1] - 0.75) < 1e-6)
    }

    /// A tiny repetition penalty (or one that rounds to Float 0) saturates the seen tokens' logits instead of
    /// overflowing them: sampling draws among the seen tokens with positive logits, never garbage.
    @Test func tinyRepetitionPenaltySaturates() {
        let logits: [Float] = [2, 1, 9, 0.5, -1]
        for penalty: Float in [1e-40, 0] {
            var params = SamplingParams(temperature: 1, seed: 3)
            params.repetitionPenalty = penalty
            var s = Sampler(params: params)
            let drawn = Set((0..<300).map { _ in s.sample(logits, history: [0, 1, 4], generated: []) })
            #expect(drawn == [0, 1], "penalty \(penalty)")
        }
    }
}
