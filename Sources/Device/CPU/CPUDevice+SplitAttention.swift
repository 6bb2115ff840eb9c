import CKernels

// S KV heads × sequences items, P parts (one per worker), D head dim

/// One decoding token per sequence and too few of them to share their (sequence, KV head) items evenly:
/// a single sequence of SmolLM2 has 3 groups for 2 cores, so one core attends over two groups' keys while
/// the other waits, and from a long context on that wait is most of a decode step's attention. Then each
/// group is split in two phases, each balanced over the workers: scores by key range, then (after every
/// key of the group is scored) softmax and values by column range (`ck_attend_scores`,
/// `ck_attend_values`). Every score and output element is computed as `ck_attend_group` computes it, so
/// the split changes no bit; it costs one more fork/join per layer, which the context must pay for.
extension CPUDevice {
    /// Visible positions from which a decoding token's attention is split (`scripts/bench ab` at 1,024
    /// positions measured the gain; at a few dozen the extra fork/join costs more than the balance gives).
    static let splitAttentionVisible = 256

    static func splitsDecodeAttention(items: Int, workers: Int, decoding: Bool, visible: Int, headDim: Int) -> Bool {
        decoding && workers > 1 && items % workers != 0 && items < 4 * workers && visible >= splitAttentionVisible
            && headDim % 16 == 0
    }

    /// Value-phase items per run: the first `whole` KV heads one item each (all columns), each of the other
    /// `kvHeads % parts` one item per part (a column range). Splitting a head's columns had each part read
    /// half of every 256-byte value row, a stream these machines read far below a sequential one's rate:
    /// `scripts/bench ab`, SmolLM2 `auto`, one sequence from a 1,024-token context, 134.2 → 162.1 tok/s (5/5).
    static func valueItems(kvHeads: Int, parts: Int) -> (whole: Int, perRun: Int) {
        let whole = kvHeads - kvHeads % parts
        return (whole, whole + (kvHeads - whole) * parts)
    }

    /// The rows of `runs` (one token each) attending over their sequences' visible positions (at most
    /// `maxVisible`), in two parallel phases of (run, KV head, part) items; adds into `out` ([rows, H·D], zeroed).
    static func splitDecodeAttention(isa: Int32, runs: [(start: Int, count: Int)], shape: AttentionShape, q: UnsafePointer<Float>,
                                     entries: GQACacheView, slots: UnsafePointer<Int64>, rowSlots: [Int],
                                     rowPosition: [Int], maxVisible: Int, out: UnsafeMutablePointer<Float>) {
        let (h, g) = (shape.heads, shape.kvHeads)
        let parts = Parallel.workers, sstride = (maxVisible + 7) / 8 * 8
        let (wholeGroups, perRun) = Self.valueItems(kvHeads: g, parts: parts)
        // Raw scores of every (run, head) row: phase one writes each visible one before phase two reads it.
        ArrayPools.current.withFloatScratch(count: runs.count * h * sstride) { scores in
            runs.withUnsafeBufferPointer { runList in
                rowSlots.withUnsafeBufferPointer { rowSlotList in
                    rowPosition.withUnsafeBufferPointer { positionList in
                        var job = SplitAttentionJob(isa: isa, kv: entries.cache.element.code, shape: shape, parts: parts, sstride: sstride,
                                                    wholeGroups: wholeGroups, perRun: perRun, runs: runList, rowSlots: rowSlotList,
                                                    rowPosition: positionList, entries: entries, q: q, slots: slots, scores: scores, out: out)
                        Parallel.forEach(runs.count * g * parts, minChunk: 1, chunksPerWorker: 16, context: &job) { job, items in
                            job.assumingMemoryBound(to: SplitAttentionJob.self).pointee.scoreItems(items)
                        }
                        // Values: the groups that divide over the parts go whole (a part reads a head's value rows
                        // end to end), the rest by column ranges; whole groups first, so the pieces even out the parts.
                        Parallel.forEach(runs.count * perRun, minChunk: 1, chunksPerWorker: 16, context: &job) { job, items in
                            job.assumingMemoryBound(to: SplitAttentionJob.self).pointee.valueItems(items)
                        }
                    }
                }
            }
        }
    }
}

/// What the split decode's items read (Parallel.forEach's context: the closures capture nothing).
struct SplitAttentionJob {
    let isa, kv: Int32
    let shape: AttentionShape
    let parts, sstride, wholeGroups, perRun: Int
    let runs: UnsafeBufferPointer<(start: Int, count: Int)>
    let rowSlots, rowPosition: UnsafeBufferPointer<Int>
    let entries: CPUDevice.GQACacheView
    let q: UnsafePointer<Float>, slots: UnsafePointer<Int64>
    let scores, out: UnsafeMutablePointer<Float>

    /// Ranges that start at multiples of 8 (keys or columns), one per part; empty ones are skipped.
    func range(_ part: Int, of n: Int) -> Range<Int> {
        let step = ((n + parts - 1) / parts + 7) / 8 * 8
        return min(n, part * step)..<min(n, part * step + step)
    }

    func scoreItems(_ items: Range<Int>) {
        let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
        let group = h / g
        for item in items {
            let (i, kvHead, part) = (item / (g * parts), item / parts % g, item % parts)
            let run = runs[i], keys = range(part, of: rowPosition[run.start] + 1)
            guard !keys.isEmpty else { continue }
            ck_attend_scores(isa, kv, q + run.start * h * d + kvHead * group * d, d, group, entries.keys(kvHead), entries.stride, d,
                             slots + rowSlots[run.start], keys.lowerBound, keys.upperBound, shape.scale,
                             scores + (i * h + kvHead * group) * sstride, sstride)
        }
    }

    /// The softmax scratch comes from this worker's pool (a fresh array per chunk was an allocation).
    func valueItems(_ items: Range<Int>) {
        let (h, g, d) = (shape.heads, shape.kvHeads, shape.headDim)
        let group = h / g
        ArrayPools.current.withFloatScratch(count: min(group, 3) * sstride) { scratch in
            for item in items {
                let (i, k) = item.quotientAndRemainder(dividingBy: perRun)
                let (kvHead, columns) = k < wholeGroups ? (k, 0..<d)
                    : (wholeGroups + (k - wholeGroups) / parts, range((k - wholeGroups) % parts, of: d))
                let run = runs[i]
                guard !columns.isEmpty else { continue }
                ck_attend_values(isa, kv, group, scores + (i * h + kvHead * group) * sstride, sstride, rowPosition[run.start] + 1,
                                 entries.values(kvHead), entries.stride, slots + rowSlots[run.start], columns.lowerBound,
                                 columns.upperBound, scratch, out + run.start * h * d + kvHead * group * d, d)
            }
        }
    }
}
