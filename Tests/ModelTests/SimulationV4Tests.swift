import Foundation
import Testing
import Device
@testable import Model

/// Timing-only simulation of DeepSeek-V4: schedules as transformers resolves them, per-layer-type
/// attention cost, KV-cache size per layer type, hash routing, hyper-connections, the trace.
@Suite struct SimulationV4Tests {
    let flash = DeepSeekV4SimConfig.builtin("deepseek-v4-flash")!
    let pro = DeepSeekV4SimConfig.builtin("deepseek-v4-pro")!

    func run(_ c: DeepSeekV4SimConfig, chips: Int = 16, batch: Int = 32, context: Int, phase: SimulationPlan.Phase = .decode,
             overlap: Bool = false) throws -> DeepSeekV4SimulationResult {
        var plan = SimulationPlan(chips: chips, ep: chips, tp: 1, batch: batch, context: context, phase: phase)
        plan.overlap = overlap
        return try DeepSeekV4Simulator.run(config: c, plan: plan, profile: .ascend910C)
    }

    func summary(_ r: DeepSeekV4SimulationResult, _ t: V4AttentionType) throws -> V4AttentionSummary {
        try #require(r.attention.first { $0.type == t })
    }

    /// Tests/Fixtures/deepseek-v4-sim/schedules.json: config bodies and the schedules transformers derives
    /// (scripts/reference/make_v4_sim_fixtures.py).
    @Test func schedulesMatchTransformers() throws {
        let cases = try #require(try TestPaths.json("deepseek-v4-sim/schedules.json") as? [String: [String: Any]])
        #expect(cases.count == 5)
        for (name, expected) in cases {
            let input = try JSONSerialization.data(withJSONObject: try #require(expected["input"]))
            let c = try JSONDecoder().decode(DeepSeekV4SimConfig.self, from: input)
            #expect(c.layerTypes.map(\.rawValue) == expected["layer_types"] as? [String], "\(name)")
            #expect(c.mlpLayerTypes.map(\.rawValue) == expected["mlp_layer_types"] as? [String], "\(name)")
            let rates = try #require(expected["compress_rates"] as? [String: Int])
            #expect(c.csaRate == rates["compressed_sparse_attention"] && c.hcaRate == rates["heavily_compressed_attention"], "\(name)")
        }
        let published = try #require(cases["flash_compress_ratios"]?["layer_types"] as? [String])
        #expect(flash.layerTypes.map(\.rawValue) == published)
        #expect(pro.layerTypes.map(\.rawValue) == cases["pro_compress_ratios"]?["layer_types"] as? [String])
    }

    @Test func builtinsHaveThePublishedShapes() {
        #expect(flash.hiddenSize == 4096 && flash.layers == 43 && flash.heads == 64 && flash.indexTopK == 512)
        #expect(flash.count(.sliding) == 2 && flash.count(.csa) == 21 && flash.count(.hca) == 20)
        #expect(pro.hiddenSize == 7168 && pro.layers == 61 && pro.heads == 128 && pro.oGroups == 16 && pro.routedExperts == 384)
        #expect(pro.count(.sliding) == 0 && pro.count(.csa) == 30 && pro.count(.hca) == 31)
        #expect(flash.mlpLayerTypes.prefix(3).allSatisfy { $0 == .hash } && flash.mlpLayerTypes.dropFirst(3).allSatisfy { $0 == .routed })
    }

    @Test func builtinsRunAndCostAttentionPerLayerType() throws {
        for phase in SimulationPlan.Phase.allCases {
            let f = try run(flash, batch: phase == .decode ? 32 : 1, context: 4096, phase: phase)
            #expect(f.attention.map(\.type) == [.sliding, .csa, .hca])
            let p = try run(pro, chips: 32, batch: phase == .decode ? 32 : 1, context: 4096, phase: phase)
            #expect(p.attention.map(\.type) == [.csa, .hca])
            for s in f.attention + p.attention {
                #expect(s.attentionTime > s.coreTime && s.coreTime > 0)
                #expect((s.indexerTime > 0) == (s.type == .csa))
                #expect((s.compressorTime > 0) == (s.type != .sliding))
            }
            #expect(f.result.tokensPerSecondPerChip > 0 && p.result.stepTime > 0)
            // One layer group per (attention type, MoE kind), costed once: few groups however many layers.
            #expect(p.result.groups.count <= 2 + 3 * 2)
            #expect(p.result.groups.reduce(0) { $0 + $1.count } == 2 + pro.layers)
        }
    }

    @Test func slidingDecodeAttentionStopsGrowingAtTheWindow() throws {
        let short = try run(flash, context: 1000), long = try run(flash, context: 60000)
        let (s1, s2) = (try summary(short, .sliding), try summary(long, .sliding))
        #expect(s1.keysPerQuery == Double(flash.slidingWindow) && s2.keysPerQuery == s1.keysPerQuery)
        #expect(s1.coreTime == s2.coreTime)
        // HCA attends to W + ⌊(C+1)/m′⌋ keys: it grows. CSA keys cap at W + index_topk, its indexer keeps growing.
        #expect(try summary(long, .hca).keysPerQuery == Double(flash.slidingWindow + 60001 / flash.hcaRate))
        #expect(try summary(long, .hca).coreTime > summary(short, .hca).coreTime)
        #expect(try summary(long, .csa).keysPerQuery == Double(flash.slidingWindow + flash.indexTopK))
        #expect(try summary(long, .csa).indexerTime > summary(short, .csa).indexerTime)
    }

    @Test func kvMemoryGrowsAtEachLayerTypesRate() throws {
        let d = Double(flash.headDim), di = Double(flash.indexHeadDim), b = 2.0
        func kv(_ t: V4AttentionType, _ context: Int) -> Double {
            DeepSeekV4Simulator.kvBytes(t, config: flash, context: context, kv: .bf16)
        }
        let c1 = 4096, c2 = 4096 + 10 * flash.hcaRate
        #expect(kv(.sliding, c2) == kv(.sliding, c1) && kv(.sliding, c1) == Double(flash.slidingWindow) * d * b)
        #expect(kv(.sliding, 100) == 100 * d * b)
        #expect(kv(.hca, c2) - kv(.hca, c1) == 10 * d * b)
        #expect(kv(.csa, c2) - kv(.csa, c1) == Double((c2 - c1) / flash.csaRate) * (d + di) * b)

        let r = try run(flash, batch: 8, context: c1)
        let growth = Double(flash.count(.csa)) * (d + di) / Double(flash.csaRate) * b + Double(flash.count(.hca)) * d / Double(flash.hcaRate) * b
        #expect(r.kvBytesPerTokenGrowth == growth)   // 21·640/4·2 + 20·512/128·2 = 6880
        #expect(growth == 6880)
        let perSequence = flash.layerTypes.reduce(0.0) { $0 + kv($1, c1) }
        #expect(r.kvBytesPerSequence == perSequence && r.kvBytesPerToken == perSequence / Double(c1))
        #expect(r.result.memory.kvCache == 8 * perSequence)
    }

    @Test func hashLayersHaveNoRouterMatmul() throws {
        let r = try run(flash, context: 2048)
        let hash = r.result.groups.filter { $0.name.hasSuffix("+hash") }, topk = r.result.groups.filter { $0.name.hasSuffix("+topk") }
        #expect(hash.reduce(0) { $0 + $1.count } == 3 && topk.reduce(0) { $0 + $1.count } == 40)
        for g in hash {
            let names = Set(g.ops.map(\.name))
            #expect(!names.contains("moe.router") && !names.contains("moe.score+topk") && names.contains("moe.hash_lookup"))
        }
        for g in topk {
            let names = Set(g.ops.map(\.name))
            #expect(names.contains("moe.router") && !names.contains("moe.hash_lookup"))
        }
    }

    @Test func everyLayerHasTwoHyperConnectionsAndTheGroupedOutputProjection() throws {
        let r = try run(flash, batch: 16, context: 1024)
        let t = 16.0, n = Double(flash.hcMult), e = Double(flash.hiddenSize)
        for g in r.result.groups where g.name.contains("+") {
            let ops = Dictionary(g.ops.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for which in ["attn", "ffn"] {
                #expect(ops["hc_\(which)_mix"]?.flops == 2 * t * (2 + n) * n * n * e)
                #expect(ops["hc_\(which)_sinkhorn"] != nil && ops["hc_\(which)_post"] != nil)
            }
            let hd = Double(flash.heads * flash.headDim), rank = Double(flash.oLoraRank), groups = Double(flash.oGroups)
            #expect(ops["attn.o_a_proj"]?.flops == 2 * t * rank * hd)
            #expect(ops["attn.o_b_proj"]?.flops == 2 * t * e * groups * rank)
        }
    }

    @Test func traceIsChromeTraceJSONWithV4Ops() throws {
        let r = try run(pro, chips: 32, batch: 16, context: 8192, overlap: true)
        let data = try PerfettoTrace.json(slices: r.result.traceSlices(), process: "deepseek-v4-pro")
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" }
        for e in slices {
            #expect(e["ts"] is Double && e["dur"] is Double && e["pid"] is Int && e["tid"] is Int && e["name"] is String)
        }
        // With --overlap every slice names its micro-batch ("….mb0.attn.core"); compare without it.
        let names = Set(slices.compactMap { ($0["name"] as? String)?.replacing(/\.mb[0-9]+\./, with: ".") })
        for op in ["CSA+topk[0].indexer.scores", "CSA+topk[0].attn.core", "HCA+hash[0].moe.hash_lookup",
                   "HCA+topk[0].compressor.pool", "HCA+hash[1].hc_attn_sinkhorn", "head.hc_head_mix"] {
            #expect(names.contains(op), "\(op)")
        }
        let end = slices.map { ($0["ts"] as! Double) + ($0["dur"] as! Double) }.max()!
        #expect(abs(end - r.result.stepTime * 1e6) / (r.result.stepTime * 1e6) < 0.01)
    }

    @Test func configFilesAreRecognisedByModelType() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("v4sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ body: String) throws -> String {
            let url = dir.appendingPathComponent(name)
            try Data(body.utf8).write(to: url)
            return url.path
        }
        let v4 = try write("v4.json", #"{"model_type":"deepseek_v4","num_hidden_layers":4,"compress_ratios":[0,4,128,4,0],"num_hash_layers":1}"#)
        let c = try #require(try DeepSeekV4SimConfig.resolve(v4))
        #expect(c.layerTypes == [.sliding, .csa, .hca, .csa] && c.mlpLayerTypes == [.hash, .routed, .routed, .routed])
        #expect(try DeepSeekV4SimConfig.resolve(try write("v3.json", #"{"model_type":"deepseek_v3"}"#)) == nil)
        #expect(try DeepSeekV4SimConfig.resolve("deepseek-v3") == nil)
        let bad = try write("bad.json", #"{"model_type":"deepseek_v4","o_groups":7}"#)
        #expect(throws: SimulationError.self) { try DeepSeekV4SimConfig.resolve(bad) }
        let wrongType = try write("wrong.json", #"{"model_type":"deepseek_v4","hidden_size":"big"}"#)
        #expect(throws: (any Error).self) { try DeepSeekV4SimConfig.resolve(wrongType) }
        var plan = SimulationPlan(chips: 16, ep: 16, tp: 16, batch: 4, context: 256, phase: .decode)
        plan.quant = .w8a8
        #expect(throws: SimulationError.self) { try DeepSeekV4Simulator.run(config: flash, plan: plan, profile: .ascend910C) }
    }
}
