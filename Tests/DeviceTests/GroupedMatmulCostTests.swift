import Testing
@testable import Device

/// MoE expert GEMMs (one grouped kernel) and dense GEMMs run at their own published fractions of peak
/// (`KernelEfficiency.groupedMatmulCompute` / `matmulCompute`), and the H800 profile reproduces the per-shape
/// figures those fractions come from.
@Suite struct GroupedMatmulCostTests {
    // The same FLOPs and the same 128-row tiles: two experts of 4,096 rows, one dense GEMM of 8,192.
    static let dense = CostOp("dense", .matmul(m: 8192, n: 4096, k: 7168, a: .fp8, b: .fp8, out: .bf16))
    static let experts = CostOp("experts", .groupedMatmul(tokens: [4096, 4096], n: 4096, k: 7168, a: .fp8, b: .fp8, out: .bf16,
                                                          experts: true))
    static let heads = CostOp("heads", .groupedMatmul(tokens: [4096, 4096], n: 4096, k: 7168, a: .fp8, b: .fp8, out: .bf16))

    @Test func expertGEMMsRunAtTheGroupedFraction() {
        var skewed = AscendProfile.h800
        skewed.efficiency.groupedMatmulCompute.value = skewed.efficiency.matmulCompute.value / 2
        for profile in [AscendProfile.h800, skewed, .ascend910C] {
            let model = CostModel(profile: profile, graphMode: true), e = profile.efficiency
            let d = model.cost(Self.dense), x = model.cost(Self.experts), h = model.cost(Self.heads)
            #expect(d.flops == x.flops)
            let expected = e.matmulCompute.value / e.groupedMatmulCompute.value
            #expect(abs(x.pipes[.cube]! / d.pipes[.cube]! - expected) < 1e-12, "\(profile.name)")
            // Batched per-head matmuls (MLA's absorbed projections) are not expert GEMMs: dense fraction.
            #expect(abs(h.pipes[.cube]! / d.pipes[.cube]! - 1) < 1e-12)
        }
        // H800: DeepGEMM's grouped kernels run below its dense ones at V3's shapes, so the expert op costs more.
        let h800 = CostModel(profile: .h800, graphMode: true), e = AscendProfile.h800.efficiency
        #expect(e.groupedMatmulCompute.value < e.matmulCompute.value)
        #expect(h800.cost(Self.experts).total > h800.cost(Self.dense).total)
        // Ascend publishes no separate grouped figure: the two are equal there.
        #expect(AscendProfile.ascend910C.efficiency.groupedMatmulCompute.value == AscendProfile.ascend910C.efficiency.matmulCompute.value)
    }

    /// deepseek-ai/DeepGEMM README at commit 989c9e36 (H800 SXM5, NVCC 12.8), FP8 TFLOPS per shape: the six
    /// DeepSeek-V3 dense shapes at M 4,096 and the contiguous-layout grouped GEMMs (prefill's MoE kernel).
    static let denseRows: [(m: Int, n: Int, k: Int, tflops: Double)] = [
        (4096, 2112, 7168, 1127), (4096, 24576, 1536, 1212), (4096, 32768, 512, 775),
        (4096, 7168, 16384, 1520), (4096, 4096, 7168, 1410), (4096, 7168, 2048, 1168)]
    static let groupedRows: [(groups: Int, m: Int, n: Int, k: Int, tflops: Double)] = [
        (4, 8192, 4096, 7168, 1346), (4, 8192, 7168, 2048, 1214), (8, 4096, 4096, 7168, 1346), (8, 4096, 7168, 2048, 1214)]

    /// Each fraction is one number for many shapes, so single shapes scatter (model ÷ published 0.86–1.16 dense,
    /// 0.96–1.07 grouped), but the time of a whole V3 layer's set of GEMMs at these shapes, which the fractions
    /// are weighted to, matches DeepGEMM's within 6%.
    @Test func h800ReproducesDeepGEMMsPublishedShapes() {
        let model = CostModel(profile: .h800, graphMode: true)
        var modelTime = 0.0, publishedTime = 0.0
        for r in Self.denseRows {
            let c = model.cost(CostOp("dense", .matmul(m: r.m, n: r.n, k: r.k, a: .fp8, b: .fp8, out: .bf16)))
            let ratio = c.flops / c.total / (r.tflops * 1e12)
            #expect(ratio > 0.8 && ratio < 1.2, "dense \(r): model ÷ published \(ratio)")
            modelTime += c.total
            publishedTime += c.flops / (r.tflops * 1e12)
        }
        #expect(abs(modelTime / publishedTime - 1) < 0.06, "dense set: model ÷ published time \(modelTime / publishedTime)")
        modelTime = 0; publishedTime = 0
        for r in Self.groupedRows {
            let op = CostOp("experts", .groupedMatmul(tokens: Array(repeating: r.m, count: r.groups), n: r.n, k: r.k,
                                                      a: .fp8, b: .fp8, out: .bf16, experts: true))
            let c = model.cost(op)
            let ratio = c.flops / c.total / (r.tflops * 1e12)
            #expect(ratio > 0.9 && ratio < 1.1, "grouped \(r): model ÷ published \(ratio)")
            modelTime += c.total
            publishedTime += c.flops / (r.tflops * 1e12)
        }
        #expect(abs(modelTime / publishedTime - 1) < 0.06, "grouped set: model ÷ published time \(modelTime / publishedTime)")
    }
}
