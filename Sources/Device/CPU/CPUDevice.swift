import CKernels
import Foundation

/// The CPU executor: fp32 activations; GGUF Q4_0/Q4_1/Q8_0 matrices stay quantised and are read by
/// the quantised kernels (`QuantKernels`), everything else is dequantised to fp32 at upload and read by
/// the SIMD kernels; matmuls are spread over all cores. Element-wise ops are cheap next to the
/// matmuls, so they stay close to the reference loops.
/// The activation precision of matmuls with block-quantised weights.
public enum ActivationPrecision: String, Sendable, CaseIterable {
    case float32 = "f32"
    case int8

    /// The (prompt tokens, generated tokens) precisions of a `cpu_activations` setting: f32 and int8 for
    /// every token, auto fp32 prompts and int8 generated tokens; nil for another name.
    public static func setting(_ name: String) -> (prompt: ActivationPrecision, generated: ActivationPrecision)? {
        switch name {
        case "auto": (.float32, .int8)
        default: Self(rawValue: name).map { ($0, $0) }
        }
    }
}

public final class CPUDevice: Device, @unchecked Sendable {
    public let name = "cpu"
    /// Detected at run time; kernels choose their path from it (see `CPUFeatures`).
    public let features: CPUFeatures
    /// Whether `upload` keeps block-quantised matrices as stored (false: dequantise everything to fp32,
    /// the pre-quantised-kernel path, kept for comparison in benchmarks).
    public let keepsQuantisedWeights: Bool
    /// What quantised matrices multiply: fp32 activations (exact to the fp32 reference up to summation
    /// order) or int8 activations per block of 32 (llama.cpp's scheme: much faster, small rounding).
    public let activations: ActivationPrecision
    /// What they multiply for generated tokens, when the engine runs those in their own pass
    /// (`runningGeneratedTokens`): `activations` unless set otherwise. fp32 prompts and int8 generated
    /// tokens keep a prompt's cache exact to the fp32 reference (the default model's answers depend on it)
    /// while decode streams int8 rows. int8 prompts are faster still (`moeserve bench`, SmolLM2's 512-token
    /// prefill): 1,682–1,898 against 666–764 tok/s with AVX-512 VNNI, 1,022–1,076 against 702–770 on AVX2.
    public let generatedActivations: ActivationPrecision
    /// The precision of the pass running now: `generatedActivations` inside `runningGeneratedTokens`.
    /// Only the thread that runs the model's passes sets and reads it (the matmuls read it before they
    /// hand work to the pool), so it needs no lock.
    private var passActivations: ActivationPrecision
    /// Format that fp32/fp16/bf16/fp8 matrices are converted to at upload: a block format or bf16 (nil:
    /// kept as fp32). GGUF matrices that are already block-quantised stay as stored.
    public let quantisation: DType?
    /// What this device's KV caches store (`KVElement`; `--kv-cache-dtype`).
    public let kvElement: KVElement
    let isa: Int32
    /// Which block formats are held as tiles (`QuantisedBlocks.tiled`), the only layout the int8 kernels read
    /// (CKernels/QuantTiles.c: ~2× the blocks per second of the int8 row kernel they replaced in decode, which
    /// was bound by arithmetic where they are bound by memory, ~2.5× in batches; the same bits on every ISA).
    /// - any int8 pass (`int8`, and `auto`: fp32 prompts, int8 generated tokens): tiles in place of the
    ///   rows, for every block format. Embedding rows are gathered back from the tiles, and the fp32 kernel
    ///   dequantises a prompt's weights from them with the rows' bits (ck_matmul_blocks_tiled), so `auto`
    ///   holds the checkpoint's bytes once (it held Q4 weights in both layouts, SmolLM2 162.9 MB for 96.6, and
    ///   Q8_0 weights in rows only, whose batches ran the slower row kernel);
    /// - fp32 only: rows.
    let tiledFormats: Set<DType>
    /// Where quantised weights live: huge-page chunks (see `WeightArena`).
    private let arena = WeightArena()
    /// The (cos, sin) of the last steps' positions: every layer of a step rotates q and k at the same positions.
    let ropeAngles = RoPEAngleCache()
    /// The last step's resolved visible slots (every layer of a step attends over the same sequences).
    let visibleSlotsCache = VisibleSlotsCache()
    private let uploadLock = NSLock()
    private var uploaded = 0

