import CKernels

// R rows (sorted by group), K input width, N output width of a weight set, G groups

/// Grouped matmuls over block-quantised weights as ONE job on the worker pool: every (weight set,
/// group, row range) is a task, so the experts (or heads) of a step share one parallel region, both
/// cores stay busy however few tokens each group has, and each weight row is streamed once. The
/// activations are prepared once for all groups and sets (int8 quantisation, block sums) — per row, so
/// a token's result does not depend on the other rows. Weights held as fp32 take the per-group path.
extension CPUDevice {
    public func groupedMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        groupedMatmuls(x, [weights], groupSizes: groupSizes)[0]
    }

    public func groupedMatmuls(_ x: Matrix, _ sets: [[DeviceWeight]], groupSizes: [Int]) -> [Matrix] {
        for weights in sets {
            precondition(weights.count == groupSizes.count && groupSizes.reduce(0, +) == x.rows, "groupedMatmul: groups do not cover the rows")
        }
        return Self.fusedGroupedMatmuls(x, sets, groupSizes: groupSizes, isa: isa, int8: int8Activations)
            ?? ArrayPools.current.takeMatrices(count: sets.count) { out in
                for (s, weights) in sets.enumerated() { out[s] = perGroupMatmul(x, weights, groupSizes: groupSizes) }
            }
    }

    /// The weights that are block-quantised with x's width go as one job (one group of all rows each);
    /// the others through `matmul`. Each result equals `matmul(x, weights[i])` bit for bit.
    public func matmuls(_ x: Matrix, _ weights: [DeviceWeight]) -> [Matrix] {
        func fusable(_ w: DeviceWeight) -> Bool { w.blocks?.cols == x.cols && w.blocks?.dtype.blockSize == 32 }
        // Separate matmuls, in a list from the thread's pool (a map allocated one).
        func separately() -> [Matrix] {
            ArrayPools.current.takeMatrices(count: weights.count) { out in for (i, w) in weights.enumerated() { out[i] = matmul(x, w) } }
        }
        guard x.rows > 0 else { return separately() }
        // One group of all x's rows, in a temporary buffer (an array literal per call was an allocation).
        func oneGroup<R>(_ body: (UnsafeBufferPointer<Int>) -> R) -> R {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { g in
                g.initialize(repeating: x.rows)
                return body(UnsafeBufferPointer(g))
            }
        }
        if weights.count > 1, weights.allSatisfy(fusable),   // the usual case, without the bookkeeping below
           let fused = oneGroup({ Self.fusedGroupedMatmuls(x, sets: weights.count, groupSizes: $0, isa: isa, int8: int8Activations,
                                                            weight: { s, _ in weights[s] }) }) {
            return fused
        }
        // Some fusable (a GGUF router kept in fp32 beside quantised projections): those as one job, the rest
        // alone; the indices in the thread's scratch, the results in a pooled list.
        let count = weights.reduce(0) { $0 + (fusable($1) ? 1 : 0) }
        guard count > 1 else { return separately() }
        var result: [Matrix] = []
        ArrayPools.current.withIntScratch(count: count) { quantised in
            var n = 0
            for j in weights.indices where fusable(weights[j]) { quantised[n] = j; n += 1 }
            guard let fused = oneGroup({ Self.fusedGroupedMatmuls(x, sets: count, groupSizes: $0, isa: isa, int8: int8Activations,
                                                                   weight: { s, _ in weights[quantised[s]] }) })
            else { result = separately(); return }
            result = ArrayPools.current.takeMatrices(count: weights.count) { out in
                for i in 0..<count { out[quantised[i]] = fused[i] }
                for j in weights.indices where !fusable(weights[j]) { out[j] = matmul(x, weights[j]) }
            }
        }
        return result
    }

    /// `fusedGroupedMatmuls` over weight sets given as arrays (set s, group g: `sets[s][g]`).
    static func fusedGroupedMatmuls(_ x: Matrix, _ sets: [[DeviceWeight]], groupSizes: [Int], isa: Int32, int8: Bool) -> [Matrix]? {
        groupSizes.withUnsafeBufferPointer {
            fusedGroupedMatmuls(x, sets: sets.count, groupSizes: $0, isa: isa, int8: int8, weight: { sets[$0][$1] })
        }
    }

    /// The one-job form, when every used weight is block-quantised with K columns and each set's groups
    /// share one width; nil otherwise. Group g's rows equal `QuantKernels.matmul(Int8)` of those rows alone.
    /// `weight(s, g)` is set s's weight for group g. The job's bookkeeping (resolved weights, widths, tasks,
    /// output pointers) lives in temporary buffers, on the stack where they fit: a decode step makes ~60 of
    /// these calls.
    static func fusedGroupedMatmuls(_ x: Matrix, sets: Int, groupSizes: UnsafeBufferPointer<Int>, isa: Int32, int8: Bool,
                                    weight: (_ set: Int, _ group: Int) -> DeviceWeight) -> [Matrix]? {
        // The groups must cover x's rows: the outputs below are not zeroed first.
        guard sets > 0, let first = groupSizes.firstIndex(where: { $0 > 0 }), groupSizes.reduce(0, +) == x.rows else { return nil }
        let groups = groupSizes.count
        // Each used (set, group) weight checked and resolved once, before the job: a task only reads these
        // (a decode step's MoE layer has ~100 tasks over 64–256 experts). The pointers stay valid: the caller
        // holds the weights until this returns. Unused (set, group) entries stay uninitialised and are never read.
        // In the thread's byte scratch: for 256 experts the list is 16 KB, which a temporary allocation puts on
        // the heap.
        typealias Weight = BlockActivations.Pointers.Weight
        var result: [Matrix]?
        ArrayPools.current.withByteScratch(count: sets * groups * MemoryLayout<Weight>.stride) { raw in
            precondition(Int(bitPattern: raw) % MemoryLayout<Weight>.alignment == 0, "fusedGroupedMatmuls: misaligned scratch")
            raw.withMemoryRebound(to: Weight.self, capacity: sets * groups) { start in
                let resolved = UnsafeMutableBufferPointer(start: start, count: sets * groups)
                result = withUnsafeTemporaryAllocation(of: Int.self, capacity: sets) { widths -> [Matrix]? in
                    var corrections = false   // only the used weights count (not every expert of the layer)
                    for s in 0..<sets {
                        widths[s] = weight(s, first).blocks?.rows ?? 0
                        for g in first..<groups where groupSizes[g] > 0 {
                            // int8 activations multiply tiles: a weight without them (made outside a device) takes the per-group path.
                            guard let b = weight(s, g).blocks, b.cols == x.cols, b.dtype.blockSize == 32, b.rows == widths[s],
                                  !int8 || b.tiles != nil else { return nil }
                            (resolved.baseAddress! + s * groups + g).initialize(to: BlockActivations.Pointers.Weight(b))
                            corrections = corrections || (int8 && BlockActivations.needsCorrections(b, isa: isa))
                        }
                    }
                    var rowBytes = 0
                    for s in 0..<sets { rowBytes = max(rowBytes, resolved[s * groups + first].rowBytes) }
                    let a = BlockActivations(x, int8: int8, isa: isa, corrections: corrections)
                    return runJob(rows: x.rows, activations: a, isa: isa, widths: UnsafeBufferPointer(widths), groupSizes: groupSizes,
                                  resolved: UnsafeBufferPointer(resolved), rowBytes: rowBytes)
                }
            }
        }
        return result
    }

    /// The grouped job itself: every (set, group, row range) task over the resolved weights, each set's output
    /// written in place by its tasks, which together assign every (token, row) of it (no zeroed staging buffer
    /// to copy out of: at prompt sizes, megabytes per layer).
    private static func runJob(rows: Int, activations a: BlockActivations, isa: Int32, widths: UnsafeBufferPointer<Int>,
                               groupSizes: UnsafeBufferPointer<Int>, resolved: UnsafeBufferPointer<BlockActivations.Pointers.Weight>,
                               rowBytes: Int) -> [Matrix] {
        GroupedTask.withTasks(sets: widths, groupSizes: groupSizes, rowBytes: rowBytes, workers: Parallel.workers) { tasks in
            Matrix.assigningEvery(count: widths.count, rows: rows, cols: { widths[$0] }) { outputs in
                a.withPointers { p in
                    var job = GroupedJob(p: p, isa: isa, tasks: tasks, widths: widths, groups: groupSizes.count,
                                         groupSizes: groupSizes, resolved: resolved, outputs: outputs)
                    Parallel.forEach(tasks.count, minChunk: 1, chunksPerWorker: 32, context: &job) { job, range in   // one task per pool item
                        let j = job.load(as: GroupedJob.self)
                        for task in j.tasks[range] {
                            let n = j.widths[task.set]
                            j.p.run(isa: j.isa, weight: j.resolved[task.set * j.groups + task.group], rows: task.rows, start: task.start,
                                    count: j.groupSizes[task.group], y: j.outputs[task.set] + task.start * n, n: n)
                        }
                    }
                }
            }
        }
    }

    /// One matmul (quantised or SIMD fp32, as `matmul` picks) per non-empty group.
    private func perGroupMatmul(_ x: Matrix, _ weights: [DeviceWeight], groupSizes: [Int]) -> Matrix {
        let n = weights.first?.rows ?? 0
        var y = Matrix(pooledZeros: x.rows, n)
        var start = 0
        for (g, size) in groupSizes.enumerated() where size > 0 {
            let part = matmul(x.rows(start..<(start + size)), weights[g])   // [size, N]
            y.withUnsafeMutableElements { yp in
                part.data.withUnsafeBufferPointer { (yp.baseAddress! + start * n).update(from: $0.baseAddress!, count: size * n) }
            }
            start += size
        }
        return y
    }
}

