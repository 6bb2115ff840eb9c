import ArgumentParser
import Device
import Foundation
import Model

/// `moeserve simulate`: timing-only run of a full-size DeepSeek config on simulated Ascend chips.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Estimate step time, TPOT/TTFT and tokens/s of a model on simulated Ascend chips (no weights).")

    @Option(name: .customLong("model-config"), help: "config.json path or built-in name: deepseek-v3, deepseek-r1, deepseek-v2-lite, deepseek-v3.2, deepseek-v4-flash, deepseek-v4-pro.")
    var modelConfig = "deepseek-v3"
    @Option(help: "Chip profile: 910b2, 910c, 950dt, h800, or a YAML/JSON profile file.")
    var profile = "910c"
    @Option var chips = 16
    @Option var ep = 16
    @Option var tp = 1
    @Option(help: "Sequences per chip.")
    var batch = 96
    @Option(help: "Decode: cached positions per sequence. Prefill: prompt length.")
    var context = 4096
    @Option var phase: String = "decode"
    @Option(help: "w8a8, fp8 or bf16.")
    var quant = "w8a8"
    @Flag(help: "Two micro-batches overlapping communication with compute.")
    var overlap = false
    @Flag(help: "Multi-token prediction (one draft token per step).")
    var mtp = false
    @Option(name: .customLong("mtp-acceptance"), help: "Assumed MTP draft acceptance rate.")
    var mtpAcceptance = 0.8
    @Option(name: .customLong("prefix-hit"), help: "Prefill: share of prompt tokens served from the prefix cache.")
    var prefixHit = 0.0
    @Option(name: .customLong("expert-imbalance"), help: "Busiest chip's routed tokens ÷ the mean (1 = perfectly balanced).")
    var expertImbalance = 1.0
    @Flag(name: .customLong("eager"), help: "Pay kernel launch cost per op (default: graph mode).")
    var eager = false
    @Option(help: "Write a Chrome/Perfetto trace JSON here.")
    var trace: String?

    func run() throws {
        guard let phase = SimulationPlan.Phase(rawValue: phase) else { throw ValidationError("--phase must be decode or prefill, got '\(self.phase)'") }
        guard let quant = SimulationPlan.Quantisation(rawValue: quant) else { throw ValidationError("--quant must be w8a8, fp8 or bf16, got '\(self.quant)'") }
        var plan = SimulationPlan(chips: chips, ep: ep, tp: tp, batch: batch, context: context, phase: phase)
        plan.quant = quant
        plan.overlap = overlap
        plan.mtp = mtp
        plan.mtpAcceptance = mtpAcceptance
        plan.prefixHitRate = prefixHit
        plan.graphMode = !eager
        guard expertImbalance >= 1 else { throw ValidationError("--expert-imbalance is the busiest chip ÷ the mean, so at least 1") }
        plan.expertImbalance = expertImbalance
        let chip = try AscendProfile.resolve(profile)
        let result: SimulationResult
        if let v4 = try DeepSeekV4SimConfig.resolve(modelConfig) {   // DeepSeek-V4: its own op builder
            let v4Result = try DeepSeekV4Simulator.run(config: v4, plan: plan, profile: chip)
            result = v4Result.result
            print(SimulationReport(result: result).text)
            print(V4AttentionReport(result: v4Result).text)
        } else if let (v3, indexer) = try DeepSeekV32Simulator.resolve(modelConfig) {   // V3.2: sparse attention
            let v32Result = try DeepSeekV32Simulator.run(config: v3, indexer: indexer, plan: plan, profile: chip)
            result = v32Result.result
            print(SimulationReport(result: result).text)
            print(V32AttentionReport(result: v32Result).text)
        } else {
            result = try Simulator.run(config: try DeepSeekConfig.load(modelConfig), plan: plan, profile: chip)
            print(SimulationReport(result: result).text)
        }
        if let trace {
            let data = try PerfettoTrace.json(slices: result.traceSlices(), process: "\(modelConfig) on \(result.profile.name)")
            do { try data.write(to: URL(fileURLWithPath: trace)) } catch {
                throw ValidationError("cannot write the trace to '\(trace)': \((error as NSError).localizedDescription)")
            }
            print("trace: \(trace)")
        }
    }
}
