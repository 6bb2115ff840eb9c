import Device
import Foundation
import Model

/// The DeepSeek-V4 part of `moeserve simulate`'s report: attention cost and KV cache per layer type.
struct V4AttentionReport {
    let result: DeepSeekV4SimulationResult

    var text: String {
        let p = result.result.plan
        var lines = ["attention per layer type (\(p.phase.rawValue), context \(p.context); time per layer for the whole step):"]
        lines.append(row("type", "layers", "keys/q", "attn µs", "core µs", "compr µs", "index µs", "×layers µs", "KV KB/seq", "KV B/tok+"))
        for s in result.attention {
            lines.append(row(s.type.shortName, "\(s.layers)", f(s.keysPerQuery, 1), us(s.attentionTime), us(s.coreTime),
                             us(s.compressorTime), us(s.indexerTime), us(s.attentionTime * Double(s.layers)),
                             f(s.kvBytesPerSequence / 1e3, 1), f(s.kvBytesPerTokenGrowth, 1)))
        }
        lines.append(String(format: "KV cache (%@): %.1f KB per sequence at context %d = %.1f bytes per cached token; "
                            + "each further token adds %.1f bytes (sliding layers bounded by the %d-token window)",
                            p.kvType.rawValue, result.kvBytesPerSequence / 1e3, p.context, result.kvBytesPerToken,
                            result.kvBytesPerTokenGrowth, result.config.slidingWindow))
        return lines.joined(separator: "\n")
    }

    private func row(_ cols: String...) -> String {
        let widths = [9, 7, 8, 10, 10, 10, 10, 12, 11, 10]
        return zip(cols, widths).map { c, w in c.count >= w ? c + " " : c + String(repeating: " ", count: w - c.count) }.joined()
    }

    private func us(_ t: Double) -> String { f(t * 1e6, 1) }
    private func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
}

/// The DeepSeek-V3.2 part of the report: the sparse (DSA) attention per layer and the KV bytes per token.
struct V32AttentionReport {
    let result: DeepSeekV32SimulationResult

    var text: String {
        let r = result, p = r.result.plan
        return String(format: "attention per layer type (%@, context %d): DSA ×%d — %.1f keys per query (index_topk %d), "
                      + "attention %.1f µs per layer (MLA core %.1f, indexer %.1f), ×layers %.1f µs\n"
                      + "KV cache (%@): %.0f bytes per token (latent + rope + indexer key per layer)",
                      p.phase.rawValue, p.context, r.layers, r.keysPerQuery, r.indexer.index_topk, r.attentionTime * 1e6,
                      r.coreTime * 1e6, r.indexerTime * 1e6, r.attentionTime * 1e6 * Double(r.layers), p.kvType.rawValue, r.kvBytesPerToken)
    }
}