/// What the tasks of one grouped job read (Parallel.forEach's context: the closure captures nothing).
private struct GroupedJob {
    let p: BlockActivations.Pointers
    let isa: Int32
    let tasks: UnsafeBufferPointer<GroupedTask>
    let widths: UnsafeBufferPointer<Int>
    let groups: Int
    let groupSizes: UnsafeBufferPointer<Int>
    let resolved: UnsafeBufferPointer<BlockActivations.Pointers.Weight>
    let outputs: UnsafeBufferPointer<UnsafeMutablePointer<Float>>
}

/// One task of a grouped job: weight rows `rows` of set `set`'s group `group`, for the group's x rows from `start`.
struct GroupedTask {
    let set, group, start: Int
    let rows: Range<Int>

    /// Tasks of about equal work (rows × tokens), ~32 per worker (taken one at a time, so the cores finish
    /// together), each at least 16 weight rows and ~64 KB (a multiple of 16 rows where the weight allows), in (set, group, row)
    /// order so neighbouring tasks stream neighbouring memory.
    /// The last `workers` tasks are cut in pieces of ~16 KB of weights (a multiple of 16 rows): the cores
    /// take tasks in order, so the one that finishes first then waits for at most a small piece instead of
    /// half a task on average. (Pieces much smaller cost more in hand-offs: 16-row pieces of SmolLM2's
    /// 360-byte rows slowed its decode.) The tasks are counted first, so the array is allocated once.
    static func split(sets widths: [Int], groupSizes: [Int], rowBytes: Int, workers: Int) -> [GroupedTask] {
        widths.withUnsafeBufferPointer { w in
            groupSizes.withUnsafeBufferPointer { g in withTasks(sets: w, groupSizes: g, rowBytes: rowBytes, workers: workers) { Array($0) } }
        }
    }

