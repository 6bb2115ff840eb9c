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
        // 48 tokens: V4's groups share prefixes in steps of 32 tokens (a block of HCA entries).
        let prompt = ref.prompt + ref.decodeIDs
        let c = core(ref.model, budget: 64)
        let first = run(c, [("a", prompt)], maxTokens: 6)
        let again = run(c, [("b", prompt)], maxTokens: 6)
        #expect(c.scheduler.kv.prefixHitTokens == (family == "deepseek_v4" ? 32 : 44))
        #expect(again["b"] == first["a"])
        // Room for about 100 tokens outside the windows; four requests grow to 38–41 tokens.
        let requests = (0..<4).map { i in ("p\(i)", Array(ref.prompt.dropFirst(i))) }
        let expected = run(core(ref.model, budget: 64), requests, maxTokens: 10)
        let tight = tightCore(ref.model, tokens: 100)
        #expect(run(tight, requests, maxTokens: 10) == expected)
        #expect(tight.scheduler.preemptionCount > 0)
        #expect(tight.scheduler.kv.freeBlockCount == tight.sizing.groups.reduce(0) { $0 + $1.blocks })
    }

    /// A core whose groups without a window hold about `tokens` tokens (windowed groups sized as usual).
    func tightCore(_ model: any LanguageModel, tokens: Int) -> EngineCore {
        let scheduler = SchedulerConfiguration(maxNumBatchedTokens: 64, maxNumSeqs: 16)
        let probe = KVCacheSizing(layout: model.cacheLayout, configuration: EngineConfiguration(scheduler: scheduler, blockSize: 4, kvCacheBytes: 0))
        let windowBytes = probe.groups.filter { $0.group.windowTokens != nil }.reduce(0) { $0 + $1.blocks * 4 * $1.group.bytesPerEntry() }
        let perToken = probe.groups.filter { $0.group.windowTokens == nil }.reduce(0) { $0 + $1.group.bytesPerEntry() / $1.group.tokensPerEntry }
        return EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                          configuration: EngineConfiguration(scheduler: scheduler, blockSize: 4, kvCacheBytes: windowBytes + tokens * perToken),
                          logger: Logger(label: "test"))
    }

    /// The per-layer-type cache: outside the windows V4 costs what its config says per token, window
    /// blocks go back to the pool as a long generation advances, and the tokens equal the uniform layout's.
    @Test func deepSeekV4CacheGrowsAtItsRatesAndReturnsWindowBlocks() throws {
        let ref = try Reference("deepseek_v4")
        let model = try #require(ref.model as? DeepSeekV4Model)
        let cfg = model.config
        let c = core(model, budget: 64)
        let csaLayers = try cfg.attentionKinds().filter { $0 == .compressedSparse }.count
        let hcaLayers = try cfg.attentionKinds().filter { $0 == .heavilyCompressed }.count
        // (D + Di) floats per CSA layer every m tokens, D per HCA layer every m' tokens, fp32.
        let formula = 4 * csaLayers * (cfg.head_dim + cfg.index_head_dim) / cfg.compressRate(.compressedSparse)
            + 4 * hcaLayers * cfg.head_dim / cfg.compressRate(.heavilyCompressed)
        let growing = c.sizing.groups.filter { $0.group.windowTokens == nil }
        #expect(growing.reduce(0) { $0 + $1.group.bytesPerEntry() / $1.group.tokensPerEntry } == formula)
        #expect(c.sizing.groups.filter { $0.group.windowTokens != nil }.map(\.group.name) == ["window", "compressor state"])
        #expect(c.sizing.bytes <= 64 * 4 * model.cacheLayout.layers * model.cacheLayout.width * 4)   // what core() configured

        let recorder = Recorder()
        c.add(EngineRequest(id: "long", promptTokenIDs: ref.prompt, sampling: SamplingParams(temperature: 0, maxTokens: 60, ignoreEOS: true)),
              onEvent: recorder.handler)
        var windowUse: [Int] = []
        while c.hasWork {
            c.step()
            windowUse.append(c.scheduler.kv.pools[0].blockCount - c.scheduler.kv.pools[0].freeBlockCount)
        }
        // Window 8 tokens in blocks of 4: at most 3 blocks held after a step, however long the sequence.
        #expect(windowUse.dropFirst().allSatisfy { $0 <= 3 }, "window blocks held: \(windowUse)")
        // The same greedy tokens on the uniform layout (one slot per token per layer).
        let runner = SequenceRunner(model: model, capacity: ref.prompt.count + 60)
        var uniform: [Int] = [], logits = runner.run(ref.prompt)
        for _ in 0..<60 {
            let next = logits.data.indices.max { logits.data[$0] < logits.data[$1] }!
            uniform.append(next)
            logits = runner.run([next])
        }
        #expect(recorder.tokens == uniform)
    }
}
