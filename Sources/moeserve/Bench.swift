import ArgumentParser
import Device
import Foundation
import Model

/// `moeserve bench`: CPU executor throughput on one checkpoint without the engine (hidden; run by
/// `scripts/bench cpu`). Measures each weight path side by side, alternating rounds so that load from
/// other processes hits both alike, and prints one JSON line per path.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "CPU executor throughput (decode, prefill, batched decode).",
                                                    shouldDisplay: false)

    @Option(help: "Path of the model checkpoint (.gguf or a Hugging Face folder).")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Weight paths to compare: fp32 (dequantised at upload), quantised (GGUF blocks as stored, fp32 activations), int8 (GGUF blocks, int8 activations), auto (GGUF blocks, fp32 prompts, int8 generated tokens: the serving default).")
    var weights: [String] = ["fp32", "quantised", "int8", "auto"]

    @Option(name: .customLong("quantization"),
            help: "Convert fp32/fp16/bf16/fp8 matrices at load (safetensors folders): none, q8_0, q4_0 or bf16; applies to every weight path but fp32.")
    var quantization = "none"

    @Option(help: "Decode steps per measurement.") var decodeSteps = 64
    @Option(help: "Prompt tokens for the prefill measurement.") var promptTokens = 512
    @Option(help: "Sequences for the batched-decode measurement.") var sequences = 16
    @Option(help: "Prompt tokens each decoding sequence starts from (the context its attention reads grows from there).")
    var decodeContext = 8
    @Option(help: "Measurement rounds (the best round is reported).") var rounds = 3
    @Option(help: "Where the CPU kernels' parallel jobs run: pool (the persistent worker pool, as served) or dispatch (Dispatch's concurrentPerform, reported as moeserve-PATH-dispatch).")
    var runner = "pool"
    @Option(name: .customLong("kv-cache-dtype"), help: "What the KV cache stores: auto (the serving default: f16 with AVX2 and F16C, else f32), f32, f16 or bf16 (an element other than auto's is reported as moeserve-PATH-kv-f32 and so on).")
    var kvCacheDtype = "auto"

    func run() throws {
        guard decodeContext >= 1, decodeSteps >= 1, promptTokens >= 1, sequences >= 1, rounds >= 1 else {
            throw ValidationError("--decode-context, --decode-steps, --prompt-tokens, --sequences and --rounds must be at least 1")
        }
        // Bounds that keep the KV cache arithmetic from overflowing and the run finite (the context is checked
        // against the model once it is loaded).
        guard sequences <= 1_024, rounds <= 1_000, decodeSteps <= 1 << 20, decodeContext <= 1 << 24, promptTokens <= 1 << 24 else {
            throw ValidationError("--sequences must be at most 1024, --rounds 1000, --decode-steps \(1 << 20), --decode-context and --prompt-tokens \(1 << 24)")
        }
        let target = QuantisedBlocks.quantisationTarget(named: quantization)
        guard quantization == "none" || target != nil else {
            throw ValidationError("--quantization must be \(QuantisedBlocks.quantisationSettingNames), got '\(quantization)'")
        }
        guard ["pool", "dispatch"].contains(runner) else { throw ValidationError("--runner must be pool or dispatch, got '\(runner)'") }
        CPUDevice.setWorkerPool(enabled: runner == "pool")
        let features = CPUFeatures.detect()
        guard let kvElement = KVElement.setting(kvCacheDtype, features: features) else {
            throw ValidationError("--kv-cache-dtype must be \(KVElement.settingNames), got '\(kvCacheDtype)'")
        }
        let suffix = (runner == "pool" ? "" : "-\(runner)") + (kvElement == KVElement.automatic(for: features) ? "" : "-kv-\(kvElement.rawValue)")
        var residentBytes: [String: Int] = [:]
        let models = try weights.map { path -> (String, any LanguageModel) in
            guard ["fp32", "quantised", "int8", "auto"].contains(path) else { throw ValidationError("unknown weight path '\(path)'") }
            // fp32 and quantised multiply fp32 activations; int8 and auto are the serving settings of those names.
            let activations = ActivationPrecision.setting(path) ?? (.float32, .float32)
            let device = CPUDevice(keepsQuantisedWeights: path != "fp32", activations: activations.prompt,
                                   generatedActivations: activations.generated, quantisation: path == "fp32" ? nil : target,
                                   kvElement: kvElement)
            let loaded = try ModelLoader.load(path: model, device: device).model
            guard promptTokens < loaded.contextLength, decodeContext + decodeSteps <= loaded.contextLength else {
                throw ValidationError("the model's context is \(loaded.contextLength) tokens: --prompt-tokens (\(promptTokens)) must be below it, "
                                      + "and --decode-context plus --decode-steps (\(decodeContext + decodeSteps)) at most it")
            }
            residentBytes[path] = device.uploadedWeightBytes
            return (path, loaded)
        }
        var best: [String: [String: Double]] = [:]
        for _ in 0..<rounds {
            for (path, m) in models {
                let r = BenchRound(model: m, decodeSteps: decodeSteps, promptTokens: promptTokens, sequences: sequences,
                                   decodeContext: decodeContext).run()
                best[path, default: [:]].merge(r) { max($0, $1) }
            }
        }
        for (path, m) in models.dropFirst() {
            print(String(format: #"{"max_abs_logit_difference": %.2e, "paths": "%@ vs %@"}"#, Self.logitDifference(models[0].1, m), models[0].0, path))
        }
        for (path, _) in models {
            let r = best[path]!
            print(String(format: #"{"engine": "moeserve-%@", "decode_tps": %.1f, "prefill_tps": %.1f, "batch_decode_tps": %.1f, "weights_mb": %.1f}"#,
                         path + suffix, r["decode"]!, r["prefill"]!, r["batch"]!, Double(residentBytes[path] ?? 0) / 1e6))
        }
    }
}

extension Bench {
    /// max |Δ| between two models' logits on the same 16-token prompt (every position).
    static func logitDifference(_ a: any LanguageModel, _ b: any LanguageModel) -> Float {
        let prompt = ([1, 504, 3575, 282, 4649, 314, 7042, 30] + Array(1000..<1008)).map { $0 % a.vocabularySize }
        let la = SequenceRunner(model: a, capacity: 16).run(prompt, logits: .all)
        let lb = SequenceRunner(model: b, capacity: 16).run(prompt, logits: .all)
        return zip(la.data, lb.data).map { abs($0 - $1) }.max() ?? 0
    }
}

/// One measurement of each figure on one model: tokens per second, wall clock. Token ids wrap at the
/// vocabulary size (the synthetic MoE's is small); llamacpp_bench.py and torch_bench.py use the same ids.
struct BenchRound {
    let model: any LanguageModel
    let decodeSteps: Int
    let promptTokens: Int
    let sequences: Int
    var decodeContext = 8

    func run() -> [String: Double] {
        ["decode": decode(batch: 1), "prefill": prefill(), "batch": decode(batch: sequences)]
    }

    /// Prompt tokens per second for one `promptTokens`-token prompt in one forward pass.
    func prefill() -> Double {
        let runner = SequenceRunner(model: model, capacity: promptTokens + 1)
        let prompt = (0..<promptTokens).map { (1000 + $0 % 5000) % model.vocabularySize }
        let start = Date()
        _ = runner.run(prompt)
        return Double(promptTokens) / Date().timeIntervalSince(start)
    }

    /// Generated tokens per second over all `batch` sequences, each decoding after a `decodeContext`-token
    /// prompt (8 by default, as llamacpp_bench.py and torch_bench.py use). The decode steps run as the
    /// engine runs generated tokens (`runningGeneratedTokens`: int8 activations on the `auto` path).
    func decode(batch: Int) -> Double {
        let context = decodeContext
        let blockSize = 16, perSequence = (context + decodeSteps + blockSize) / blockSize
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: batch * perSequence,
                                               blockSize: blockSize, width: model.cacheLayout.width,
                                               fieldWidth: model.cacheLayout.fieldWidth)
        let tables = (0..<batch).map { s in Array((s * perSequence)..<((s + 1) * perSequence)) }
        let vocab = model.vocabularySize
        let prompts = (0..<batch).map { s in (0..<context).map { (500 + 37 * s + $0) % vocab } }
        _ = model.forward(ForwardBatch((0..<batch).map {
            SequenceChunk(tokens: prompts[$0], startPosition: 0, blockTable: tables[$0], logits: .last)
        }), cache: cache)
        let start = Date()
        for step in 0..<decodeSteps {
            _ = model.device.runningGeneratedTokens {
                model.forward(ForwardBatch((0..<batch).map {
                    SequenceChunk(tokens: [(600 + step + $0) % vocab], startPosition: context + step, blockTable: tables[$0], logits: .last)
                }), cache: cache)
            }
        }
        return Double(batch * decodeSteps) / Date().timeIntervalSince(start)
    }
}
