/// The merge loop of Hugging Face's `Word::merge_all`, reproduced exactly: a min-heap of candidate
/// merges ordered by (rank, position); stale entries are recognised by the merged id their pair gives
/// now. (The stale check compares ids, not ranks, which matters for vocabularies where two pairs give
/// the same token, as in those converted from SentencePiece.)
enum BPEMerge {
    struct Symbol {
        var id: Int32
        /// Bytes covered; 0 marks a symbol merged into its left neighbour.
        var length: Int32
        var prev: Int32 = -1
        var next: Int32 = -1

        init(id: Int32, length: Int32) {
            self.id = id
            self.length = length
        }
    }

    /// Applies `merges` to `word` until none applies.
    static func mergeAll(_ word: [Symbol], _ merges: MergeTable) -> [Symbol] {
        var s = word
        let n = s.count
        for i in 0..<n {
            s[i].prev = Int32(i - 1)
            s[i].next = i + 1 < n ? Int32(i + 1) : -1
        }
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges[s[i].id, s[i + 1].id] { heap.push(rank: m >> 32, pos: i, newID: m) }
        }
        while let top = heap.pop() {
            let pos = top.pos
            guard s[pos].length > 0, s[pos].next >= 0 else { continue }
            let nextPos = Int(s[pos].next)
            let right = s[nextPos]
            guard let m = merges[s[pos].id, right.id], UInt32(truncatingIfNeeded: m) == top.newID else { continue }
            s[pos].id = Int32(bitPattern: top.newID)
            s[pos].length += right.length
            s[pos].next = right.next
            s[nextPos].length = 0
            if right.next >= 0 { s[Int(right.next)].prev = Int32(pos) }
            let prev = s[pos].prev
            if prev >= 0, let pm = merges[s[Int(prev)].id, s[pos].id] {
                heap.push(rank: pm >> 32, pos: Int(prev), newID: pm)
            }
            let next = s[pos].next
            if next >= 0, let nm = merges[s[pos].id, s[Int(next)].id] {
                heap.push(rank: nm >> 32, pos: pos, newID: nm)
            }
        }
        return s.filter { $0.length > 0 }
    }
}

/// Binary min-heap of (rank, position) keys with the merged id alongside.
struct MergeHeap {
    private var keys: [UInt64] = []  // rank << 32 | position
    private var ids: [UInt32] = []

    mutating func push(rank: UInt64, pos: Int, newID: UInt64) {
        keys.append(rank << 32 | UInt64(pos))
        ids.append(UInt32(truncatingIfNeeded: newID))
        var i = keys.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard keys[i] < keys[parent] else { break }
            keys.swapAt(i, parent); ids.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (pos: Int, newID: UInt32)? {
        guard let top = keys.first else { return nil }
        let result = (pos: Int(top & 0xFFFF_FFFF), newID: ids[0])
        let lastKey = keys.removeLast(), lastID = ids.removeLast()
        if !keys.isEmpty {
            keys[0] = lastKey; ids[0] = lastID
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < keys.count, keys[l] < keys[m] { m = l }
                if r < keys.count, keys[r] < keys[m] { m = r }
                if m == i { break }
                keys.swapAt(i, m); ids.swapAt(i, m)
                i = m
            }
        }
        return result
    }
}
