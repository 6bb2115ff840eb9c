/// Fixed-size KV blocks with reference counts, a free queue in eviction order, and the map from
/// content hash to cached block (the prefix cache).
///
/// A block is *free* when no request references it. A free block may still hold cached content (its
/// hash stays in `cachedBlocks`) until it is reused; reuse evicts from the front of the free queue,
/// which holds the least recently freed blocks.
public struct BlockPool: Sendable {
    public let blockCount: Int
    private var refCounts: [Int]
    private var hashes: [BlockHash?]
    private var cachedBlocks: [BlockHash: Int] = [:]
    private var freeQueue: FreeBlockQueue

    public init(blockCount: Int) {
        precondition(blockCount > 0)
        self.blockCount = blockCount
        refCounts = Array(repeating: 0, count: blockCount)
        hashes = Array(repeating: nil, count: blockCount)
        freeQueue = FreeBlockQueue(count: blockCount)
    }

    public var freeBlockCount: Int { freeQueue.count }
    /// Fraction of blocks referenced by requests.
    public var usage: Double { Double(blockCount - freeQueue.count) / Double(blockCount) }

    public func refCount(_ block: Int) -> Int { refCounts[block] }

    /// Takes `n` blocks off the free queue (evicting their cached content), or nil if there are fewer.
    public mutating func allocate(_ n: Int) -> [Int]? {
        guard n <= freeQueue.count else { return nil }
        var out: [Int] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let b = freeQueue.popFirst()!
            if let h = hashes[b] {
                if cachedBlocks[h] == b { cachedBlocks[h] = nil }
                hashes[b] = nil
            }
            refCounts[b] = 1
            out.append(b)
        }
        return out
    }

    /// The cached block holding `hash`, if any.
    public func cachedBlock(_ hash: BlockHash) -> Int? { cachedBlocks[hash] }

    /// Adds a reference to each block (prefix-cache hits), taking free ones off the free queue.
    public mutating func touch(_ blocks: [Int]) {
        for b in blocks {
            if refCounts[b] == 0 { freeQueue.remove(b) }
            refCounts[b] += 1
        }
    }

    /// Drops one reference from each block; blocks nobody references join the free queue's tail in
    /// the order given (pass a sequence's blocks last-first so its tail is evicted before its prefix).
    public mutating func free(_ blocks: [Int]) {
        for b in blocks {
            precondition(refCounts[b] > 0, "block \(b) freed twice")
            refCounts[b] -= 1
            if refCounts[b] == 0 { freeQueue.append(b) }
        }
    }

    /// Records that `block` now holds the full content `hash` (first writer wins).
    public mutating func cache(_ block: Int, hash: BlockHash) {
        guard hashes[block] == nil else { return }
        hashes[block] = hash
        if cachedBlocks[hash] == nil { cachedBlocks[hash] = block }
    }

    /// Forgets all cached content (e.g. after a model reload).
    public mutating func resetPrefixCache() {
        cachedBlocks.removeAll()
        for i in hashes.indices { hashes[i] = nil }
    }
}

/// Doubly linked list over block ids: O(1) append, pop-first and removal from the middle.
struct FreeBlockQueue: Sendable {
    private var next: [Int]
    private var prev: [Int]
    private var head = -1
    private var tail = -1
    private var inQueue: [Bool]
    private(set) var count = 0

    init(count n: Int) {
        next = Array(repeating: -1, count: n)
        prev = Array(repeating: -1, count: n)
        inQueue = Array(repeating: false, count: n)
        for b in 0..<n { append(b) }
    }

    mutating func append(_ b: Int) {
        precondition(!inQueue[b])
        inQueue[b] = true
        prev[b] = tail
        next[b] = -1
        if tail >= 0 { next[tail] = b } else { head = b }
        tail = b
        count += 1
    }

    mutating func remove(_ b: Int) {
        precondition(inQueue[b])
        inQueue[b] = false
        if prev[b] >= 0 { next[prev[b]] = next[b] } else { head = next[b] }
        if next[b] >= 0 { prev[next[b]] = prev[b] } else { tail = prev[b] }
        count -= 1
    }

    mutating func popFirst() -> Int? {
        guard head >= 0 else { return nil }
        let b = head
        remove(b)
        return b
    }
}
