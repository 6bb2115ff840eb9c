import Foundation
import Testing
@testable import Device

/// Shared-KV attention over per-query key sets (DeepSeek-V4), on the 910B2 profile (1.6 TB/s HBM).
@Suite struct GatherAttentionCostTests {
    let model = CostModel(profile: .ascend910B2, graphMode: true)

    @Test func decodeReadsEachKeyOnceAndCountsScoresAndValues() {
        // 8 sequences × 1 query × 64 heads against 640 keys of 512 (K = V): FLOPs = 4·8·64·640·512;
        // HBM = 8·640·512·2 B of keys + q and o 8·64·512·2·2 B.
        let shape = GatherAttentionShape(seqs: 8, queries: 1, heads: 64, dim: 512, keysPerQuery: 640, hbmKeys: 640,
                                         movedKeys: 640, kv: .bf16)
        let c = model.gatherAttention("core", shape)
        #expect(c.flops == 4 * 8 * 64 * 640 * 512)
        #expect(c.bytes == 8 * 640 * 512 * 2 + 8 * 64 * 512 * 4)
        #expect(abs(c.pipes[.mte2]! - c.bytes / 1.6e12) / (c.bytes / 1.6e12) < 1e-9)
        #expect(c.bound == .memory)
    }

    @Test func costGrowsWithKeysAndNothingForEmptyShapes() {
        func shape(_ keys: Double) -> GatherAttentionShape {
            GatherAttentionShape(seqs: 4, queries: 1, heads: 64, dim: 512, keysPerQuery: keys, hbmKeys: keys, movedKeys: keys, kv: .bf16)
        }
        #expect(model.gatherAttention("a", shape(256)).total < model.gatherAttention("b", shape(2048)).total)
        #expect(model.gatherAttention("c", shape(0)).total == 0)
    }

    @Test func scoresOnlyKernelCountsNoValues() {
        // The Lightning indexer: 64 heads of 128 against 1,024 keys, no values: FLOPs = 2·2·64·1024·128.
        let shape = GatherAttentionShape(seqs: 2, queries: 1, heads: 64, dim: 128, valueDim: 0, keysPerQuery: 1024,
                                         hbmKeys: 1024, movedKeys: 1024, kv: .bf16)
        let withValues = GatherAttentionShape(seqs: 2, queries: 1, heads: 64, dim: 128, keysPerQuery: 1024,
                                              hbmKeys: 1024, movedKeys: 1024, kv: .bf16)
        #expect(model.gatherAttention("ix", shape).flops == 2 * 2 * 64 * 1024 * 128)
        #expect(model.gatherAttention("att", withValues).flops == 2 * model.gatherAttention("ix", shape).flops)
    }
}