    /// Bytes of the weights uploaded so far, as held (blocks, tiles, or fp32) — the resident model size, and
    /// what a decode step reads when it reads every weight (each is held in one layout).
    public var uploadedWeightBytes: Int { uploadLock.withLock { uploaded } }

    public init(keepsQuantisedWeights: Bool = true, activations: ActivationPrecision = .float32,
                generatedActivations: ActivationPrecision? = nil, quantisation: DType? = nil, kvElement: KVElement = .f32) {
        precondition(quantisation.map(QuantisedBlocks.quantisationTargets.contains) ?? true, "CPUDevice: cannot quantise to \(quantisation!)")
        features = CPUFeatures.detect()
        self.keepsQuantisedWeights = keepsQuantisedWeights
        self.activations = activations
        self.generatedActivations = generatedActivations ?? activations
        passActivations = activations
        self.quantisation = quantisation
        self.kvElement = kvElement
        isa = QuantKernels.isa(for: features)
        switch (activations, self.generatedActivations) {
        case (.int8, _), (_, .int8): tiledFormats = QuantisedBlocks.formats
        default: tiledFormats = []
        }
        _ = MallocTuning.applied
    }

    public func upload(_ tensor: HostTensor) throws -> DeviceWeight {
        let weight = convert(tensor)
        uploadLock.withLock { uploaded += weight.residentBytes }
        return weight
    }

    private func convert(_ tensor: HostTensor) -> DeviceWeight {
        let weight = convertedLayout(tensor)
        guard let blocks = weight.blocks else { return weight }
        let tiles = tiledFormats.contains(blocks.dtype) && blocks.tileable
        return DeviceWeight(shape: weight.shape, blocks: tiles ? blocks.tiled(into: arena) : blocks.packed(into: arena))
    }

    private func convertedLayout(_ tensor: HostTensor) -> DeviceWeight {
        if keepsQuantisedWeights, QuantisedBlocks.formats.contains(tensor.dtype), tensor.blockScale == nil,
           tensor.shape.count >= 2, tensor.cols % tensor.dtype.blockSize == 0 {
            let blocks = QuantisedBlocks(dtype: tensor.dtype, rows: tensor.rows, cols: tensor.cols, source: tensor.bytes)
            return DeviceWeight(shape: tensor.shape, blocks: blocks)
        }
        if quantisation == .bf16, Self.quantises(tensor, to: .bf16) {
            let bf16 = tensor.dtype == .bf16 && tensor.blockScale == nil
                ? QuantisedBlocks(bf16: tensor.bytes, rows: tensor.rows, cols: tensor.cols)   // bit-exact
                : QuantisedBlocks(bf16Rounding: tensor.toFloat32(), rows: tensor.rows, cols: tensor.cols)
            return DeviceWeight(shape: tensor.shape, blocks: bf16)
        }
        let values = tensor.toFloat32()
        if let target = quantisation, Self.quantises(tensor, to: target) {
            return DeviceWeight(shape: tensor.shape, blocks: QuantisedBlocks(quantising: values, rows: tensor.rows, cols: tensor.cols, to: target, isa: isa))
        }
        return DeviceWeight(shape: tensor.shape, sourceType: tensor.dtype, values: values)
    }

    /// Matrices (2-D float weights; for the block formats, rows of whole 32-blocks) are quantised at load;
    /// vectors (norms, biases) and odd shapes stay fp32. bf16 takes every matrix.
    static func quantises(_ tensor: HostTensor, to target: DType) -> Bool {
        guard [.f32, .f16, .bf16, .f8e4m3].contains(tensor.dtype) && tensor.shape.count == 2 else { return false }
        return target == .bf16 || (tensor.rows >= 32 && tensor.cols % 32 == 0)
    }

    public var separatesGeneratedTokens: Bool { generatedActivations != activations }

    public func runningGeneratedTokens<T>(_ body: () -> T) -> T {
        let outer = passActivations
        passActivations = generatedActivations
        defer { passActivations = outer }
        return body()
    }

    /// Whether quantised matrices multiply int8 activations in the pass running now.
    var int8Activations: Bool { passActivations == .int8 }