    /// `split`'s tasks in a scratch buffer of the thread's byte pool, handed to `body`. (A temporary allocation
    /// of this size was on the heap: SmolLM2's ~10 KB of tasks exceed what Swift puts on the stack.)
    static func withTasks<R>(sets widths: UnsafeBufferPointer<Int>, groupSizes: UnsafeBufferPointer<Int>, rowBytes: Int, workers: Int,
                             _ body: (UnsafeBufferPointer<GroupedTask>) -> R) -> R {
        let total = widths.reduce(0, +) * groupSizes.reduce(0, +)
        let target = max(1, total / max(1, 32 * workers))
        // A task streams at least ~64 KB of weights: smaller ones cost more in hand-offs than they balance.
        let minRows = max(16, (65_536 / max(1, rowBytes) + 15) / 16 * 16)
        let piece = max(16, (16_384 / max(1, rowBytes) + 15) / 16 * 16)
        func step(_ n: Int, _ size: Int) -> Int { min(n, max(minRows, (target / size + 15) / 16 * 16)) }
        var count = 0
        for n in widths where n > 0 {
            for size in groupSizes where size > 0 { count += (n + step(n, size) - 1) / step(n, size) }
        }
        let tailFrom = workers > 1 && count > workers ? count - workers : count
        let capacity = tailFrom + (count - tailFrom) * ((widths.max() ?? 0) / piece + 1)
        var result: R?
        ArrayPools.current.withByteScratch(count: max(1, capacity) * MemoryLayout<GroupedTask>.stride) { raw in
            // Pool arrays' elements start 16-byte aligned (after the array header): a task needs 8.
            precondition(Int(bitPattern: raw) % MemoryLayout<GroupedTask>.alignment == 0, "GroupedTask: misaligned scratch")
            raw.withMemoryRebound(to: GroupedTask.self, capacity: max(1, capacity)) { tasks in
                var made = 0, index = 0
                for (s, n) in widths.enumerated() {
                    var start = 0
                    for (g, size) in groupSizes.enumerated() {
                        defer { start += size }
                        guard size > 0 else { continue }
                        for lo in stride(from: 0, to: n, by: step(n, size)) {
                            let hi = min(n, lo + step(n, size)), cut = index >= tailFrom ? piece : hi - lo   // a tail task in pieces
                            for p in stride(from: lo, to: hi, by: cut) {
                                precondition(made < max(1, capacity), "GroupedTask: more tasks than counted")
                                (tasks + made).initialize(to: GroupedTask(set: s, group: g, start: start, rows: p..<min(hi, p + cut)))
                                made += 1
                            }
                            index += 1
                        }
                    }
                }
                defer { tasks.deinitialize(count: made) }
                result = body(UnsafeBufferPointer(start: tasks, count: made))
            }
        }
        return result!
    }
}
