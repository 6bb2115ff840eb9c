import Foundation
import Testing
@testable import Device

/// Hand-computable cost cases on the 910B2 profile (24 AIC at 1.8 GHz, 4,096 MACs/cycle, 1.6 TB/s HBM) with
/// every kernel at peak (`KernelEfficiency.ideal`); `achievedFractionsDivideEachPipe` checks the real profile.
@Suite struct CostModelTests {
    static let ideal: AscendProfile = { var p = AscendProfile.ascend910B2; p.efficiency = .ideal; return p }()
    let model = CostModel(profile: CostModelTests.ideal, graphMode: true)

    @Test func pureBandwidthOpTakesBytesOverHBMBandwidth() {
        // 1.6 GB read, nothing written, no arithmetic: 1.6e9 B ÷ 1.6e12 B/s = 1 ms exactly.
        let c = model.cost(CostOp("copy", .vector(bytesIn: 1.6e9, bytesOut: 0, ops: 0, type: .bf16)))
        #expect(abs(c.total - 1e-3) < 1e-12)
        #expect(c.bound == .memory)
    }

    @Test func squareMatmulIsComputeBoundAtPeak() {
        // 4096³ bf16: 2·4096³ = 1.374e11 FLOP ÷ 353.9 TFLOPS = 388 µs; tiles 128×256 fill all 24 cores evenly
        // (512 output tiles), so Cube time equals the peak-rate time; fill/drain adds < 1%.
        let n = 4096
        let c = model.cost(CostOp("mm", .matmul(m: n, n: n, k: n, a: .bf16, b: .bf16, out: .bf16)))
        let ideal = 2 * pow(Double(n), 3) / AscendProfile.ascend910B2.peakFLOPS(.bf16)
        #expect(abs(ideal - 388.3e-6) < 1e-6)
        #expect(c.bound == .compute)
        #expect(abs(c.pipes[.cube]! - ideal) / ideal < 1e-9)
        #expect(c.total > ideal && c.total < ideal * 1.01)
        #expect(c.utilisation > 0.99)
    }

    @Test func int8DoublesTheCubeRate() {
        let n = 4096
        let bf = model.cost(CostOp("mm", .matmul(m: n, n: n, k: n, a: .bf16, b: .bf16, out: .bf16)))
        let i8 = model.cost(CostOp("mm", .matmul(m: n, n: n, k: n, a: .int8, b: .int8, out: .bf16)))
        #expect(abs(bf.pipes[.cube]! / i8.pipes[.cube]! - 2) < 1e-9)
    }

    @Test func tileThatDoesNotFitL0IsSplit() {
        // Start 128×256×256 fp16: A tile double-buffered 2·128·256·2 = 128 KB > L0A 64 KB → kt 128;
        // B tile 2·128·256·2 = 128 KB > L0B 64 KB → kt 64. Accumulator 128·256·4 = 128 KB = L0C fits.
        let t = model.tiling(m: 512, n: 512, k: 512, a: .fp16, b: .fp16)
        #expect(t == MatmulTiling(mt: 128, nt: 256, kt: 64, mTiles: 4, nTiles: 2, kTiles: 8))
        #expect(t.count == 64)
        // A profile with half the L0C must halve the accumulator tile (the larger side, N).
        var small = Self.ideal
        small.l0c = Sourced(64 * 1024, "test")
        let s = CostModel(profile: small).tiling(m: 512, n: 512, k: 512, a: .fp16, b: .fp16)
        #expect(s.mt == 128 && s.nt == 128 && s.nTiles == 4)
        // A shape that fits one tile is not split.
        #expect(model.tiling(m: 16, n: 16, k: 16, a: .fp16, b: .fp16).count == 1)
    }

    @Test func decodeMatmulIsBoundByWeightBandwidth() {
        // M = 8 tokens against a 7168×7168 int8 weight: 51.4 MB ÷ 1.6 TB/s ≈ 32 µs dominates.
        let c = model.cost(CostOp("proj", .matmul(m: 8, n: 7168, k: 7168, a: .int8, b: .int8, out: .bf16)))
        #expect(c.bound == .memory)
        #expect(abs(c.pipes[.mte2]! - 7168.0 * 7168 / 1.6e12) / c.pipes[.mte2]! < 0.01)
    }

