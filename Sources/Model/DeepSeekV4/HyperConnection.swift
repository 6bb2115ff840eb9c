import Device
import Foundation

// T tokens, E hidden, N streams (hc_mult)

/// Manifold-constrained hyper-connection (mHC, paper §2.2) around one block. The residual is N streams
/// h [T, N·E]. From the RMS-normalised streams one projection gives, per token:
///   pre_n  = σ(a_n · s₀ + b_n) + ε                      — mixes the streams into the block input
///   post_n = 2 σ(a'_n · s₁ + b'_n)                      — spreads the block output over the streams
///   comb   = Sinkhorn(softmax_row(A · s₂ + B) + ε)        — N×N, near doubly stochastic
/// and the new streams are h'_m = post_m · y + Σ_n comb[n][m] · h_n.
struct HyperConnection: @unchecked Sendable {
    let device: any Device
    let streams: Int
    let projection: DeviceWeight     // [(2+N)·N, N·E]
    let base: [Float]                // [(2+N)·N]
    let scale: [Float]               // [3]
    let sinkhornIterations: Int
    let hcEps: Float
    let normEps: Float

    init(_ w: WeightLoader, prefix: String, config c: DeepSeekV4Config) throws {
        let (n, e) = (c.hc_mult, c.hidden_size)
        device = w.device
        streams = n
        projection = try w.load("\(prefix)_fn", [(2 + n) * n, n * e])
        base = try w.values("\(prefix)_base", [(2 + n) * n])
        scale = try w.values("\(prefix)_scale", [3])
        (sinkhornIterations, hcEps, normEps) = (c.hc_sinkhorn_iters, Float(c.hc_eps), c.eps)
    }

    /// The block input [T, E] and, for `merge`, the per-token post weights [T, N] and comb [T, N·N].
    func split(_ h: Matrix) -> (input: Matrix, post: [Float], comb: [Float]) {
        let n = streams
        let mix = device.matmul(h.unitRMSNormed(width: h.cols, eps: normEps), projection)   // [T, (2+N)·N]
        var pre = [Float](repeating: 0, count: h.rows * n), post = pre
        var comb = [Float](repeating: 0, count: h.rows * n * n)
        for t in 0..<h.rows {
            let row = Array(mix.data[(t * mix.cols)..<((t + 1) * mix.cols)])
            for i in 0..<n {
                pre[t * n + i] = sigmoid(row[i] * scale[0] + base[i]) + hcEps
                post[t * n + i] = 2 * sigmoid(row[n + i] * scale[1] + base[n + i])
            }
            let logits = (0..<(n * n)).map { row[2 * n + $0] * scale[2] + base[2 * n + $0] }
            comb.replaceSubrange((t * n * n)..<((t + 1) * n * n), with: sinkhorn(logits))
        }
        return (Self.collapse(h, weights: pre, streams: n), post, comb)
    }

    /// h'_m = post_m · y + Σ_n comb[n][m] · h_n.
    func merge(_ h: Matrix, output y: Matrix, post: [Float], comb: [Float]) -> Matrix {
        let (n, e) = (streams, y.cols)
        var out = Matrix(zeros: h.rows, h.cols)
        for t in 0..<h.rows {
            for m in 0..<n {
                let dst = t * h.cols + m * e
                for j in 0..<e {
                    var s: Float = 0
                    for i in 0..<n { s += comb[(t * n + i) * n + m] * h.data[t * h.cols + i * e + j] }
                    out.data[dst + j] = post[t * n + m] * y.data[t * e + j] + s
                }
            }
        }
        return out
    }

    /// Row-softmax + ε, then alternate column and row normalisation (columns first and last).
    private func sinkhorn(_ logits: [Float]) -> [Float] {
        let n = streams
        var c = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            let row = logits[(i * n)..<((i + 1) * n)]
            let top = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - top) }
            let total = e.reduce(0, +)
            for j in 0..<n { c[i * n + j] = e[j] / total + hcEps }
        }
        normalizeColumns(&c)
        for _ in 0..<max(0, sinkhornIterations - 1) {
            for i in 0..<n {
                let total = (0..<n).reduce(Float(0)) { $0 + c[i * n + $1] } + hcEps
                for j in 0..<n { c[i * n + j] /= total }
            }
            normalizeColumns(&c)
        }
        return c
    }

    private func normalizeColumns(_ c: inout [Float]) {
        let n = streams
        for j in 0..<n {
            let total = (0..<n).reduce(Float(0)) { $0 + c[$1 * n + j] } + hcEps
            for i in 0..<n { c[i * n + j] /= total }
        }
    }

    /// Σ_n weights[t, n] · h_n: [T, E].
    static func collapse(_ h: Matrix, weights: [Float], streams n: Int) -> Matrix {
        let e = h.cols / n
        var out = Matrix(zeros: h.rows, e)
        for t in 0..<h.rows {
            for j in 0..<e {
                var s: Float = 0
                for i in 0..<n { s += weights[t * n + i] * h.data[t * h.cols + i * e + j] }
                out.data[t * e + j] = s
            }
        }
        return out
    }
}

/// The final collapse of the N streams before the output norm: pre_n = σ(a_n · s + b_n) + ε.
struct HyperHead: @unchecked Sendable {
    let device: any Device
    let streams: Int
    let projection: DeviceWeight     // [N, N·E]
    let base: [Float]                // [N]
    let scale: Float
    let hcEps: Float
    let normEps: Float

    init(_ w: WeightLoader, config c: DeepSeekV4Config) throws {
        let (n, e) = (c.hc_mult, c.hidden_size)
        device = w.device
        streams = n
        projection = try w.load("hc_head_fn", [n, n * e])
        base = try w.values("hc_head_base", [n])
        scale = try w.values("hc_head_scale", [1])[0]
        (hcEps, normEps) = (Float(c.hc_eps), c.eps)
    }

    func callAsFunction(_ h: Matrix) -> Matrix {
        let mix = device.matmul(h.unitRMSNormed(width: h.cols, eps: normEps), projection)   // [T, N]
        let pre = mix.data.enumerated().map { sigmoid($1 * scale + base[$0 % streams]) + hcEps }
        return HyperConnection.collapse(h, weights: pre, streams: streams)                   // [T, E]
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
