import Device
import Foundation
import Testing
@testable import Model

/// DeepSeek-V4 and V3.2 equal transformers on tiny random checkpoints whose prompt is longer than the
/// sliding window, both compression rates and the indexers' top-k (fixtures from
/// scripts/reference/make_sparse_attention_fixtures.py), through the paged cache.
@Suite struct SparseAttentionParityTests {
    static let families = ["deepseek_v4", "deepseek_v32"]
    typealias Fixture = HuggingFaceParityTests.Fixture

    static func model(_ family: String) throws -> any LanguageModel {
        try HuggingFaceModel.languageModel(directory: TestPaths.fixtures.appendingPathComponent("models/\(family)"), device: CPUDevice())
    }

    static func maxDelta(_ a: [Float], _ b: some Collection<Float>) -> Float { HuggingFaceParityTests.maxDelta(a, b) }

    /// Runs `tokens` in chunks of the given sizes through a paged cache with a scrambled block table.
    static func run(_ model: any LanguageModel, _ tokens: [Int], chunks: [Int], blockTable: [Int], cache: KVBlockStorage) -> [Float] {
        var start = 0, rows: [Float] = []
        for size in chunks {
            let chunk = SequenceChunk(tokens: Array(tokens[start..<(start + size)]), startPosition: start, blockTable: blockTable, logits: .all)
            rows += model.forward(ForwardBatch([chunk]), cache: cache).data
            start += size
        }
        return rows
    }

