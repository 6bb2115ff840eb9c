import Device
import Foundation

// T tokens, E hidden, m tokens per compressed entry, d entry width, c = 2 with overlap (CSA) else 1

/// Where a compressor keeps its state in a token's cache slot: the token's raw projections (kv and
/// gate, c·d floats each) and, in the slot of the token that closes a window, the window's entry (d).
struct CompressorColumns: Sendable, Equatable {
    let rawKV: Range<Int>
    let rawGate: Range<Int>
    let entry: Range<Int>

    /// Columns from `start` on for entry width d and c series.
    init(start: Int, width d: Int, series c: Int) {
        rawKV = start..<(start + c * d)
        rawGate = rawKV.upperBound..<(rawKV.upperBound + c * d)
        entry = rawGate.upperBound..<(rawGate.upperBound + d)
    }

    var end: Int { entry.upperBound }
}

/// DeepSeek-V4's KV compressor (paper §2.3): every window of m tokens becomes one entry
/// C_w = RMSNorm(Σ_j softmax_j(Z_j + B_j) ⊙ C_j), rotated at position w·m.
///
/// HCA (`overlap == false`): the window is the m tokens w·m ..< (w+1)·m. CSA (`overlap == true`): each
/// token projects two series, Ca (columns 0..<d) and Cb (d..<2d); entry w pools window w's Cb with
/// window w−1's Ca (2m slots, stride m). The Lightning indexer compresses its keys the same way.
///
/// NOTE: the raw projections of every token stay in its slot, so an entry can be built whenever its
/// window closes — in the same chunk or many steps later — and chunking never changes the result.
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
    let columns: CompressorColumns

    var series: Int { overlap ? 2 : 1 }

    init(_ w: WeightLoader, prefix: String, rate: Int, width: Int, overlap: Bool, hidden: Int, rope: PartialRoPE, eps: Float, columnStart: Int) throws {
        let c = overlap ? 2 : 1
        device = w.device
        (self.rate, self.width, self.overlap, self.rope, self.eps) = (rate, width, overlap, rope, eps)
        kvProj = try w.load("\(prefix).wkv.weight", [c * width, hidden])
        gateProj = try w.load("\(prefix).wgate.weight", [c * width, hidden])
        positionBias = try w.values("\(prefix).ape", [rate, c * width])
        norm = try w.load("\(prefix).norm.weight", [width])
        columns = CompressorColumns(start: columnStart, width: width, series: c)
    }

    /// Stores the raw projections of the step's tokens, then builds and stores every entry whose window
    /// a token of the step closes.
    func update(_ x: Matrix, layer: Int, step: StepContext) {
        let cache = step.cache
        device.writeCache(cache, layer: layer, slots: step.slots, values: device.matmul(x, kvProj), offset: columns.rawKV.lowerBound)
        device.writeCache(cache, layer: layer, slots: step.slots, values: device.matmul(x, gateProj), offset: columns.rawGate.lowerBound)
        var pooled: [Float] = [], positions: [Int] = [], slots: [Int] = []
        for chunk in step.batch.chunks {
            for p in chunk.positions where (p + 1) % rate == 0 {
                let window = (p + 1) / rate - 1
                pooled += pool(window: window, layer: layer, cache: cache, blockTable: chunk.blockTable)
                positions.append(window * rate)
                slots.append(cache.slot(position: p, blockTable: chunk.blockTable))
            }
        }
        guard !slots.isEmpty else { return }
        var entries = device.rmsNorm(Matrix(rows: slots.count, cols: width, data: pooled), weight: norm, eps: eps)   // [n, d]
        rope.apply(&entries, heads: 1, positions: positions, device: device)
        device.writeCache(cache, layer: layer, slots: slots, values: entries, offset: columns.entry.lowerBound)
    }

    /// The first `count` entries of a sequence: [count, d].
    func entries(count: Int, layer: Int, cache: KVBlockStorage, blockTable: [Int]) -> Matrix {
        let slots = (0..<count).map { cache.slot(position: ($0 + 1) * rate - 1, blockTable: blockTable) }
        return device.readCache(cache, layer: layer, slots: slots).columns(columns.entry)
    }

    /// Σ_j softmax_j(gate_j + bias_j) ⊙ kv_j over the window's slots, per channel: [d].
    private func pool(window: Int, layer: Int, cache: KVBlockStorage, blockTable: [Int]) -> [Float] {
        let (m, d) = (rate, width)
        let first = overlap && window > 0 ? window - 1 : window
        let slots = ((first * m)..<((window + 1) * m)).map { cache.slot(position: $0, blockTable: blockTable) }
        let raw = device.readCache(cache, layer: layer, slots: slots)                       // [n·m, W]
        // Sources in transformers' order: the previous window's Ca (series 0), then this window's Cb
        // (series 1 with overlap; the only series without).
        var sources: [(row: Int, series: Int)] = []
        if first < window { sources += (0..<m).map { ($0, 0) } }
        sources += (0..<m).map { (slots.count - m + $0, overlap ? 1 : 0) }
        var out = [Float](repeating: 0, count: d)
        var logits = [Float](repeating: 0, count: sources.count)
        for ch in 0..<d {
            for (i, s) in sources.enumerated() {
                let col = s.series * d + ch
                logits[i] = raw.data[s.row * raw.cols + columns.rawGate.lowerBound + col] + positionBias[(s.row % m) * series * d + col]
            }
            let top = logits.max() ?? 0
            let e = logits.map { Foundation.exp($0 - top) }
            let total = e.reduce(0, +)
            for (i, s) in sources.enumerated() {
                out[ch] += raw.data[s.row * raw.cols + columns.rawKV.lowerBound + s.series * d + ch] * (e[i] / total)
            }
        }
        return out
    }
}
