import Device
import Foundation

// T tokens, E hidden, m tokens per compressed entry, d entry width, c = 2 with overlap (CSA) else 1

/// DeepSeek-V4's KV compressor (paper §2.3): every window of m tokens becomes one entry
/// C_w = RMSNorm(Σ_j softmax_j(Z_j + B_j) ⊙ C_j), rotated at position w·m.
///
/// HCA (`overlap == false`): the window is the m tokens w·m ..< (w+1)·m. CSA (`overlap == true`): each
/// token projects two series, Ca (columns 0..<d) and Cb (d..<2d); entry w pools window w's Cb with
/// window w−1's Ca (2m slots, stride m). The Lightning indexer compresses its keys the same way.
///
/// State: each token's raw projections (kv and gate, c·d floats each) and each window's entry (d), at
/// the `CachePlace`s the caller gives. NOTE: the raw projections stay cached until the entries that
/// read them are built, so an entry can be built whenever its window closes — in the same chunk or
/// many steps later — and chunking never changes the result.
struct KVCompressor: @unchecked Sendable {
    let device: any Device
    let rate: Int                    // m
    let width: Int                   // d
    let overlap: Bool
    let kvProj, gateProj: DeviceWeight     // [c·d, E]
    let positionBias: [Float]              // [m, c·d]
    let norm: DeviceWeight                 // [d]
    let rope: PartialRoPE
    let eps: Float

    var series: Int { overlap ? 2 : 1 }
    /// Floats of raw state per token (kv then gate).
    var rawWidth: Int { 2 * series * width }
    /// Raw state of tokens before c − `rawWindow` is never read once c tokens ran.
    var rawWindow: Int { series * rate }

    init(_ w: WeightLoader, prefix: String, rate: Int, width: Int, overlap: Bool, hidden: Int, rope: PartialRoPE, eps: Float) throws {
        let c = overlap ? 2 : 1
        device = w.device
        (self.rate, self.width, self.overlap, self.rope, self.eps) = (rate, width, overlap, rope, eps)
        kvProj = try w.load("\(prefix).wkv.weight", [c * width, hidden])
        gateProj = try w.load("\(prefix).wgate.weight", [c * width, hidden])
        positionBias = try w.values("\(prefix).ape", [rate, c * width])
        norm = try w.load("\(prefix).norm.weight", [width])
    }

    /// Stores the raw projections of the step's tokens, then builds and stores every entry whose window
    /// a token of the step closes.
    func update(_ x: Matrix, step: StepContext, raw: CachePlace, entries: CachePlace) {
        let slots = raw.tokenSlots(step)
        raw.write(device.matmul(x, kvProj), slots: slots, device: device)
        raw.write(device.matmul(x, gateProj), slots: slots, offset: series * width, device: device)
        var pooled: [Float] = [], positions: [Int] = [], entrySlots: [Int] = []
        for chunk in step.batch.chunks {
            for p in chunk.positions where (p + 1) % rate == 0 {
                let window = (p + 1) / rate - 1
                pooled += pool(window: window, raw: raw, chunk: chunk)
                positions.append(window * rate)
                entrySlots.append(entries.slot(window, chunk))
            }
        }
        guard !entrySlots.isEmpty else { return }
        var built = device.rmsNorm(Matrix(rows: entrySlots.count, cols: width, data: pooled), weight: norm, eps: eps)   // [n, d]
        rope.apply(&built, heads: 1, positions: positions, device: device)
        entries.write(built, slots: entrySlots, device: device)
    }

    /// The first `count` entries of a sequence: [count, d].
    func entries(count: Int, at place: CachePlace, chunk: SequenceChunk) -> Matrix {
        place.read(0..<count, chunk, count: width, device: device)
    }

    /// Σ_j softmax_j(gate_j + bias_j) ⊙ kv_j over the window's slots, per channel: [d].
    private func pool(window: Int, raw place: CachePlace, chunk: SequenceChunk) -> [Float] {
        let (m, d) = (rate, width)
        let first = overlap && window > 0 ? window - 1 : window
        let raw = place.read((first * m)..<((window + 1) * m), chunk, count: rawWidth, device: device)   // [n·m, 2·c·d]
        let rows = raw.rows
        // Sources in transformers' order: the previous window's Ca (series 0), then this window's Cb
        // (series 1 with overlap; the only series without).
        var sources: [(row: Int, series: Int)] = []
        if first < window { sources += (0..<m).map { ($0, 0) } }
        sources += (0..<m).map { (rows - m + $0, overlap ? 1 : 0) }
        var out = [Float](repeating: 0, count: d)
        var logits = [Float](repeating: 0, count: sources.count)
        for ch in 0..<d {
            for (i, s) in sources.enumerated() {
                let col = s.series * d + ch
                logits[i] = raw.data[s.row * raw.cols + series * d + col] + positionBias[(s.row % m) * series * d + col]
            }
            let top = logits.max() ?? 0
            let e = logits.map { Foundation.exp($0 - top) }
            let total = e.reduce(0, +)
            for (i, s) in sources.enumerated() {
                out[ch] += raw.data[s.row * raw.cols + s.series * d + ch] * (e[i] / total)
            }
        }
        return out
    }
}