    static func cache(for model: any LanguageModel, blocks: Int = 16, blockSize: Int = 4) -> KVBlockStorage {
        model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: blocks, blockSize: blockSize, width: model.cacheLayout.width,
                                  fieldWidth: model.cacheLayout.fieldWidth)
    }

    @Test(arguments: families)
    func prefillAndSixteenDecodeStepsMatchTransformers(family: String) throws {
        let f = try Fixture(family)
        let model = try Self.model(family)
        let v = model.vocabularySize
        #expect(f.prompt.count == 32 && f.decodeIDs.count == 16)
        let runner = SequenceRunner(model: model, capacity: f.prompt.count + f.decodeIDs.count, blockSize: 4)
        let prefill = runner.run(f.prompt, logits: .all)                                   // [P, V]
        var worst: Float = 0
        for p in f.prompt.indices {
            let d = Self.maxDelta(prefill.row(p), f.promptLogits[(p * v)..<((p + 1) * v)])
            #expect(d <= HuggingFaceParityTests.tolerance, "\(family) prompt position \(p): max |Δlogit| = \(d)")
            worst = max(worst, d)
        }
        for (step, id) in f.decodeIDs.enumerated() {
            let row = runner.run([id]).data                                                  // [1, V]
            let d = Self.maxDelta(row, f.decodeLogits[(step * v)..<((step + 1) * v)])
            #expect(d <= HuggingFaceParityTests.tolerance, "\(family) decode step \(step): max |Δlogit| = \(d)")
            worst = max(worst, d)
        }
        print("\(family): max |Δlogit| = \(worst) over \(f.prompt.count) prompt positions and \(f.decodeIDs.count) decode steps")
    }

    @Test(arguments: families)
    func chunkedPrefillThenDecodeEqualsOneChunk(family: String) throws {
        let f = try Fixture(family)
        let model = try Self.model(family)
        let tokens = f.prompt + f.decodeIDs                                                  // 48 tokens, 12 blocks of 4
        let table = [9, 2, 14, 0, 7, 11, 3, 5, 12, 1, 8, 6]
        let whole = Self.run(model, tokens, chunks: [32] + Array(repeating: 1, count: 16), blockTable: Array(0..<12), cache: Self.cache(for: model))
        // Chunk boundaries 7, 19, 30 are aligned to neither compression rate (4, 8) nor the window (8).
        let split = Self.run(model, tokens, chunks: [7, 12, 11, 2] + Array(repeating: 1, count: 16), blockTable: table, cache: Self.cache(for: model))
        #expect(Self.maxDelta(split, whole) <= 1e-5, "\(family): 7 + 12 + 11 + 2 chunks then decode differ from one chunk")
    }

    @Test(arguments: families)
    func batchedSequencesEqualEachAlone(family: String) throws {
        let f = try Fixture(family)
        let model = try Self.model(family)
        let other = Array(f.prompt.reversed().prefix(21))
        let alone = [f.prompt, other].map { tokens in
            model.forward(ForwardBatch([SequenceChunk(tokens: tokens, startPosition: 0, blockTable: Array(0..<8), logits: .last)]),
                          cache: Self.cache(for: model))
        }
        let both = model.forward(ForwardBatch([
            SequenceChunk(tokens: f.prompt, startPosition: 0, blockTable: [5, 1, 3, 12, 6, 9, 15, 0], logits: .last),
            SequenceChunk(tokens: other, startPosition: 0, blockTable: [2, 4, 7, 8, 10, 11], logits: .last),
        ]), cache: Self.cache(for: model))
        #expect(both.row(0) == alone[0].row(0), "\(family): batched row differs from the row alone")
        #expect(both.row(1) == alone[1].row(0), "\(family): batched row differs from the row alone")
    }

    /// DeepSeek-V4 on its per-layer-type cache groups, chunked 7 + 12 + 13 then decoding, with every block
    /// that fell out of its group's window replaced by −1 before each step (reading one would trap).
    @Test func deepSeekV4OnCacheGroupsMatchesTransformersWithoutReadingReleasedBlocks() throws {
        let f = try Fixture("deepseek_v4")
        let model = try #require(try Self.model("deepseek_v4") as? DeepSeekV4Model)
        let groups = model.cacheLayout.groups
        #expect(groups.map(\.name) == ["window", "compressor state", "csa entries", "hca entries"])
        let blockSize = 4
        let stores = groups.map { KVBlockStorage(layers: $0.layers, blockCount: 40, blockSize: blockSize, width: $0.width) }
        var tables: [[Int]] = groups.map { _ in [] }
        let tokens = f.prompt + f.decodeIDs
        var rows: [Float] = [], start = 0
        for size in [7, 12, 13] + Array(repeating: 1, count: 16) {
            let end = start + size
            for (g, group) in groups.enumerated() {
                let entries = group.tokensPerEntry == 1 ? end : end / group.tokensPerEntry
                while tables[g].count * blockSize < entries { tables[g].append(39 - tables[g].count) }   // from the top
                if let window = group.windowTokens {              // blocks wholly before start − window
                    for b in tables[g].indices where (b + 1) * blockSize <= start - window { tables[g][b] = -1 }
                }
            }
            let chunk = SequenceChunk(tokens: Array(tokens[start..<end]), startPosition: start, blockTable: tables[0], logits: .all,
                                      groupBlockTables: tables)
            rows += model.forward(ForwardBatch([chunk]), groupCaches: stores).data
            start = end
        }
        let v = model.vocabularySize
        #expect(rows.count == tokens.count * v)
        let d = Self.maxDelta(rows, f.promptLogits + f.decodeLogits)
        #expect(d <= HuggingFaceParityTests.tolerance, "deepseek_v4 on cache groups: max |Δlogit| = \(d)")
        print("deepseek_v4 on cache groups: max |Δlogit| = \(d) over 32 prompt positions and 16 decode steps")
        #expect(tables[0].contains(-1) && tables[1].contains(-1), "windows released blocks")
    }

    @Test func deepSeekV4LoadsAsV4AndKeepsItsMTPBlock() throws {
        let model = try #require(try Self.model("deepseek_v4") as? DeepSeekV4Model)
        #expect(model.auxiliaryWeights["mtp.0.e_proj.weight"]?.shape == [64, 64])
        #expect(model.auxiliaryWeights["mtp.0.hc_head_fn"]?.shape == [4, 256])
        #expect(model.auxiliaryWeights.keys.contains("mtp.0.ffn.experts.7.w2.weight"))
        #expect(!model.auxiliaryWeights.keys.contains { !$0.hasPrefix("mtp.") })
        // Slot: window kv 32 | CSA compressor raw kv+gate 2·64 | entry 32 | indexer raw 2·32 | key 16.
        #expect(model.cacheLayout.width == 32 + 128 + 32 + 64 + 16)
        #expect(model.cacheLayout.layerSpecs == [
            .slidingWindow(window: 8, width: 32),
            .compressed(window: 8, windowWidth: 32, rate: 4, entryWidth: 32 + 16, pendingWidth: 128 + 64),
            .compressed(window: 8, windowWidth: 32, rate: 8, entryWidth: 32, pendingWidth: 64),
            .compressed(window: 8, windowWidth: 32, rate: 4, entryWidth: 32 + 16, pendingWidth: 128 + 64),
        ])
        #expect(throws: CheckpointError.self) {
            try HuggingFaceModel.load(directory: TestPaths.fixtures.appendingPathComponent("models/deepseek_v4"), device: CPUDevice())
        }
    }

    @Test func deepSeekV32CachesTheIndexerKeyBesideTheLatentAndLoadsItsMTPLayer() throws {
        let model = try Fixture("deepseek_v32").model(multiTokenPrediction: true)
        #expect(model.architecture == .deepseekV32)
        #expect(model.cacheLayout == KVCacheLayout(layers: 3, width: 16 + 8 + 16))   // latent + rope key + indexer key
        #expect(model.multiTokenPredictor?.projection.shape == [64, 128])
    }
}