    public func matmul(_ x: Matrix, _ w: DeviceWeight) -> Matrix {
        if let blocks = w.blocks {
            // bf16 weights always multiply fp32 activations (the products are exact; int8 would only lose).
            if blocks.dtype == .bf16 { return BF16Kernels.matmul(x, blocks, isa: BF16Kernels.isa(for: features)) }
            return int8Activations ? QuantKernels.matmulInt8(x, blocks, isa: isa) : QuantKernels.matmul(x, blocks, isa: isa)
        }
        return SIMDKernels.matmul(x, w)
    }

    public func rmsNorm(_ x: Matrix, weight: DeviceWeight, eps: Float) -> Matrix {
        precondition(weight.values.count == x.cols, "rmsNorm: weight has \(weight.values.count) values, x has \(x.cols) columns")
        let k = x.cols
        // Every element is assigned below, so the output starts uninitialised (not a copy of x).
        return Matrix(rows: x.rows, cols: k) { yp in
            x.data.withUnsafeBufferPointer { xp in
                weight.values.withUnsafeBufferPointer { wp in
                    Self.forEachRows(x.rows, cols: k) { rows in
                        for t in rows {
                            let row = xp.baseAddress! + t * k
                            let ss = SIMDKernels.dot(row, row, k)
                            let scale = 1 / (ss / Float(k) + eps).squareRoot()
                            // Through plain pointers: indexing yp[t·k + j] kept an overflow check per element,
                            // and with it a scalar loop (2% of a 16-sequence decode step).
                            let (out, w) = (yp + t * k, wp.baseAddress!)
                            for j in 0..<k { out[j] = row[j] * scale * w[j] }
                        }
                    }
                }
            }
        }
    }

    public func rope(_ x: inout Matrix, heads: Int, headDim: Int, positions: [Int], theta: Float, style: RoPEStyle) {
        let angles = RoPEAngles(positions: positions, pairs: headDim / 2) { position, pair in
            let a = ReferenceKernels.ropeAngle(position: position, pair: pair, headDim: headDim, theta: theta)
            return (Foundation.cos(a), Foundation.sin(a))
        }
        Self.rotate(&x, heads: heads, headDim: headDim, angles: angles, style: style)
    }

    public func siluMul(gate: Matrix, up: Matrix) -> Matrix {
        precondition(gate.data.count == up.data.count, "siluMul: shapes differ")
        guard !gate.data.isEmpty else { return gate }
        // Into a fresh buffer: writing into `var y = gate` copied the caller's still-referenced gate first.
        return Matrix(rows: gate.rows, cols: gate.cols) { yp in
            gate.data.withUnsafeBufferPointer { gp in
                up.data.withUnsafeBufferPointer { upp in
                    // Ranges start at multiples of 8, so each element takes the same (vector or tail) path as
                    // in one call over everything.
                    // An exp per element: worth both cores from 2 × 4,096 elements (16 sequences' 16 × 1,536).
                    let count = gp.count, grain = 4096
                    var job = (isa: isa, g: gp.baseAddress!, u: upp.baseAddress!, y: yp, count: count)
                    guard count >= 2 * grain else { return ck_silu_mul(isa, job.g, job.u, yp, count) }
                    Parallel.forEach((count + 7) / 8, minChunk: grain / 8, chunksPerWorker: 2, context: &job) { job, blocks in
                        let j = job.load(as: (isa: Int32, g: UnsafePointer<Float>, u: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int).self)
                        let r = (blocks.lowerBound * 8)..<min(j.count, blocks.upperBound * 8)
                        ck_silu_mul(j.isa, j.g + r.lowerBound, j.u + r.lowerBound, j.y + r.lowerBound, r.count)
                    }
                }
            }
        }
    }

    public func add(_ a: inout Matrix, _ b: Matrix) {
        precondition(a.data.count == b.data.count, "add: shapes differ")
        a.withUnsafeMutableElements { ab in
            b.data.withUnsafeBufferPointer { bb in
                let (ap, bp) = (ab.baseAddress!, bb.baseAddress!)
                Self.forEachRange(ab.count) { r in for i in r { ap[i] += bp[i] } }
            }
        }
    }

    public func embedding(_ ids: [Int], table: DeviceWeight) -> Matrix {
        let k = table.cols
        for id in ids { precondition(id >= 0 && id < table.rows, "embedding: token id \(id) outside vocabulary of \(table.rows)") }
        return Matrix(rows: ids.count, cols: k) { yp in   // every row is copied in
            for (t, id) in ids.enumerated() { table.copyRow(id, into: UnsafeMutableBufferPointer(start: yp + t * k, count: k)) }
        }
    }

