/// Achieved fractions of a chip's peak rates, per kernel type, as published for the best kernels that
/// serve DeepSeek on it. The cost model's pipe times are ideal (every cycle busy, every byte at full
/// bandwidth); real kernels lose to tile quantisation, pipeline bubbles, scalar/sync overhead and HBM
/// page effects, and published measurements give how much. Each pipe time is divided by its fraction:
///
/// | field | divides | what it stands for |
/// |---|---|---|
/// | `matmulCompute` | Cube of dense matmuls (and of batched per-head ones) | dense large-GEMM throughput ÷ peak |
/// | `groupedMatmulCompute` | Cube of MoE expert grouped matmuls (`experts: true`) | grouped-GEMM throughput ÷ peak |
/// | `matmulBandwidth` | MTE2 (HBM) of matmuls | weight-streaming (decode-shaped) GEMM bandwidth ÷ HBM peak |
/// | `attentionCompute` | Cube of MLA/GQA decode and prefill attention | attention-kernel FLOP/s ÷ peak |
/// | `attentionBandwidth` | MTE2 of attention | KV-streaming bandwidth ÷ HBM peak |
/// | `vectorBandwidth` | MTE2/MTE3 of element-wise kernels | streaming-kernel bandwidth ÷ HBM peak |
/// | `link` | link bandwidth of collectives | high-throughput (prefill) all-to-all bandwidth ÷ link peak |
/// | `linkLowLatency` | link bandwidth of decode all-to-all | low-latency (decode) dispatch/combine bandwidth ÷ link peak |
/// | `overlapCompute` | compute pipes of two overlapped prefill micro-batches | share of the cores compute keeps while the high-throughput all-to-all runs on the others |
///
/// NOTE: these are properties of the chip and its kernel library, the same for every scenario; they are
/// never fitted to a calibration target (config/ascend/CALIBRATION.md lists what each scenario gets).
public struct KernelEfficiency: Codable, Sendable, Equatable {
    public var matmulCompute: Sourced
    /// MoE expert GEMMs run as one grouped kernel (DeepGEMM's contiguous/masked layouts on Hopper,
    /// `npu_grouped_matmul` on Ascend), published separately from the dense GEMMs where a source gives both.
    public var groupedMatmulCompute: Sourced
    public var matmulBandwidth: Sourced
    public var attentionCompute: Sourced
    public var attentionBandwidth: Sourced
    public var vectorBandwidth: Sourced
    public var link: Sourced
    public var linkLowLatency: Sourced
    /// Two micro-batches in prefill: the high-throughput dispatch/combine kernels either hold some cores for
    /// their whole run (DeepEP's normal kernels on Hopper SMs) or run on copy engines (Ascend SDMA), so the
    /// compute stream keeps this share of the cube and vector cores.
    public var overlapCompute: Sourced

    public init(matmulCompute: Sourced, groupedMatmulCompute: Sourced, matmulBandwidth: Sourced, attentionCompute: Sourced,
                attentionBandwidth: Sourced, vectorBandwidth: Sourced, link: Sourced, linkLowLatency: Sourced, overlapCompute: Sourced) {
        self.matmulCompute = matmulCompute
        self.groupedMatmulCompute = groupedMatmulCompute
        self.matmulBandwidth = matmulBandwidth
        self.attentionCompute = attentionCompute
        self.attentionBandwidth = attentionBandwidth
        self.vectorBandwidth = vectorBandwidth
        self.link = link
        self.linkLowLatency = linkLowLatency
        self.overlapCompute = overlapCompute
    }

    /// Every kernel at peak: the cost model's ideal pipe times (hand-computable tests, upper bounds).
    public static let ideal = KernelEfficiency(
        matmulCompute: Sourced(1, "ideal"), groupedMatmulCompute: Sourced(1, "ideal"), matmulBandwidth: Sourced(1, "ideal"),
        attentionCompute: Sourced(1, "ideal"), attentionBandwidth: Sourced(1, "ideal"), vectorBandwidth: Sourced(1, "ideal"),
        link: Sourced(1, "ideal"), linkLowLatency: Sourced(1, "ideal"), overlapCompute: Sourced(1, "ideal"))

