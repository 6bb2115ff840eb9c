/// Hands out cache blocks to requests: per-request block tables on top of the `BlockPool`s, prefix
/// lookups for new requests, and registration of every block that fills up so later prompts can reuse it.
/// The scheduler sees block tables and counts, never pool internals.
///
/// A model with a per-layer-type cache has several groups, each with its own pool and one table per
/// request: a group with `tokensPerEntry` r holds one entry per r tokens (a block of `blockSize`
/// entries spans blockSize·r tokens), and a group with a window returns blocks that fell out of it to
/// the pool as the request advances (the table keeps −1 in their place).
public struct KVCacheManager: Sendable {
    /// How one group's entries map onto tokens.
    public struct Group: Sendable, Equatable {
        public var tokensPerEntry: Int
        public var windowTokens: Int?
        public var blockCount: Int

        public init(blockCount: Int, tokensPerEntry: Int = 1, windowTokens: Int? = nil) {
            precondition(blockCount > 0 && tokensPerEntry > 0)
            self.blockCount = blockCount
            self.tokensPerEntry = tokensPerEntry
            self.windowTokens = windowTokens
        }
    }

    /// A prefix-cache hit: how many tokens it covers and, per group, the blocks (−1 for blocks out of
    /// the group's window) and the hashes of its full blocks.
    public struct CachedPrefix: Sendable {
        public var tokens = 0
        public var blocks: [[Int]] = []
        public var hashes: [[BlockHash]] = []

        public init(tokens: Int = 0) { self.tokens = tokens }
    }

    public let blockSize: Int
    public let prefixCaching: Bool
    public let groups: [Group]
    public private(set) var pools: [BlockPool]
    /// Per request, per group.
    private var tables: [String: [[Int]]] = [:]
    /// Hashes of each request's full blocks, in order, per group.
    private var hashes: [String: [[BlockHash]]] = [:]
    /// Prefix-cache counters, in tokens: asked for, and found.
    public private(set) var prefixQueryTokens = 0
    public private(set) var prefixHitTokens = 0

    /// Counts one prefix lookup that was acted on (`cachedPrefix` does not count: a request waiting for blocks
    /// looks up its prefix again every step, and the metrics would count it each time).
    public mutating func recordPrefixQuery(tokens: Int, hit: Int) {
        prefixQueryTokens += tokens
        prefixHitTokens += hit
    }

    public init(blockCount: Int, blockSize: Int, prefixCaching: Bool = true) {
        self.init(groups: [Group(blockCount: blockCount)], blockSize: blockSize, prefixCaching: prefixCaching)
    }

    /// Whether generated tokens were computed with numerics of their own (`Device.separatesGeneratedTokens`):
    /// then a block that holds any position from the request's prompt length on is keyed apart (by where
    /// its generated positions start), so a later prompt that repeats those tokens computes them as prompt
    /// tokens instead of reusing them, and a result never depends on what the cache held.
    public let keysGeneratedTokensApart: Bool

    public init(groups: [Group], blockSize: Int, prefixCaching: Bool = true, keysGeneratedTokensApart: Bool = false) {
        precondition(blockSize > 0 && !groups.isEmpty)
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.keysGeneratedTokensApart = keysGeneratedTokensApart
        self.groups = groups
        pools = groups.map { BlockPool(blockCount: $0.blockCount) }
    }

    public var freeBlockCount: Int { pools.reduce(0) { $0 + $1.freeBlockCount } }
    /// Fraction of all groups' blocks referenced by requests.
    public var usage: Double {
        let total = pools.reduce(0) { $0 + $1.blockCount }
        return Double(total - freeBlockCount) / Double(total)
    }

    /// The request's table of group 0 (the only group of uniform models).
    public func blockTable(_ id: String) -> [Int] { tables[id]?[0] ?? [] }

    /// The request's table of every group.
    public func blockTables(_ id: String) -> [[Int]] { tables[id] ?? groups.map { _ in [] } }

    /// Tokens one block of group g spans.
    func span(_ g: Int) -> Int { blockSize * groups[g].tokensPerEntry }

    /// Blocks group g needs so that `tokens` positions are covered (entries exist for closed windows only).
    func blocksNeeded(_ tokens: Int, group g: Int) -> Int {
        let r = groups[g].tokensPerEntry
        let entries = r == 1 ? tokens : tokens / r
        return (entries + blockSize - 1) / blockSize
    }

    /// Blocks needed to hold `tokens` positions (group 0).
    public func blocksNeeded(_ tokens: Int) -> Int { blocksNeeded(tokens, group: 0) }

    /// Whether a request of `tokens` tokens could ever fit: every group without a window has the
    /// blocks for all of it (windowed groups hold a bounded suffix).
    public func fits(tokens: Int) -> Bool {
        groups.indices.allSatisfy { groups[$0].windowTokens != nil || blocksNeeded(tokens, group: $0) <= groups[$0].blockCount }
    }

    /// The longest cached prefix of `tokens` that every group can serve (a multiple of every group's
    /// block span; windowed groups need only the blocks still in their window). Never the whole
    /// sequence: the last token must still run to produce logits.
    public mutating func cachedPrefix(_ tokens: [Int], extraKeys: [String], promptLength: Int? = nil) -> CachedPrefix {
        guard prefixCaching else { return CachedPrefix() }
        let step = groups.indices.reduce(1) { lcm($0, span($1)) }
        let chains = groups.indices.map { g in
            chain(tokens, group: g, count: (tokens.count - 1) / span(g), extraKeys: extraKeys, promptLength: promptLength)
        }
        var length = (tokens.count - 1) / step * step
        while length > 0 {
            if let hit = prefix(length, chains: chains) {
                return hit
            }
            length -= step
        }
        return CachedPrefix()
    }

