// Built-in profiles. Sources as in ../shared/ASCEND.md; "[assumption]" marks values no public source
// gives (MTE1/FixPipe widths, latencies, launch cost), chosen once here and used by every profile alike.

private let kb = 1024.0, mb = 1024.0 * 1024, gb = 1e9

extension AscendProfile {
    /// Ascend 910B2 (A2), one die: 24 AIC + 48 AIV at 1.8 GHz.
    public static let ascend910B2 = AscendProfile(
        name: "910B2",
        cubeCores: Sourced(24, "[3p] CANN platform ini quotes: 24 AIC"),
        vectorCores: Sourced(48, "[3p] CANN platform ini quotes: 48 AIV"),
        clockHz: Sourced(1.8e9, "[3p] CANN ini quotes: 1.8 GHz (910B1 1.85)"),
        cubeMACsPerCycle: Sourced(4096, "[3p] Hot Chips 31: 16×16×16 fp16 fractal"),
        int8Speedup: Sourced(2, "[3p] ini [DtypeMKN] int8 16×32×16"),
        vectorLanes: Sourced(128, "[3p] 2,048-bit SIMD = 128 fp16 lanes"),
        l0a: Sourced(64 * kb, "[src] Catlass arch.hpp AtlasA2"),
        l0b: Sourced(64 * kb, "[src] Catlass arch.hpp AtlasA2"),
        l0c: Sourced(128 * kb, "[src] Catlass arch.hpp AtlasA2"),
        l1: Sourced(512 * kb, "[src] Catlass arch.hpp AtlasA2"),
        ub: Sourced(192 * kb, "[src] Catlass arch.hpp AtlasA2"),
        l2: Sourced(192 * mb, "[3p] ini quotes: 192 MB"),
        hbmCapacity: Sourced(64 * gb, "[3p] 64 GB"),
        hbmBandwidth: Sourced(1.6e12, "[3p] 1.6 TB/s (others say 1.2)"),
        l2Bandwidth: Sourced(4.9e12, "[derived] ini l2_rate=110 B/cycle × 24 cores × 1.85 GHz (unconfirmed)"),
        mte1BytesPerCycle: Sourced(256, "[assumption] L1→L0 256 B/cycle per core"),
        fixpipeBytesPerCycle: Sourced(128, "[assumption] L0C→GM 128 B/cycle per core"),
        scaleUpChips: Sourced(8, "[3p] 8-card HCCS full mesh"),
        intraBandwidth: Sourced(196e9, "[derived] HCCS 392 GB/s bidirectional ÷ 2 per direction"),
        intraLatency: Sourced(10e-6, "[assumption] 10 µs per collective step"),
        interBandwidth: Sourced(25e9, "[3p] 200G RoCE = 25 GB/s"),
        interLatency: Sourced(20e-6, "[assumption] 20 µs per RDMA step"),
        launchOverhead: Sourced(5e-6, "[assumption] 5 µs per kernel launch outside graph mode"),
        efficiency: .ascendA3
    )

    /// Ascend 910C (A3), one package = 2 dies treated as one chip (as CloudMatrix384 counts an "NPU").
    public static let ascend910C: AscendProfile = {
        var p = ascend910B2
        p.name = "910C"
        p.cubeCores = Sourced(48, "[derived] 2 dies × 24 AIC")
        p.vectorCores = Sourced(96, "[derived] 2 dies × 48 AIV")
        p.clockHz = Sourced(1.8e9, "[3p] assumed = 910B2; 752 TFLOPS bf16 ⇒ ~1.91 GHz, so ±6%")
        p.l2 = Sourced(2 * 192 * mb, "[derived] 2 dies × 192 MB")
        p.hbmCapacity = Sourced(128 * gb, "[3p] CloudMatrix384 paper: 128 GB")
        p.hbmBandwidth = Sourced(3.2e12, "[3p] CloudMatrix384 paper: 3.2 TB/s")
        p.l2Bandwidth = Sourced(9.8e12, "[derived] 2 × 910B2 L2 rate")
        p.scaleUpChips = Sourced(384, "[3p] UB plane: all-to-all across 384 NPUs")
        p.intraBandwidth = Sourced(392e9, "[3p] CloudMatrix384 paper (as two readings quote it): each 910C contributes over 392 GB/s of unidirectional UB bandwidth, 196 per die")
        p.intraLatency = Sourced(10e-6, "[assumption] 10 µs per collective step")
        p.interBandwidth = Sourced(50e9, "[3p] RDMA 400 Gb/s = 50 GB/s")
        return p
    }()

