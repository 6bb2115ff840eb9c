import Device
import Foundation

/// What the cache costs per token, for the start-up log.
extension KVCacheLayout {
    /// Bytes each token takes in the paged cache (every layer, `width` numbers of `element`).
    public func bytesPerToken(_ element: KVElement = .f32) -> Int { layers * width * element.bytes }

    /// One line per distinct layer kind: how many layers, and the bytes per token a per-layer-type cache
    /// would hold for them (bounded parts with their window), stored as `element`. Empty for uniform models.
    public func layerSummary(_ element: KVElement = .f32) -> [String] {
        let e = element.bytes
        var counts: [(KVLayerSpec, Int)] = []
        for spec in layerSpecs {
            if let i = counts.firstIndex(where: { $0.0 == spec }) { counts[i].1 += 1 } else { counts.append((spec, 1)) }
        }
        return counts.map { spec, n in
            switch spec {
            case let .full(width):
                return "full ×\(n): \(e * width) B/token"
            case let .slidingWindow(window, width):
                return "sliding window \(window) ×\(n): \(e * width) B/token for the last \(window) tokens only"
            case let .compressed(window, windowWidth, rate, entryWidth, pendingWidth):
                return "compressed 1/\(rate) ×\(n): \(String(format: "%.1f", Double(e * entryWidth) / Double(rate))) B/token"
                    + " + \(e * windowWidth) B/token for the last \(window) tokens + \(e * pendingWidth) B/token for the last \(2 * rate)"
            }
        }
    }
}
