import Foundation

/// How a matmul is cut for the cube: base tile `mt × nt × kt` (multiples of the 16-row fractal) such that
/// double-buffered A and B tiles fit L0A/L0B (`2·mt·kt·bytesA ≤ L0A`, `2·kt·nt·bytesB ≤ L0B`) and the fp32
/// accumulator fits L0C (`mt·nt·4 ≤ L0C`). A shape that does not fit is split by halving.
public struct MatmulTiling: Sendable, Equatable {
    public var mt: Int, nt: Int, kt: Int
    public var mTiles: Int, nTiles: Int, kTiles: Int

    /// Output tiles (each one core's unit of work).
    public var outputTiles: Int { mTiles * nTiles }
    /// Tiles including the K steps.
    public var count: Int { mTiles * nTiles * kTiles }
}

extension CostModel {
    /// The tiling of `[M, K] · [K, N]`: start from the Catlass A2 default 128 × 256 × 256 (clamped to the
    /// shape), halve the largest offending dimension until every L0 buffer fits.
    public func tiling(m: Int, n: Int, k: Int, a: ElementType, b: ElementType) -> MatmulTiling {
        let kAlign = a.isEightBit ? 32 : 16
        var mt = min(roundUp(m, 16), 128), nt = min(roundUp(n, 16), 256), kt = min(roundUp(k, kAlign), 256)
        let p = profile
        while true {
            if Double(mt * nt) * 4 > p.l0c.value {
                if nt >= mt, nt > 16 { nt /= 2 } else if mt > 16 { mt /= 2 } else { break }
            } else if 2 * Double(mt * kt) * a.bytes > p.l0a.value {
                if kt > kAlign { kt /= 2 } else if mt > 16 { mt /= 2 } else { break }
            } else if 2 * Double(kt * nt) * b.bytes > p.l0b.value {
                if kt > kAlign { kt /= 2 } else if nt > 16 { nt /= 2 } else { break }
            } else {
                break
            }
        }
        return MatmulTiling(mt: mt, nt: nt, kt: kt, mTiles: ceilDiv(m, mt), nTiles: ceilDiv(n, nt), kTiles: ceilDiv(k, kt))
    }

    /// Grouped matmul (one kernel; a plain matmul is one group). Per expert e with tiling T_e:
    /// - Cube = Σ_e outputTiles_e · (mt/16)(nt/16)(kTiles·kt / (16·s)) cycles ÷ active cores ÷ clock,
    ///   s = int8 speedup; tiles of all experts share the cores, and when output tiles are fewer than cores
    ///   K is split across cores (active = min(cores, Σ outputTiles·kTiles); the fp32 partial sums are
    ///   small next to the operands and not costed).
    /// - MTE2 = max(HBM bytes ÷ HBM bw, GM→L1 traffic ÷ L2 bw); traffic = A·nTiles + B·mTiles, HBM bytes =
    ///   A + B + C, plus every re-read when one wave's in-flight tiles (cores × 2 × (A tile + B tile)) do not
    ///   fit half of L2 (cores stream the same panels together, so re-reads otherwise hit L2).
    /// - MTE1 = traffic ÷ (active cores · MTE1 B/cycle · clock); FixPipe = C ÷ (active cores · FixPipe B/cycle · clock).
    /// - fill/drain = one k-step tile at a core's share of HBM + its L1→L0 move + one output tile's FixPipe.
    /// - Cube is divided by `compute` (the profile's `matmulCompute`, or `groupedMatmulCompute` for MoE experts)
    ///   and the HBM part of MTE2 by `matmulBandwidth` (achieved fractions, see `KernelEfficiency`).
    func groupedMatmul(tokens: [Int], n: Int, k: Int, a: ElementType, b: ElementType, out: ElementType, compute: Sourced) -> OpCost {
        var c = OpCost(name: "")
        var cubeCycles = 0.0, traffic = 0.0, hbmBytes = 0.0, outBytes = 0.0, kSplit = 0
        var first: MatmulTiling?
        let speed = a.isEightBit && b.isEightBit ? profile.int8Speedup.value : 1
        let halfL2 = profile.l2.value / 2
        for m in tokens where m > 0 {
            let t = tiling(m: m, n: n, k: k, a: a, b: b)
            first = first ?? t
            kSplit += t.outputTiles * t.kTiles
            let kPad = Double(t.kTiles * t.kt)
            cubeCycles += Double(t.outputTiles) * Double(t.mt / 16) * Double(t.nt / 16) * kPad / 16 / speed * fractalCycles
            let aBytes = Double(m * k) * a.bytes, bBytes = Double(k * n) * b.bytes, cBytes = Double(m * n) * out.bytes
            traffic += aBytes * Double(t.nTiles) + bBytes * Double(t.mTiles)
            hbmBytes += aBytes + bBytes + cBytes
            if waveBytes(t, a: a, b: b) > halfL2 {
                hbmBytes += aBytes * Double(t.nTiles - 1) + bBytes * Double(t.mTiles - 1)
            }
            outBytes += cBytes
            c.flops += 2 * Double(m) * Double(n) * Double(k)
        }
        guard let t0 = first else { return c }
        let active = min(cores, Double(kSplit)), p = profile, e = p.efficiency
        c.pipes[.cube] = cubeCycles / active / clock / compute.value
        c.pipes[.mte2] = max(hbmBytes / (p.hbmBandwidth.value * e.matmulBandwidth.value), traffic / p.l2Bandwidth.value)
        c.pipes[.mte1] = traffic / (active * p.mte1BytesPerCycle.value * clock)
        c.pipes[.fixpipe] = outBytes / (active * p.fixpipeBytesPerCycle.value * clock)
        let tileIn = Double(t0.mt * t0.kt) * a.bytes + Double(t0.kt * t0.nt) * b.bytes
        c.fillDrain = tileIn * active / p.hbmBandwidth.value + tileIn / (p.mte1BytesPerCycle.value * clock)
            + Double(t0.mt * t0.nt) * out.bytes / (p.fixpipeBytesPerCycle.value * clock)
        c.bytes = hbmBytes
        c.peak = p.peakFLOPS(speed > 1 ? .int8 : .bf16)
        return c
    }
}

extension CostModel {
    /// Cycles for one 16×16×16 fractal (4,096 MACs) on a core doing `cubeMACsPerCycle` MACs per cycle.
    var fractalCycles: Double { 4096 / profile.cubeMACsPerCycle.value }

    func waveBytes(_ t: MatmulTiling, a: ElementType, b: ElementType) -> Double {
        cores * 2 * (Double(t.mt * t.kt) * a.bytes + Double(t.kt * t.nt) * b.bytes)
    }
}

func roundUp(_ x: Int, _ q: Int) -> Int { (x + q - 1) / q * q }
func ceilDiv(_ x: Int, _ q: Int) -> Int { (x + q - 1) / q }
