import Device
import Model

/// How the engine's KV memory is split among a model's cache groups.
///
/// Uniform models (no `KVCacheLayout.groups`): one group, every layer `width` floats per token, as many
/// blocks as fit. With groups (DeepSeek-V4): each windowed group gets what the running sequences can
/// hold at once — per sequence its window plus two blocks, plus the step's token budget (scaled down to
/// half the memory if that is more, but never below one full-budget sequence) — and the rest of the
/// memory goes to the other groups in proportion to their bytes per token, so they run out together.
struct KVCacheSizing {
    /// Per group: its description and block count.
    let groups: [(group: KVCacheGroup, blocks: Int)]
    let blockSize: Int
    /// What the cache stores (`Device.kvElement`): its bytes per number.
    let element: KVElement

    init(layout: KVCacheLayout, configuration c: EngineConfiguration, element: KVElement = .f32) {
        blockSize = c.blockSize
        self.element = element
        guard !layout.groups.isEmpty else {
            let blocks = max(1, KVBlockStorage.blocks(fitting: c.kvCacheBytes, layers: max(1, layout.layers), blockSize: c.blockSize,
                                                      width: layout.width, element: element))
            groups = [(KVCacheGroup(name: "all", layers: max(1, layout.layers), width: layout.width, fieldWidth: layout.fieldWidth), blocks)]
            return
        }
        let bs = c.blockSize
        func span(_ g: KVCacheGroup) -> Int { bs * g.tokensPerEntry }
        func blockBytes(_ g: KVCacheGroup) -> Int { bs * g.bytesPerEntry(element) }
        let (seqs, budget) = (c.scheduler.maxNumSeqs, c.scheduler.maxNumBatchedTokens)
        // Windowed groups: every running sequence's window plus two blocks, and the step's budget; but
        // never more than half the memory unless one full-budget sequence needs it.
        var windowed: [Int: Int] = [:]
        for (i, g) in layout.groups.enumerated() {
            guard let w = g.windowTokens else { continue }
            windowed[i] = seqs * ((w + span(g) - 1) / span(g) + 2) + (budget + span(g) - 1) / span(g)
        }
        let wanted = windowed.reduce(0) { $0 + $1.value * blockBytes(layout.groups[$1.key]) }
        if wanted > c.kvCacheBytes / 2 {
            let scale = Double(c.kvCacheBytes / 2) / Double(wanted)
            for (i, blocks) in windowed {
                let g = layout.groups[i]
                let single = (g.windowTokens! + budget + span(g) - 1) / span(g) + 2
                windowed[i] = max(single, Int(Double(blocks) * scale))
            }
        }
        let windowBytes = windowed.reduce(0) { $0 + $1.value * blockBytes(layout.groups[$1.key]) }
        let rest = max(0, c.kvCacheBytes - windowBytes)
        let perToken = layout.groups.enumerated().filter { windowed[$0.offset] == nil }
            .reduce(0.0) { $0 + Double($1.element.bytesPerEntry(element)) / Double($1.element.tokensPerEntry) }
        groups = layout.groups.enumerated().map { i, g in
            if let blocks = windowed[i] { return (g, blocks) }
            let share = Double(rest) * (Double(g.bytesPerEntry(element)) / Double(g.tokensPerEntry)) / perToken
            return (g, max(1, Int(share) / blockBytes(g)))
        }
    }

    var managerGroups: [KVCacheManager.Group] {
        groups.map { KVCacheManager.Group(blockCount: $0.blocks, tokensPerEntry: $0.group.tokensPerEntry, windowTokens: $0.group.windowTokens) }
    }

    /// Longest sequence the groups without a window can hold.
    var capacityTokens: Int {
        groups.filter { $0.group.windowTokens == nil }.map { $0.blocks * blockSize * $0.group.tokensPerEntry }.min() ?? Int.max
    }

    /// "name: bytes per token (window) — blocks × tokens".
    var descriptions: [String] {
        groups.map { g, blocks in
            let perToken = Double(g.bytesPerEntry(element)) / Double(g.tokensPerEntry)
            let reach = g.windowTokens.map { ", last \($0) tokens only" } ?? ""
            return "\(g.name): \(g.layers) layers, \(String(format: "%.1f", perToken)) B/token\(reach); \(blocks) blocks of \(blockSize * g.tokensPerEntry) tokens"
        }
    }

    /// Bytes of all groups' blocks.
    var bytes: Int { groups.reduce(0) { $0 + $1.blocks * blockSize * $1.group.bytesPerEntry(element) } }
}
