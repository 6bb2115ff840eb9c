import Foundation

/// What a step's attention resolves from its sequences before any kernel runs: the slots of every visible
/// position (each sequence's list in turn), each row's position and where its sequence's list starts, and the
/// runs of consecutive rows `ck_attend_block` can take together.
struct VisibleSlots: Sendable {
    let slots: [Int64]
    let positions: [Int]
    let rowSlots: [Int]
    /// `CPUDevice.tokenRuns` for the last `maxTokens` asked (filled in by `VisibleSlotsCache`).
    fileprivate var runs: (maxTokens: Int, runs: [(start: Int, count: Int)])?

    init(slots: [Int64], positions: [Int], rowSlots: [Int]) {
        (self.slots, self.positions, self.rowSlots) = (slots, positions, rowSlots)
    }
}

/// The last step's `VisibleSlots`: every layer of a step attends over the same sequence list (the model builds
/// it once per step), so the layers after the first find it here instead of resolving it again (3–4
/// allocations and a pass over every visible position per layer).
///
/// The key is the identity of the sequence list's buffer, the cache's block size and the row count. The memo
/// holds the list, so its buffer is neither freed nor reused while it is the key, and an array buffer shared by
/// two references is never written in place: the same buffer means the same sequences.
final class VisibleSlotsCache: @unchecked Sendable {
    private let lock = NSLock()
    private var key: (sequences: [PagedSequence], blockSize: Int, rows: Int)?
    private var value: VisibleSlots?

    func resolve(_ sequences: [PagedSequence], cache: KVBlockStorage, rows: Int, runs maxTokens: Int? = nil)
        -> (visible: VisibleSlots, runs: [(start: Int, count: Int)]) {
        let base = sequences.withUnsafeBufferPointer { $0.baseAddress }
        let hit = lock.withLock { () -> VisibleSlots? in
            guard let key, key.blockSize == cache.blockSize, key.rows == rows,
                  key.sequences.withUnsafeBufferPointer({ $0.baseAddress }) == base else { return nil }
            return value
        }
        var visible = hit ?? CPUDevice.visibleSlots(sequences, cache: cache, rows: rows)
        var runs: [(start: Int, count: Int)] = []
        var changed = hit == nil
        if let maxTokens {
            if let cached = visible.runs, cached.maxTokens == maxTokens {
                runs = cached.runs
            } else {
                runs = CPUDevice.tokenRuns(positions: visible.positions, rowSlots: visible.rowSlots, maxTokens: maxTokens)
                visible.runs = (maxTokens, runs)
                changed = true
            }
        }
        // A hit that added nothing leaves the memo as it is (every layer after a step's first).
        if changed { lock.withLock { (key, value) = ((sequences, cache.blockSize, rows), visible) } }
        return (visible, runs)
    }
}