    @Test func gqaDecodeAttentionIsBoundByTheKVStream() {
        // One query, 32 heads sharing 8 KV heads of 128 over 4,096 cached positions, bf16 cache:
        // K + V = 4096 · 2 · 8 · 128 · 2 B = 16.8 MB ÷ 1.6 TB/s ≈ 10.5 µs; FLOPs = 4 · 32 · 4096 · 128.
        let c = model.cost(CostOp("attn", .gqaAttention(seqs: 1, queries: 1, heads: 32, kvHeads: 8, context: 4096, headDim: 128, kv: .bf16)))
        #expect(c.bound == .memory)
        #expect(c.flops == 4 * 32 * 4096 * 128)
        let kv = 4096.0 * 2 * 8 * 128 * 2
        #expect(abs(c.pipes[.mte2]! - (kv + 2 * 32 * 128 * 2) / 1.6e12) < 1e-12)
    }

    @Test func achievedFractionsDivideEachPipe() {
        let real = CostModel(profile: .ascend910B2, graphMode: true), e = AscendProfile.ascend910B2.efficiency
        let copy = CostOp("copy", .vector(bytesIn: 1.6e9, bytesOut: 0, ops: 0, type: .bf16))
        #expect(abs(real.cost(copy).total - 1e-3 / e.vectorBandwidth.value) < 1e-12)
        let mm = CostOp("mm", .matmul(m: 4096, n: 4096, k: 4096, a: .bf16, b: .bf16, out: .bf16))
        #expect(abs(real.cost(mm).pipes[.cube]! * e.matmulCompute.value - model.cost(mm).pipes[.cube]!) < 1e-15)
        let decode = CostOp("proj", .matmul(m: 8, n: 7168, k: 7168, a: .int8, b: .int8, out: .bf16))
        #expect(abs(real.cost(decode).pipes[.mte2]! * e.matmulBandwidth.value - model.cost(decode).pipes[.mte2]!) < 1e-15)
        let a2a = CostOp("a2a", .allToAll(bytesPerChip: 16e6, chips: 8))
        #expect(abs(real.cost(a2a).total - (10e-6 + 14e6 / (196e9 * e.link.value))) < 1e-12)
        let decodeA2A = CostOp("a2a", .allToAll(bytesPerChip: 16e6, chips: 8, lowLatency: true))
        #expect(abs(real.cost(decodeA2A).total - (10e-6 + 14e6 / (196e9 * e.linkLowLatency.value))) < 1e-12)
        // Every fraction is a share of peak and says where it comes from.
        for f in [e.matmulCompute, e.groupedMatmulCompute, e.matmulBandwidth, e.attentionCompute, e.attentionBandwidth, e.vectorBandwidth, e.link, e.linkLowLatency,
                  e.overlapCompute] {
            #expect(f.value > 0 && f.value <= 1 && f.source.hasPrefix("["))
        }
    }

    @Test func prefillAttentionCountsTheCachedPrefix() {
        // 256 new tokens after 256 cached, 1 head, Dqk = Dv = 128: pairs = 256·256 + 256·257/2 = 98,432;
        // FLOPs = 2 · 98,432 · 256 = 50.4 MFLOP. Query blocks 2 × (2 cached + causal 1.5) = 7 block pairs.
        let c = model.cost(CostOp("attn", .attentionPrefill(seqs: 1, length: 256, cached: 256, heads: 1, qkDim: 128, vDim: 128, type: .bf16)))
        #expect(c.flops == 2 * 98_432 * 256)
        let fresh = model.cost(CostOp("attn", .attentionPrefill(seqs: 1, length: 256, heads: 1, qkDim: 128, vDim: 128, type: .bf16)))
        #expect(fresh.flops == 2 * (256 * 257 / 2) * 256)
        #expect(abs(c.pipes[.cube]! / fresh.pipes[.cube]! - 7.0 / 3) < 1e-12)
    }

    @Test func allToAllWithinTheScaleUpDomain() {
        // 8 chips, each sends 7/8 of 16 MB over 196 GB/s + one 10 µs step.
        let c = model.cost(CostOp("a2a", .allToAll(bytesPerChip: 16e6, chips: 8)))
        #expect(abs(c.total - (10e-6 + 14e6 / 196e9)) < 1e-12)
        #expect(c.bound == .comm)
    }

