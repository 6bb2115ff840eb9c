import Foundation

/// What the cache costs per token, for the start-up log.
extension KVCacheLayout {
    /// Bytes each token takes in the paged cache as allocated today (every layer, `width` fp32 floats).
    public var bytesPerToken: Int { layers * width * 4 }

    /// One line per distinct layer kind: how many layers, and the bytes per token a per-layer-type cache
    /// would hold for them (bounded parts with their window). Empty for uniform models.
    public var layerSummary: [String] {
        var counts: [(KVLayerSpec, Int)] = []
        for spec in layerSpecs {
            if let i = counts.firstIndex(where: { $0.0 == spec }) { counts[i].1 += 1 } else { counts.append((spec, 1)) }
        }
        return counts.map { spec, n in
            switch spec {
            case let .full(width):
                return "full ×\(n): \(4 * width) B/token"
            case let .slidingWindow(window, width):
                return "sliding window \(window) ×\(n): \(4 * width) B/token for the last \(window) tokens only"
            case let .compressed(window, windowWidth, rate, entryWidth, pendingWidth):
                return "compressed 1/\(rate) ×\(n): \(String(format: "%.1f", 4 * Double(entryWidth) / Double(rate))) B/token"
                    + " + \(4 * windowWidth) B/token for the last \(window) tokens + \(4 * pendingWidth) B/token for the last \(2 * rate)"
            }
        }
    }
}
