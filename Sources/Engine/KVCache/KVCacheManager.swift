/// Hands out cache blocks to requests: per-request block tables on top of the `BlockPool`, prefix
/// lookups for new requests, and registration of every block that fills up so later prompts can reuse it.
/// The scheduler sees block tables and counts, never pool internals.
public struct KVCacheManager: Sendable {
    public let blockSize: Int
    public let prefixCaching: Bool
    public private(set) var pool: BlockPool
    private var tables: [String: [Int]] = [:]
    /// Hashes of each request's full blocks, in order (a prefix of its table).
    private var hashes: [String: [BlockHash]] = [:]
    /// Prefix-cache counters, in tokens: asked for, and found.
    public private(set) var prefixQueryTokens = 0
    public private(set) var prefixHitTokens = 0

    public init(blockCount: Int, blockSize: Int, prefixCaching: Bool = true) {
        precondition(blockSize > 0)
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        pool = BlockPool(blockCount: blockCount)
    }

    public var freeBlockCount: Int { pool.freeBlockCount }
    public var usage: Double { pool.usage }

    public func blockTable(_ id: String) -> [Int] { tables[id] ?? [] }

    /// Blocks needed to hold `tokens` positions.
    public func blocksNeeded(_ tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// The longest run of cached full blocks that starts `tokens`. Never the whole sequence: the last
    /// token must still run to produce logits.
    public mutating func cachedPrefix(_ tokens: [Int], extraKeys: [String]) -> (blocks: [Int], hashes: [BlockHash]) {
        guard prefixCaching else { return ([], []) }
        let limit = (tokens.count - 1) / blockSize
        var blocks: [Int] = [], chain: [BlockHash] = []
        var parent: BlockHash? = nil
        for i in 0..<max(0, limit) {
            let h = BlockHash(parent: parent, tokens: tokens[(i * blockSize)..<((i + 1) * blockSize)], extraKeys: extraKeys)
            guard let b = pool.cachedBlock(h) else { break }
            blocks.append(b)
            chain.append(h)
            parent = h
        }
        prefixQueryTokens += tokens.count
        prefixHitTokens += blocks.count * blockSize
        return (blocks, chain)
    }

    /// Makes `id`'s table cover `totalTokens` positions, first adopting `prefix` (hits found by
    /// `cachedPrefix`) if the request has no blocks yet. False, with nothing changed, if blocks run out.
    public mutating func allocate(_ id: String, totalTokens: Int, prefix: (blocks: [Int], hashes: [BlockHash]) = ([], [])) -> Bool {
        let current = tables[id]?.count ?? prefix.blocks.count
        let missing = blocksNeeded(totalTokens) - current
        // Free cached blocks we are about to adopt must not be counted as allocatable.
        let adoptingFree = tables[id] == nil ? prefix.blocks.filter { pool.refCount($0) == 0 }.count : 0
        guard missing <= pool.freeBlockCount - adoptingFree else { return false }
        if tables[id] == nil {
            pool.touch(prefix.blocks)
            tables[id] = prefix.blocks
            hashes[id] = prefix.hashes
        }
        if missing > 0 { tables[id]! += pool.allocate(missing)! }
        return true
    }

    /// Registers the request's blocks that are now full of computed tokens in the prefix cache.
    public mutating func cacheFullBlocks(_ id: String, tokens: [Int], computed: Int, extraKeys: [String]) {
        guard prefixCaching, let table = tables[id] else { return }
        var chain = hashes[id] ?? []
        let full = min(computed / blockSize, table.count)
        while chain.count < full {
            let i = chain.count
            let h = BlockHash(parent: chain.last, tokens: tokens[(i * blockSize)..<((i + 1) * blockSize)], extraKeys: extraKeys)
            pool.cache(table[i], hash: h)
            chain.append(h)
        }
        hashes[id] = chain
    }

    /// Returns all of `id`'s blocks to the pool (tail first, so its prefix stays cached longest).
    public mutating func free(_ id: String) {
        if let table = tables.removeValue(forKey: id) { pool.free(table.reversed()) }
        hashes[id] = nil
    }

    public var requestCount: Int { tables.count }
}
