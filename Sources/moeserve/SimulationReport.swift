import Device
import Foundation
import Model

/// The text `moeserve simulate` prints: per-op rows of each layer group, per-group totals, step totals.
struct SimulationReport {
    let result: SimulationResult

    var text: String {
        var lines = [header]
        lines.append(row("op", "time µs", "GFLOP", "MB", "bound", "util"))
        for g in result.groups {
            lines.append("\(g.name) ×\(g.count)  (per layer \(us(g.time)) µs, compute \(us(g.compute)), comm \(us(g.comm)), micro-batches \(g.microBatches))")
            for op in g.ops {
                lines.append(row("  " + op.name, us(op.total), f(op.flops / 1e9, 2), f(op.bytes / 1e6, 2),
                                 op.bound.rawValue, op.peak > 0 ? String(format: "%.0f%%", op.utilisation * 100) : "-"))
            }
        }
        lines.append(totals)
        return lines.joined(separator: "\n")
    }

    private var header: String {
        let p = result.plan
        return "\(result.profile.name) ×\(p.chips) chips, EP\(p.ep) TP\(p.tp), \(p.phase.rawValue), batch \(p.batch)/chip, "
            + "context \(p.context), \(p.quant.rawValue), overlap \(p.overlap ? "on" : "off"), "
            + "MTP \(p.mtp ? "on (acceptance \(p.mtpAcceptance))" : "off"), \(p.graphMode ? "graph mode" : "eager")"
    }

    private var totals: String {
        let r = result, m = r.memory
        var s = String(format: "step %.2f ms, %.1f TFLOP/chip, ", r.stepTime * 1e3, r.flops / 1e12)
        s += r.plan.phase == .decode ? String(format: "TPOT %.2f ms, ", r.tpot * 1e3) : String(format: "TTFT %.1f ms, ", r.ttft * 1e3)
        s += String(format: "%.0f tokens/s per chip\nHBM per chip: weights %.1f GB + KV %.1f GB + workspace %.1f GB = %.1f of %.0f GB",
                    r.tokensPerSecondPerChip, m.weights / 1e9, m.kvCache / 1e9, m.workspace / 1e9, m.total / 1e9,
                    r.profile.hbmCapacity.value / 1e9)
        return s
    }

    private func row(_ cols: String...) -> String {
        let widths = [24, 10, 10, 10, 8, 6]
        return zip(cols, widths).map { c, w in c.count >= w ? c + " " : c + String(repeating: " ", count: w - c.count) }.joined()
    }

    private func us(_ t: Double) -> String { f(t * 1e6, 1) }
    private func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
}