    /// Hashes of group g's first `count` blocks of `tokens`, and the cached block of each (or nil).
    private func chain(_ tokens: [Int], group g: Int, count: Int, extraKeys: [String], promptLength: Int?) -> [(BlockHash, Int?)] {
        var out: [(BlockHash, Int?)] = []
        var parent: BlockHash? = nil
        for i in 0..<max(0, count) {
            let h = blockHash(parent: parent, tokens, block: i, group: g, extraKeys: extraKeys, promptLength: promptLength)
            out.append((h, pools[g].cachedBlock(h)))
            parent = h
        }
        return out
    }

    /// The hit of `length` tokens if every group has the blocks it needs, else nil.
    private func prefix(_ length: Int, chains: [[(BlockHash, Int?)]]) -> CachedPrefix? {
        var hit = CachedPrefix(tokens: length)
        for g in groups.indices {
            let count = length / span(g)
            let first = groups[g].windowTokens.map { max(0, length - $0) / span(g) } ?? 0
            var blocks: [Int] = []
            for i in 0..<count {
                if i < first { blocks.append(-1); continue }
                guard let b = chains[g][i].1 else { return nil }
                blocks.append(b)
            }
            hit.blocks.append(blocks)
            hit.hashes.append(chains[g][0..<count].map(\.0))
        }
        return hit
    }

    /// Makes `id`'s tables cover `totalTokens` positions, first adopting `prefix` (a hit found by
    /// `cachedPrefix`) if the request has no blocks yet. False, with nothing changed, if blocks run out.
    public mutating func allocate(_ id: String, totalTokens: Int, prefix: CachedPrefix = CachedPrefix()) -> Bool {
        let adopting = tables[id] == nil && !prefix.blocks.isEmpty
        for g in groups.indices {
            let current = tables[id]?[g].count ?? (adopting ? prefix.blocks[g].count : 0)
            let missing = blocksNeeded(totalTokens, group: g) - current
            // Free cached blocks we are about to adopt must not be counted as allocatable.
            let adoptingFree = adopting ? prefix.blocks[g].filter { $0 >= 0 && pools[g].refCount($0) == 0 }.count : 0
            guard missing <= pools[g].freeBlockCount - adoptingFree else { return false }
        }
        if tables[id] == nil {
            tables[id] = groups.indices.map { g in adopting ? prefix.blocks[g] : [] }
            hashes[id] = groups.indices.map { g in adopting ? prefix.hashes[g] : [] }
            if adopting { for g in groups.indices { pools[g].touch(prefix.blocks[g].filter { $0 >= 0 }) } }
        }
        for g in groups.indices {
            let missing = blocksNeeded(totalTokens, group: g) - tables[id]![g].count
            if missing > 0 { tables[id]![g] += pools[g].allocate(missing)! }
        }
        return true
    }

    /// After a step computed `computed` tokens: registers the request's blocks that are now full in the
    /// prefix cache, and returns to the pool the blocks of windowed groups that fell out of the window.
    public mutating func cacheFullBlocks(_ id: String, tokens: [Int], computed: Int, extraKeys: [String], promptLength: Int? = nil) {
        guard var table = tables[id] else { return }
        for g in groups.indices {
            if prefixCaching {
                var chain = hashes[id]![g]
                let full = min(computed / span(g), table[g].count)
                while chain.count < full {
                    let i = chain.count
                    let h = blockHash(parent: chain.last, tokens, block: i, group: g, extraKeys: extraKeys, promptLength: promptLength)
                    if table[g][i] >= 0 { pools[g].cache(table[g][i], hash: h) }
                    chain.append(h)
                }
                hashes[id]![g] = chain
            }
            guard let window = groups[g].windowTokens else { continue }
            for i in table[g].indices where table[g][i] >= 0 && (i + 1) * span(g) <= computed - window {
                pools[g].free([table[g][i]])
                table[g][i] = -1
            }
        }
        tables[id] = table
    }

    /// The hash of block i of group g of `tokens`: with `keysGeneratedTokensApart` and the request's
    /// `promptLength`, a block reaching past the prompt also hashes the offset where its generated tokens begin.
    private func blockHash(parent: BlockHash?, _ tokens: [Int], block i: Int, group g: Int, extraKeys: [String],
                           promptLength: Int?) -> BlockHash {
        let range = (i * span(g))..<((i + 1) * span(g))
        var keys = extraKeys
        if keysGeneratedTokensApart, let p = promptLength, range.upperBound > p {
            keys.append("generated-from:\(max(0, p - range.lowerBound))")
        }
        return BlockHash(parent: parent, tokens: tokens[range], extraKeys: keys)
    }

    /// Returns all of `id`'s blocks to the pools (tail first, so its prefix stays cached longest).
    public mutating func free(_ id: String) {
        if let table = tables.removeValue(forKey: id) {
            for g in groups.indices { pools[g].free(table[g].reversed().filter { $0 >= 0 }) }
        }
        hashes[id] = nil
    }

    public var requestCount: Int { tables.count }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
private func lcm(_ a: Int, _ b: Int) -> Int { a / gcd(a, b) * b }