    /// DeepSeek's published Hopper kernels on H800 (the kernels behind DeepSeek's own service figures).
    public static let h800 = KernelEfficiency(
        matmulCompute: Sourced(1_307.0 / 1_979, "[src] deepseek-ai/DeepGEMM@989c9e36: README, normal GEMMs on H800 SXM5, M 4096, the six DeepSeek-V3 dense shapes (N×K): 2112×7168 1,127; 24576×1536 1,212; 32768×512 775; 7168×16384 1,520; 4096×7168 1,410; 7168×2048 1,168 TFLOPS; time-weighted at one V3 MoE layer's FLOP split (Σ N·K ÷ Σ N·K/rate = 1,307) ÷ 1,979 FP8 peak"),
        groupedMatmulCompute: Sourced(1_299.0 / 1_979, "[src] deepseek-ai/DeepGEMM@989c9e36: README (same rows at 55ab91f7), grouped GEMM contiguous layout on H800 SXM5, 4×8192 and 8×4096 rows: gate/up N 4096 K 7168 1,346, down N 7168 K 2048 1,214 TFLOPS; time-weighted at V3's FLOP split (gate/up 2× down: 1,299) ÷ 1,979 FP8 peak"),
        matmulBandwidth: Sourced(0.57, "[src] DeepGEMM README (first release), four of the twelve decode rows M=64–128: 1,688, 1,509, 2,221, 2,277 GB/s, mean 1,924 ÷ 3,350 (all twelve, V3-weighted: 0.715; config/ascend/CALIBRATION.md)"),
        attentionCompute: Sourced(0.67, "[src] FlashMLA README: 660 TFLOPS compute-bound on H800 SXM5 ÷ 989 peak"),
        attentionBandwidth: Sourced(0.90, "[src] FlashMLA README: 3,000 GB/s memory-bound ÷ 3,350"),
        vectorBandwidth: Sourced(0.90, "[assumption] streaming kernels as FlashMLA's memory-bound case"),
        link: Sourced(0.91, "[src] DeepEP README normal kernels, internode EP32: dispatch 44, combine 47 GB/s RDMA; mean 45.5 ÷ 50"),
        linkLowLatency: Sourced(0.80, "[src] DeepEP README low-latency kernels EP256: dispatch 39, combine 40 GB/s RDMA ÷ 50"),
        overlapCompute: Sourced(108.0 / 132, "[src] deepseek-ai/profile-data prefill figure: computation on 108 SMs, communication (DeepEP normal kernels) on 24 of 132"))

    /// Ascend A2/A3 (910B/910C) with the CANN / sgl-kernel-npu kernels vllm-ascend and SGLang use. The GEMM and
    /// MLA fractions are the CloudMatrix384 paper's operator measurements on the 910C (arXiv 2506.12708, §5
    /// operator performance, read in a third-party summary of the paper: see config/ascend/CALIBRATION.md).
    public static let ascendA3 = KernelEfficiency(
        matmulCompute: Sourced(0.80, "[3p] CloudMatrix384 paper, operator results: INT8 GEMM 77.4–82.7% of peak over its shapes, midpoint"),
        groupedMatmulCompute: Sourced(0.80, "[assumption] no separate published grouped-GEMM figure; as dense (CloudMatrix384 paper INT8 GEMM 77.4–82.7%, midpoint)"),
        matmulBandwidth: Sourced(0.57, "[assumption] as DeepGEMM decode shapes on H800: no published Ascend weight-streaming GEMM bandwidth"),
        attentionCompute: Sourced(0.654, "[3p] CloudMatrix384 paper, operator results: MLA compute-bound 65.4% (FlashMLA on H800: 66.7%)"),
        attentionBandwidth: Sourced(0.841, "[3p] CloudMatrix384 paper, operator results: MLA memory-bound 84.1% (FlashMLA on H800: 89.6%)"),
        vectorBandwidth: Sourced(0.90, "[assumption] as FlashMLA's memory-bound case"),
        link: Sourced(0.52, "[src] sgl-kernel-npu README (DeepEP-Ascend on the A3 384 SuperPOD), normal kernels EP16/EP32: dispatch 107/102, combine 103/95 GB/s per rank; mean 102 ÷ 196 GB/s, a die's share of its package's UB bandwidth (a rank is one die: its tests run 16 processes on a node of 8 910C packages)"),
        linkLowLatency: Sourced(0.37, "[src] sgl-kernel-npu README, low-latency kernels EP32 (the largest listed): dispatch 49, combine 97 GB/s per rank (die); mean 73 ÷ 196"),
        overlapCompute: Sourced(1, "[3p] CloudMatrix384 paper, prefill pipeline: MoE bulk transfers on the SDMA engines, AIC/AIV keep computing; [src] cann-recipes-infer DeepSeek-R1 prefill guide: micro-batch all-to-all in HCCL's SDMA mode (AIV mode would contend with compute)"))
}
