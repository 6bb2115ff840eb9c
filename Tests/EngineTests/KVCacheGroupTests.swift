import Testing
@testable import Engine

/// The per-layer-type cache groups of `KVCacheManager`: windows release blocks, compressed groups grow
/// at their rate, allocation is all-or-nothing across groups, and prefix hits need every group.
@Suite struct KVCacheGroupTests {
    typealias Group = KVCacheManager.Group

    @Test func windowGroupsReleaseBlocksAndCompressedGroupsGrowAtTheirRate() {
        var kv = KVCacheManager(groups: [Group(blockCount: 10, windowTokens: 8), Group(blockCount: 10, tokensPerEntry: 4)], blockSize: 4)
        let first = kv.allocate("a", totalTokens: 20)
        #expect(first)
        #expect(kv.blockTables("a").map(\.count) == [5, 2])          // 20 tokens; 5 entries of 4 tokens
        kv.cacheFullBlocks("a", tokens: Array(0..<20), computed: 20, extraKeys: [])
        // Blocks wholly before token 20 − 8 = 12 are back in the pool.
        #expect(kv.blockTables("a")[0].prefix(3) == [-1, -1, -1])
        #expect(kv.blockTables("a")[0].dropFirst(3).allSatisfy { $0 >= 0 })
        #expect(kv.freeBlockCount == 8 + 8)
        let grown = kv.allocate("a", totalTokens: 32)
        #expect(grown)
        #expect(kv.blockTables("a").map(\.count) == [8, 2])
        kv.free("a")
        #expect(kv.freeBlockCount == 20 && kv.requestCount == 0)
    }

    @Test func allocationIsAllOrNothingAcrossGroups() {
        var kv = KVCacheManager(groups: [Group(blockCount: 10), Group(blockCount: 1, tokensPerEntry: 4)], blockSize: 4)
        let allocated = kv.allocate("a", totalTokens: 20)              // the second group needs 2 blocks
        #expect(!allocated)
        #expect(kv.freeBlockCount == 11 && kv.requestCount == 0)
        #expect(!kv.fits(tokens: 20) && kv.fits(tokens: 16))
    }

    @Test func prefixHitsNeedEveryGroupsBlocksInItsWindow() {
        let groups = [Group(blockCount: 12, windowTokens: 8), Group(blockCount: 12, tokensPerEntry: 2)]
        var kv = KVCacheManager(groups: groups, blockSize: 2)
        let tokens = Array(100..<113)                                  // 13 tokens; blocks span 2 and 4
        let first = kv.allocate("a", totalTokens: 13)
        #expect(first)
        kv.cacheFullBlocks("a", tokens: tokens, computed: 13, extraKeys: [])
        kv.free("a")
        let hit = kv.cachedPrefix(tokens, extraKeys: [])
        #expect(hit.tokens == 12)
        #expect(hit.blocks[0].prefix(2) == [-1, -1] && hit.blocks[0].count == 6 && hit.blocks[0].dropFirst(2).allSatisfy { $0 >= 0 })
        #expect(hit.blocks[1].count == 3)
        let adopted = kv.allocate("b", totalTokens: 13, prefix: hit)
        #expect(adopted)
        #expect(kv.blockTables("b")[0].prefix(6) == hit.blocks[0][...])
        kv.free("b")
        // Another request takes every window block: the cached window blocks are evicted, no hit is left.
        let other = kv.allocate("x", totalTokens: 24)
        #expect(other)
        kv.free("x")
        let miss = kv.cachedPrefix(tokens, extraKeys: [])
        #expect(miss.tokens == 0)
    }
}