    /// Ascend 950DT, one package (press figures; per-core buffer sizes from the Ascend 950 ini quotes).
    public static let ascend950DT: AscendProfile = {
        var p = ascend910C
        p.name = "950DT"
        p.clockHz = Sourced(1.8e9, "[assumption] as 910C")
        p.cubeCores = Sourced(68, "[derived] 1 PFLOPS FP8 ÷ (4,096 × 2 × 2 × 1.8 GHz) ≈ 34 AIC/die × 2")
        p.vectorCores = Sourced(136, "[derived] 2 AIV per AIC")
        p.l0c = Sourced(256 * kb, "[3p] Ascend 950 L0C 256 KB")
        p.ub = Sourced(248 * kb, "[3p] Ascend 950 UB 248 KB")
        p.hbmCapacity = Sourced(144 * gb, "[3p] press: 144 GB")
        p.hbmBandwidth = Sourced(4e12, "[3p] press: 4 TB/s")
        p.intraBandwidth = Sourced(1e12, "[3p] press 2 TB/s bidirectional ÷ 2")
        return p
    }()

    /// NVIDIA H800 SXM mapped onto the same fields: SM = cube core, shared memory = L1, register tiles = L0.
    public static let h800 = AscendProfile(
        name: "H800",
        cubeCores: Sourced(132, "[src] NVIDIA spec: 132 SMs"),
        vectorCores: Sourced(132, "[src] 132 SMs (CUDA cores as the vector unit)"),
        clockHz: Sourced(1.83e9, "[derived] 989 TFLOPS ÷ (132 × 2,048 × 2)"),
        cubeMACsPerCycle: Sourced(2048, "[derived] 4 tensor cores × 512 dense bf16 FMA/cycle"),
        int8Speedup: Sourced(2, "[src] FP8 1,979 TFLOPS dense = 2× bf16"),
        vectorLanes: Sourced(256, "[derived] 128 fp32 CUDA cores × 2 for packed half"),
        l0a: Sourced(64 * kb, "[assumption] register-file slice for A fragments"),
        l0b: Sourced(64 * kb, "[assumption] register-file slice for B fragments"),
        l0c: Sourced(128 * kb, "[assumption] accumulator registers (256 KB RF per SM)"),
        l1: Sourced(228 * kb, "[src] 228 KB shared memory per SM"),
        ub: Sourced(228 * kb, "[src] shared memory"),
        l2: Sourced(50 * mb, "[src] 50 MB L2"),
        hbmCapacity: Sourced(80 * gb, "[src] 80 GB HBM3"),
        hbmBandwidth: Sourced(3.35e12, "[src] 3.35 TB/s"),
        l2Bandwidth: Sourced(10e12, "[assumption] ~3× HBM"),
        mte1BytesPerCycle: Sourced(256, "[assumption] as Ascend"),
        fixpipeBytesPerCycle: Sourced(128, "[assumption] as Ascend"),
        scaleUpChips: Sourced(8, "[src] 8-GPU NVLink node"),
        intraBandwidth: Sourced(160e9, "[src] DeepEP docs: NVLink ~160 GB/s"),
        intraLatency: Sourced(8e-6, "[assumption] 8 µs per collective step"),
        interBandwidth: Sourced(50e9, "[src] DeepEP docs: IB ~50 GB/s per GPU"),
        interLatency: Sourced(15e-6, "[assumption] 15 µs per RDMA step"),
        launchOverhead: Sourced(4e-6, "[assumption] 4 µs per kernel outside CUDA graphs"),
        efficiency: .h800
    )
}
