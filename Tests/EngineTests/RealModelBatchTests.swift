import Device
import Foundation
import Logging
import Model
import Testing
import Tokenizer
@testable import Engine

/// Continuous batching with the real default model (fetched by scripts/setup).
@Suite(.serialized) struct RealModelBatchTests {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static let loaded: Result<LoadedModel, Error> = Result {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw TokenizerError("model not found at \(modelPath): run scripts/setup (scripts/test does)")
        }
        return try ModelLoader.load(path: modelPath, device: CPUDevice())
    }

    func core(_ m: LoadedModel, kvBytes: Int, budget: Int = 256, maxSeqs: Int = 32) -> EngineCore {
        let tok = m.tokenizer
        return EngineCore(model: m.model, decodeBytes: { tok.decodeBytes($0) }, stopTokenIDs: [],
                          configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: maxSeqs),
                                                             blockSize: 16, kvCacheBytes: kvBytes),
                          logger: Logger(label: "test"))
    }

    func prompts(_ tok: BPETokenizer) -> [[Int]] {
        let texts = ["The capital of France is", "Once upon a time", "def fibonacci(n):", "Water boils at",
                     "The quick brown fox", "In 1492, Columbus", "My favourite colour is", "SELECT * FROM",
                     "The best way to learn", "Photosynthesis is", "2 + 2 =", "Dear Sir or Madam,",
                     "To be or not to be", "The mitochondria", "import numpy as np", "Once more unto the breach"]
        return texts.map { tok.encode($0, parseSpecial: false) }
    }

    func run(_ c: EngineCore, _ reqs: [(String, [Int])], maxTokens: Int) -> [String: [Int]] {
        var recorders: [String: Recorder] = [:]
        for (id, p) in reqs {
            let r = Recorder()
            recorders[id] = r
            c.add(EngineRequest(id: id, promptTokenIDs: p, sampling: SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)),
                  onEvent: r.handler)
        }
        while c.hasWork { c.step() }
        return recorders.mapValues(\.tokens)
    }

    /// Teacher forcing agrees with generation: the prompt logprobs of "prompt + its greedy continuation" equal
    /// the logprobs the continuation's tokens had when they were generated, in one chunk or in many.
    @Test func promptLogprobsMatchTheLogprobsOfGeneration() throws {
        let m = try Self.loaded.get()
        let prompt = m.tokenizer.encode("The capital of France is", parseSpecial: false)
        var sampling = SamplingParams(temperature: 0, maxTokens: 5, ignoreEOS: true)
        sampling.logprobs = 3
        let generated = Recorder()
        let c = core(m, kvBytes: 32 << 20)
        c.add(EngineRequest(id: "gen", promptTokenIDs: prompt, sampling: sampling), onEvent: generated.handler)
        while c.hasWork { c.step() }
        let continuation = generated.events.compactMap { e -> (Int, TokenLogprobs)? in
            if case let .token(id, _, lp?) = e { return (id, lp) } else { return nil }
        }
        #expect(continuation.count == 5)
        for budget in [256, 4] {
            let forced = Recorder()
            let c = core(m, kvBytes: 32 << 20, budget: budget)
            c.add(EngineRequest(id: "forced", promptTokenIDs: prompt + continuation.map(\.0), sampling: SamplingParams(temperature: 0, maxTokens: 1),
                                promptLogprobs: 3), onEvent: forced.handler)
            while c.hasWork { c.step() }
            let entries = try #require(forced.promptLogprobs.first)
            #expect(entries.count == prompt.count + continuation.count - 1)
            for (i, (_, lp)) in continuation.enumerated() {
                let e = entries[prompt.count - 1 + i]
                #expect(abs(e.logprob - lp.logprob) < 2e-3, "token \(i), budget \(budget): \(e.logprob) vs \(lp.logprob)")
                #expect(e.top.map(\.id) == lp.top.map(\.id), "token \(i), budget \(budget)")
            }
        }
    }

    @Test func sixteenConcurrentGreedyRequestsMatchTheirSoloRuns() throws {
        let m = try Self.loaded.get()
        let ps = prompts(m.tokenizer)
        var solo: [String: [Int]] = [:]
        for (i, p) in ps.enumerated() {
            solo.merge(run(core(m, kvBytes: 64 << 20), [("r\(i)", p)], maxTokens: 6)) { a, _ in a }
        }
        let together = run(core(m, kvBytes: 64 << 20), ps.enumerated().map { ("r\($0.offset)", $0.element) }, maxTokens: 6)
        #expect(together.count == 16)
        for (id, tokens) in solo {
            #expect(tokens.count == 6)
            #expect(together[id] == tokens, "\(id) differs when batched")
        }
    }

    @Test func preemptedRequestProducesItsUnpreemptedOutput() throws {
        let m = try Self.loaded.get()
        let ps = Array(prompts(m.tokenizer).prefix(4))
        let reqs = ps.enumerated().map { ("r\($0.offset)", $0.element) }
        let roomy = core(m, kvBytes: 64 << 20)
        let expected = run(roomy, reqs, maxTokens: 24)
        // 6 blocks of 16 tokens: four requests growing to ~30 tokens (2 blocks each) cannot all stay resident.
        let width = m.model.cacheLayout.width * m.model.cacheLayout.layers * 4
        let tight = core(m, kvBytes: 6 * 16 * width)
        let got = run(tight, reqs, maxTokens: 24)
        #expect(tight.scheduler.preemptionCount > 0)
        #expect(got == expected)
        #expect(tight.scheduler.kv.freeBlockCount == 6)
    }
}
