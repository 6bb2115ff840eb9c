import Device
import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// The engine serves DeepSeek-V4 and V3.2 (tiny fixtures from scripts/reference/make_sparse_attention_fixtures.py):
/// greedy output equals transformers', and batching, chunking, prefix hits and preemption change nothing.
@Suite struct SparseAttentionEngineTests {
    static let families = ["deepseek_v4", "deepseek_v32"]
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    struct Reference {
        let model: any LanguageModel
        let prompt: [Int]
        let decodeIDs: [Int]

        init(_ family: String) throws {
            let dir = SparseAttentionEngineTests.fixtures.appendingPathComponent(family)
            model = try HuggingFaceModel.languageModel(directory: dir, device: CPUDevice())
            let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as? [String: Any])
            prompt = try #require(info["prompt_ids"] as? [Int])
            decodeIDs = try #require(info["decode_ids"] as? [Int])
        }
    }

    func core(_ model: any LanguageModel, budget: Int, blocks: Int = 64) -> EngineCore {
        let layout = model.cacheLayout
        return EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                          configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 16),
                                                             blockSize: 4, kvCacheBytes: blocks * 4 * layout.layers * layout.width * 4),
                          logger: Logger(label: "test"))
    }

    func run(_ c: EngineCore, _ requests: [(String, [Int])], maxTokens: Int) -> [String: [Int]] {
        var recorders: [String: Recorder] = [:]
        for (id, prompt) in requests {
            let r = Recorder()
            recorders[id] = r
            c.add(EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)),
                  onEvent: r.handler)
        }
        while c.hasWork { c.step() }
        return recorders.mapValues(\.tokens)
    }

    @Test(arguments: families)
    func greedyTokensEqualTransformersWithChunkedPrefill(family: String) throws {
        let ref = try Reference(family)
        // 13 tokens a step: the 32-token prompt runs as 13 + 13 + 6, boundaries off the rates and the window.
        let got = run(core(ref.model, budget: 13), [("a", ref.prompt)], maxTokens: ref.decodeIDs.count)
        #expect(got["a"] == ref.decodeIDs)
    }

    @Test(arguments: families)
    func eightConcurrentRequestsOfDifferentLengthsEqualTheirSoloRuns(family: String) throws {
        let ref = try Reference(family)
        let lengths = [3, 9, 14, 20, 27, 32, 17, 30]
        let requests = lengths.enumerated().map { i, n in
            ("r\(i)", Array((ref.prompt + ref.prompt.reversed()).dropFirst(i).prefix(n)))
        }
        var solo: [String: [Int]] = [:]
        for r in requests { solo.merge(run(core(ref.model, budget: 64), [r], maxTokens: 8)) { a, _ in a } }
        let together = run(core(ref.model, budget: 29, blocks: 128), requests, maxTokens: 8)
        #expect(together.count == 8)
        for (id, tokens) in solo {
            #expect(tokens.count == 8)
            #expect(together[id] == tokens, "\(family) \(id) differs when batched")
        }
    }

    @Test(arguments: families)
    func prefixHitsAndPreemptionKeepTheTokens(family: String) throws {
        let ref = try Reference(family)
        let c = core(ref.model, budget: 64)
        let first = run(c, [("a", ref.prompt)], maxTokens: 6)
        let again = run(c, [("b", ref.prompt)], maxTokens: 6)
        #expect(c.scheduler.kv.prefixHitTokens > 0)
        #expect(again["b"] == first["a"])
        // 24 blocks of 4 tokens for four requests growing to 38 tokens (10 blocks each).
        let requests = (0..<4).map { i in ("p\(i)", Array(ref.prompt.dropFirst(i))) }
        let expected = run(core(ref.model, budget: 64), requests, maxTokens: 10)
        let tight = core(ref.model, budget: 64, blocks: 24)
        #expect(run(tight, requests, maxTokens: 10) == expected)
        #expect(tight.scheduler.preemptionCount > 0)
    }
}