    @Test func highThroughputAllToAllCrossesToEachNodeOnce() {
        // 32 chips = 4 nodes of 8 (910B2), top-8 copies of 10 MB of tokens: a token reaches 4·(1 − (3/4)^8) nodes,
        // so 25 GB/s RoCE carries that many 10 MB copies while the 196 GB/s HCCS forwards 31/32 of all 80 MB.
        let nodes = 4 * (1 - pow(0.75 as Double, 8.0))
        let c = model.cost(CostOp("a2a", .allToAll(bytesPerChip: 80e6, chips: 32, fanout: 8)))
        #expect(abs(c.total - (20e-6 + 10e6 * nodes / 25e9)) < 1e-12)
        #expect(c.bytes == 10e6 * nodes)
        // Node-limited routing caps the nodes a token reaches.
        let capped = model.cost(CostOp("a2a", .allToAll(bytesPerChip: 80e6, chips: 32, fanout: 8, maxNodes: 2)))
        #expect(abs(capped.total - (20e-6 + 20e6 / 25e9)) < 1e-12)
        // The low-latency (decode) kernels send every copy: 3/4 of the 77.5 MB leaving the chip cross nodes.
        let lowLatency = model.cost(CostOp("a2a", .allToAll(bytesPerChip: 80e6, chips: 32, lowLatency: true, fanout: 8)))
        #expect(abs(lowLatency.total - (20e-6 + 77.5e6 * 0.75 / 25e9)) < 1e-12)
        // Inside one scale-up domain nothing is deduplicated.
        let inside = model.cost(CostOp("a2a", .allToAll(bytesPerChip: 80e6, chips: 8, fanout: 8)))
        #expect(abs(inside.total - (10e-6 + 70e6 / 196e9)) < 1e-12)
    }

    @Test func a910CPackageMovesTwoDiesOfAllToAll() {
        // DeepEP-Ascend's published bandwidths are per rank, and a 910C rank is one die (sgl-kernel-npu README and
        // tests: 16 processes per node of 8 packages): normal kernels ~102 GB/s, low-latency ~73 GB/s per die. A
        // package (the simulator's chip) runs two such ranks, so it moves twice that.
        let package = CostModel(profile: .ascend910C, graphMode: true), bytes = 160e6, sent = bytes * 15 / 16
        let prefill = package.cost(CostOp("a2a", .allToAll(bytesPerChip: bytes, chips: 16)))
        #expect(abs(sent / (prefill.total - 10e-6) / (2 * 102e9) - 1) < 0.01)
        let decode = package.cost(CostOp("a2a", .allToAll(bytesPerChip: bytes, chips: 16, lowLatency: true)))
        #expect(abs(sent / (decode.total - 10e-6) / (2 * 73e9) - 1) < 0.02)
    }

    @Test func keepingCoresSlowsComputeOnly() {
        let half = CostModel(profile: Self.ideal.keepingCores(0.5), graphMode: true)
        let mm = CostOp("mm", .matmul(m: 4096, n: 4096, k: 4096, a: .bf16, b: .bf16, out: .bf16))
        #expect(abs(half.cost(mm).pipes[.cube]! - 2 * model.cost(mm).pipes[.cube]!) < 1e-15)
        let norm = CostOp("norm", .vector(bytesIn: 1e3, bytesOut: 1e3, ops: 1e9, type: .fp32))
        #expect(abs(half.cost(norm).pipes[.vector]! - 2 * model.cost(norm).pipes[.vector]!) < 1e-15)
        let a2a = CostOp("a2a", .allToAll(bytesPerChip: 16e6, chips: 8))
        #expect(half.cost(a2a).total == model.cost(a2a).total)
    }

    @Test func launchCostOutsideGraphMode() {
        let eager = CostModel(profile: Self.ideal, graphMode: false)
        let op = CostOp("tiny", .vector(bytesIn: 64, bytesOut: 64, ops: 32, type: .bf16))
        #expect(eager.cost(op).total - model.cost(op).total == 5e-6)
    }

    @Test func memoryOverCapacityIsAnOutOfMemoryError() {
        let budget = MemoryBudget(weights: 60e9, kvCache: 10e9, workspace: 2e9)
        #expect(throws: SimulationError.self) { try budget.check(against: .ascend910B2) }
        #expect(throws: Never.self) { try budget.check(against: .ascend910C) }
    }
}

/// Profiles are data: a JSON file with the same fields loads as a profile, sources intact.
@Suite struct AscendProfileTests {
    @Test func jsonProfileRoundTrips() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: path) }
        try JSONEncoder().encode(AscendProfile.ascend910C).write(to: path)
        let loaded = try AscendProfile.load(path.path)
        #expect(loaded == .ascend910C)
        #expect(loaded.hbmBandwidth.source.contains("CloudMatrix384"))
        #expect(abs(AscendProfile.ascend910B2.peakFLOPS(.bf16) - 353.9e12) < 0.1e12)
        #expect(throws: SimulationError.self) { try AscendProfile.load("no-such-profile") }
        // A file without the kernel efficiencies is rejected with its name, not read as an ideal chip.
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(AscendProfile.ascend910C)) as? [String: Any])
        object["efficiency"] = nil
        try JSONSerialization.data(withJSONObject: object).write(to: path)
        do {
            _ = try AscendProfile.load(path.path)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(path.lastPathComponent) && "\(error)".contains("efficiency"))
        }
    }
}
