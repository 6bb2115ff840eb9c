import Foundation
import Testing
import Device
@testable import Model

/// Timing-only DeepSeek-V3.2: MLA over the indexer's top-k positions plus the indexer in every layer.
@Suite struct SimulationV32Tests {
    let v32 = DeepSeekV32Simulator.builtin("deepseek-v3.2")!

    func run(context: Int, batch: Int = 8, phase: SimulationPlan.Phase = .decode) throws -> DeepSeekV32SimulationResult {
        let plan = SimulationPlan(chips: 32, ep: 32, tp: 1, batch: batch, context: context, phase: phase)
        return try DeepSeekV32Simulator.run(config: v32.0, indexer: v32.1, plan: plan, profile: .ascend910C)
    }

    @Test func sparseAttentionStopsGrowingAtTopKWhileTheIndexerGrows() throws {
        let short = try run(context: 8192), long = try run(context: 32768)
        #expect(short.keysPerQuery == Double(v32.1.index_topk) && long.keysPerQuery == short.keysPerQuery)
        #expect(short.coreTime == long.coreTime && short.coreTime > 0)
        #expect(long.indexerTime > short.indexerTime)
        let tiny = try run(context: 100)
        #expect(tiny.keysPerQuery == 101 && tiny.coreTime < short.coreTime)
        for phase in SimulationPlan.Phase.allCases {
            #expect(try run(context: 4096, batch: phase == .decode ? 8 : 1, phase: phase).result.stepTime > 0)
        }
    }

    @Test func kvCacheAddsTheIndexerKeyToTheLatent() throws {
        let (c, ix) = v32
        let r = try run(context: 4096)
        let perToken = Double(c.num_hidden_layers * (c.kv_lora_rank + c.qk_rope_head_dim + ix.index_head_dim)) * 2
        #expect(r.kvBytesPerToken == perToken && perToken == 85_888)
        let v3 = Simulator.memoryBudget(config: c, plan: r.result.plan, tokens: 8)
        #expect(r.result.memory.kvCache - v3.kvCache == Double(8 * 4096 * c.num_hidden_layers * ix.index_head_dim) * 2)
    }

    @Test func configFilesNeedTheIndexerKeys() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("v32sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(v32.1)) as? [String: Any])
        object["model_type"] = "deepseek_v32"
        for (k, v) in ["vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 4, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                       "qk_rope_head_dim": 16, "v_head_dim": 32, "max_position_embeddings": 4096] { object[k] = v }
        let good = dir.appendingPathComponent("good.json")
        try JSONSerialization.data(withJSONObject: object).write(to: good)
        let (c, ix) = try #require(try DeepSeekV32Simulator.resolve(good.path))
        #expect(c.hidden_size == 256 && ix == v32.1)
        object["index_topk"] = nil
        let bad = dir.appendingPathComponent("bad.json")
        try JSONSerialization.data(withJSONObject: object).write(to: bad)
        #expect(throws: (any Error).self) { try DeepSeekV32Simulator.resolve(bad.path) }
        #expect(try DeepSeekV32Simulator.resolve("deepseek-v3") == nil)
    }
}