    public func writeCache(_ cache: KVBlockStorage, layer: Int, slots: [Int], values: Matrix, offset: Int) {
        precondition(offset + values.cols <= cache.width && slots.count == values.rows, "writeCache: shape mismatch")
        guard !values.data.isEmpty else { return }
        let cols = values.cols, isa = self.isa
        values.data.withUnsafeBufferPointer { src in
            // One row conversion per token (an element loop through slot slices was 1% of a decode step).
            Self.forEachRows(slots.count, cols: cols) { rows in
                for t in rows {
                    cache.store(UnsafeBufferPointer(rebasing: src[(t * cols)..<((t + 1) * cols)]), layer: layer, slot: slots[t],
                                offset: offset, isa: isa)
                }
            }
        }
    }

    public func pagedAttention(
        q: Matrix, cache: KVBlockStorage, layer: Int, blockTable: [Int], positions: [Int], shape: AttentionShape
    ) -> Matrix {
        pagedAttention(q: q, cache: cache, layer: layer,
                       sequences: [PagedSequence(rows: 0..<q.rows, blockTable: blockTable, positions: positions)], shape: shape)
    }

    /// Every sequence's (token, head) rows in one parallel pass: a decode step of S sequences costs one
    /// fork/join per layer instead of S. Each row runs the same kernel call as alone, so results are
    /// identical whichever sequences share the step.
    public func pagedAttention(q: Matrix, cache: KVBlockStorage, layer: Int, sequences: [PagedSequence], shape: AttentionShape) -> Matrix {
        let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
        precondition(q.cols == h * d, "pagedAttention: q has \(q.cols) columns, expected \(h * d)")
        let rows = q.rows
        guard rows > 0 else { return Matrix(rows: 0, cols: h * d, data: []) }
        let group = h / g
        let runTokens = Self.attentionRunTokens(rowsPerToken: group)
        let (visible, runs) = visibleSlotsCache.resolve(sequences, cache: cache, rows: rows, runs: runTokens)
        let (slots, rowPosition, rowSlots) = (visible.slots, visible.positions, visible.rowSlots)
        let maxVisible = (rowPosition.max() ?? 0) + 1
        let entries = GQACacheView(cache: cache, layer: layer, kvHeads: g, headDim: d), kv = cache.element.code
        let isa = self.isa
        var out = Matrix(pooledZeros: rows, h * d)
        q.data.withUnsafeBufferPointer { qp in
            out.withUnsafeMutableElements { op in
                slots.withUnsafeBufferPointer { sp in
                    let qb = qp.baseAddress!, ob = op.baseAddress!, sb = sp.baseAddress!
                    // One work item per (run of consecutive tokens of a sequence, KV head): the run's
                    // query heads meet each block of keys and values together (CKernels/AttentionBlock.c),
                    // bit-identical to one row at a time.
                    // Runs in the order 0, N−1, 1, N−2, …: under the causal mask a contiguous chunk then pairs
                    // short runs with long ones.
                    if Self.splitsDecodeAttention(items: runs.count * g, workers: Parallel.workers, decoding: runs.allSatisfy { $0.count == 1 },
                                                  visible: maxVisible, headDim: d) {
                        Self.splitDecodeAttention(isa: isa, runs: runs, shape: shape, q: qb, entries: entries, slots: sb,
                                                  rowSlots: rowSlots, rowPosition: rowPosition, maxVisible: maxVisible, out: ob)
                        return
                    }
                    // Many chunks: at prompt sizes a chunk takes milliseconds, and the last one decides when
                    // the job ends. One item is a chunk too: a single decoding sequence has only G items, and over
                    // a long context each is worth sending to the other core.
                    runs.withUnsafeBufferPointer { runList in
                        rowSlots.withUnsafeBufferPointer { rowSlotList in
                            rowPosition.withUnsafeBufferPointer { positionList in
                                var job = AttentionRunsJob(isa: isa, kv: kv, shape: shape, scratchCount: ck_attend_block_scores(runTokens, group, maxVisible),
                                                           runs: runList, rowSlots: rowSlotList, rowPosition: positionList,
                                                           entries: entries, q: qb, slots: sb, out: ob)
                                Parallel.forEach(runs.count * g, minChunk: 1, chunksPerWorker: 16, context: &job) { job, range in
                                    job.assumingMemoryBound(to: AttentionRunsJob.self).pointee.attend(range)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// What `pagedAttention`'s work items read (Parallel.forEach's context: the closure captures nothing).
    /// Item (i, kvHead) is run i of the order 0, N−1, 1, N−2, … (under the causal mask a contiguous chunk
    /// then pairs short runs with long ones) with one KV head's group of query heads.
    struct AttentionRunsJob {
        let isa: Int32, kv: Int32
        let shape: AttentionShape
        let scratchCount: Int
        let runs: UnsafeBufferPointer<(start: Int, count: Int)>
        let rowSlots, rowPosition: UnsafeBufferPointer<Int>
        let entries: GQACacheView
        let q: UnsafePointer<Float>, slots: UnsafePointer<Int64>, out: UnsafeMutablePointer<Float>

        func attend(_ range: Range<Int>) {
            let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
            let group = h / g
            // From this worker's pool (the kernel writes each score before reading it): a heap array per
            // chunk was up to 32 allocations per layer at 16 sequences, and a temporary allocation of this
            // size is on the heap too.
            ArrayPools.current.withFloatScratch(count: scratchCount) { scratch in
                for item in range {
                    let (i, kvHead) = (item / g, item % g)
                    let run = runs[i % 2 == 0 ? i / 2 : runs.count - 1 - i / 2]
                    let first = run.start * h * d + kvHead * group * d
                    let (keys, values, stride) = (entries.keys(kvHead), entries.values(kvHead), entries.stride)
                    ck_attend_block(isa, kv, run.count, group, q + first, h * d, d, keys, stride, d, values, stride, d,
                                    slots + rowSlots[run.start], rowPosition[run.start] + 1, shape.scale,
                                    scratch, out + first, h * d, d)
                }
            }
        }
    }

    /// Where a GQA layer's cache keeps KV head h's keys (columns h·D..<(h+1)·D) and values (columns
    /// (G + h)·D…): slot s's at `keys(h)` / `values(h)` + s·`stride` elements. With one field per KV head
    /// (the GQA models' layout) a head's keys of consecutive slots are contiguous, where from whole entries
    /// each head took 256 of every 1,536 bytes (SmolLM2), a stream these machines read at a fraction of a
    /// sequential one's rate. `scripts/bench ab`, SmolLM2 `auto`, 16 sequences from a 1,024-token context:
    /// 245.3 → 366.6 tok/s (4/4; a harness had predicted 1.49×), with an fp16 cache 352.3 → 583.3 (3/3);
    /// at the default 8-token context 960.5 → 1,052.9 (4/4).
    struct GQACacheView {
        let cache: KVBlockStorage, layer: Int, kvHeads: Int, headDim: Int

        init(cache: KVBlockStorage, layer: Int, kvHeads: Int, headDim: Int) {
            precondition(cache.fieldWidth % headDim == 0 && 2 * kvHeads * headDim <= cache.width,
                         "attention: \(kvHeads) KV heads of \(headDim) do not fit the cache's fields of \(cache.fieldWidth)")
            (self.cache, self.layer, self.kvHeads, self.headDim) = (cache, layer, kvHeads, headDim)
        }

        var stride: Int { cache.fieldWidth }
        func keys(_ h: Int) -> UnsafeRawPointer { UnsafeRawPointer(cache.fieldBase(layer: layer, column: h * headDim)) }
        func values(_ h: Int) -> UnsafeRawPointer { UnsafeRawPointer(cache.fieldBase(layer: layer, column: (kvHeads + h) * headDim)) }
    }

    /// Consecutive tokens per attention work item at prompt sizes, for `rowsPerToken` query heads over the
    /// same keys: about 12 rows meet each key block (4 tokens of a GQA group of 3, 12 of a single head; at
    /// least 2 tokens, at most ck_attend_block's 256 rows), and a 512-token prompt still has 40+ runs per
    /// head to balance over the cores.
    static func attentionRunTokens(rowsPerToken: Int) -> Int {
        max(1, min(256 / max(1, rowsPerToken), max(2, 12 / max(1, rowsPerToken))))
    }

    /// Runs of up to `maxTokens` consecutive rows that belong to one sequence (the same slot list) at
    /// consecutive positions, in row order: the rows ck_attend_block can take together.
    static func tokenRuns(positions: [Int], rowSlots: [Int], maxTokens: Int) -> [(start: Int, count: Int)] {
        // Counted, then assigned into an array of the thread's pool (the step's memo holds it until the next).
        func forEachRun(_ body: (Int, Int) -> Void) {
            var r = 0
            while r < positions.count {
                var n = 1
                while n < maxTokens, r + n < positions.count, rowSlots[r + n] == rowSlots[r], positions[r + n] == positions[r] + n { n += 1 }
                body(r, n)
                r += n
            }
        }
        var count = 0
        forEachRun { _, _ in count += 1 }
        return ArrayPools.current.takeRuns(count: count) { out in
            var i = 0
            forEachRun { r, n in out[i] = (r, n); i += 1 }
        }
    }

    /// The slots of every visible position per sequence (each sequence's list in turn), each row's
    /// position, and where its sequence's list starts: resolved for all heads (GQA, latent and absorbed
    /// attention) and, through `visibleSlotsCache`, once per step for all layers.
    static func visibleSlots(_ sequences: [PagedSequence], cache: KVBlockStorage, rows: Int) -> VisibleSlots {
        precondition(sequences.reduce(0) { $0 + $1.rows.count } == rows, "attention: the sequences must cover the \(rows) query rows")
        for seq in sequences {
            precondition(seq.rows.lowerBound >= 0 && seq.rows.upperBound <= rows, "attention: sequence rows \(seq.rows) outside the \(rows) queries")
        }
        // From the thread's pools: the step's memo (`VisibleSlotsCache`) holds them until the next step's.
        let pools = ArrayPools.current
        let slots = pools.takeInt64s(count: sequences.reduce(0) { $0 + $1.lastPosition + 1 }) { out in
            var at = 0
            for seq in sequences {
                for p in 0..<(seq.lastPosition + 1) { out[at] = Int64(cache.slot(position: p, blockTable: seq.blockTable)); at += 1 }
            }
        }
        let positions = pools.takeInts(count: rows) { out in
            out.update(repeating: 0, count: rows)
            for seq in sequences { for (i, r) in seq.rows.enumerated() { out[r] = seq.position(i) } }
        }
        let rowSlots = pools.takeInts(count: rows) { out in
            out.update(repeating: 0, count: rows)
            var start = 0
            for seq in sequences {
                for r in seq.rows { out[r] = start }
                start += seq.lastPosition + 1
            }
        }
        return VisibleSlots(slots: slots, positions: positions, rowSlots: rowSlots)
    }
}

/// The element-wise ops at prompt and batch sizes: split over the pool once there is enough work to pay
/// for a fork/join (a decode step's rows stay on the calling thread). Each element is computed exactly as
/// in one pass, so results do not depend on the split.
extension CPUDevice {
    /// Elements below which an element-wise op runs on the calling thread (~10 µs of work).
    static let parallelElements = 16_384

    static func forEachRows(_ rows: Int, cols: Int, _ body: (Range<Int>) -> Void) {
        guard rows > 1, rows * cols >= 2 * parallelElements else { body(0..<rows); return }
        Parallel.forEach(rows, minChunk: max(1, parallelElements / max(1, cols)), chunksPerWorker: 2, body)
    }

    /// `forEachRows` with a `Parallel.forEach(context:)` body (captures nothing: no allocation per call).
    static func forEachRows<Context>(_ rows: Int, cols: Int, context: inout Context, _ body: @escaping (UnsafeRawPointer, Range<Int>) -> Void) {
        let small = rows <= 1 || rows * cols < 2 * parallelElements
        Parallel.forEach(rows, minChunk: small ? rows : max(1, parallelElements / max(1, cols)), chunksPerWorker: 2, context: &context, body)
    }

    /// `0..<count` in ranges that start at multiples of 8.
    /// `grain`: elements below which a chunk is not worth a hand-off (lower for costly elements).
    static func forEachRange(_ count: Int, grain: Int = parallelElements, _ body: (Range<Int>) -> Void) {
        guard count >= 2 * grain else { body(0..<count); return }
        let blocks = (count + 7) / 8
        Parallel.forEach(blocks, minChunk: grain / 8, chunksPerWorker: 2) { r in
            body((r.lowerBound * 8)..<min(count, r.upperBound * 8))
        }
    }
}
