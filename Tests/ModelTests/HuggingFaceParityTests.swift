import Device
import Foundation
import Testing
@testable import Model

/// Logits of every Hugging Face family equal transformers' on tiny random checkpoints
/// (fixtures from scripts/reference/make_model_fixtures.py).
@Suite struct HuggingFaceParityTests {
    static let families = ["deepseek_v3", "deepseek_v2", "qwen2_moe", "qwen3_moe", "mixtral", "olmoe", "llama", "qwen2", "qwen3",
                           "deepseek_v3_fp8"]
    static let tolerance: Float = 1e-4

    /// One fixture folder: the checkpoint and what transformers computed from it.
    struct Fixture {
        let directory: URL
        let prompt: [Int]
        let decodeIDs: [Int]
        let promptLogits: [Float]     // [P, V]
        let decodeLogits: [Float]     // [steps, V]

        init(_ family: String) throws {
            directory = TestPaths.fixtures.appendingPathComponent("models/\(family)")
            let info = try #require(try TestPaths.json("models/\(family)/reference.json") as? [String: Any])
            prompt = try #require(info["prompt_ids"] as? [Int])
            decodeIDs = try #require(info["decode_ids"] as? [Int])
            let ref = try SafetensorsFile(path: directory.appendingPathComponent("reference.safetensors").path)
            promptLogits = try ref.tensor("prompt_logits").toFloat32()
            decodeLogits = try ref.tensor("decode_logits").toFloat32()
        }

        func model(_ form: MLAForm = .automatic, multiTokenPrediction: Bool = false) throws -> DecoderModel {
            try HuggingFaceModel.load(directory: directory, device: CPUDevice(), mlaForm: form, multiTokenPrediction: multiTokenPrediction)
        }
    }

    static func maxDelta(_ a: [Float], _ b: some Collection<Float>) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: families)
    func prefillAndDecodeMatchTransformers(family: String) throws {
        let f = try Fixture(family)
        let model = try f.model()
        let v = model.vocabularySize
        let runner = SequenceRunner(model: model, capacity: f.prompt.count + f.decodeIDs.count)
        let prefill = runner.run(f.prompt, logits: .all)                    // [P, V]
        for p in f.prompt.indices {
            let d = Self.maxDelta(prefill.row(p), f.promptLogits[(p * v)..<((p + 1) * v)])
            #expect(d <= Self.tolerance, "\(family) prompt position \(p): max |Δlogit| = \(d)")
        }
        var worst = Self.maxDelta(prefill.data, f.promptLogits)
        for (step, id) in f.decodeIDs.enumerated() {
            let row = runner.run([id]).data                                   // [1, V]
            let d = Self.maxDelta(row, f.decodeLogits[(step * v)..<((step + 1) * v)])
            #expect(d <= Self.tolerance, "\(family) decode step \(step): max |Δlogit| = \(d)")
            worst = max(worst, d)
        }
        print("\(family): max |Δlogit| = \(worst) over \(f.prompt.count) prompt positions and \(f.decodeIDs.count) decode steps")
    }

    @Test(arguments: families)
    func chunkedPrefillAndBatchingMatchOneChunk(family: String) throws {
        let f = try Fixture(family)
        let model = try f.model()
        let whole = SequenceRunner(model: model, capacity: 32).run(f.prompt, logits: .all)
        let runner = SequenceRunner(model: model, capacity: 32)
        let split = Matrix(stacking: [runner.run(Array(f.prompt[0..<5]), logits: .all), runner.run(Array(f.prompt[5...]), logits: .all)],
                           cols: whole.cols)
        #expect(Self.maxDelta(split.data, whole.data) <= Self.tolerance, "\(family): 5 + 15 chunks differ from one")
        // Two sequences in one batch (scrambled blocks) give bit-identical rows to each run alone.
        let other = Array(f.prompt.reversed().prefix(7))
        let alone = SequenceRunner(model: model, capacity: 16).run(other, logits: .last)
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: 6, blockSize: 8, width: model.cacheLayout.width,
                                               fieldWidth: model.cacheLayout.fieldWidth)
        let both = model.forward(ForwardBatch([
            SequenceChunk(tokens: f.prompt, startPosition: 0, blockTable: [5, 1, 3], logits: .last),
            SequenceChunk(tokens: other, startPosition: 0, blockTable: [2], logits: .last),
        ]), cache: cache)
        #expect(both.row(0) == whole.row(f.prompt.count - 1), "\(family): batched row differs from the row alone")
        #expect(both.row(1) == alone.row(0), "\(family): batched row differs from the row alone")
    }

    /// A decode step of several sequences (MLA's absorption then runs as one grouped job over all of them)
    /// gives each sequence bit for bit the logits it gets decoding alone.
    @Test(arguments: ["deepseek_v3", "deepseek_v2"])
    func batchedDecodeStepEqualsEachSequenceAlone(family: String) throws {
        let f = try Fixture(family)
        let model = try f.model()
        let prompts = [Array(f.prompt.prefix(6)), Array(f.prompt.reversed().prefix(9)), Array(f.prompt.suffix(4))]
        let next = f.decodeIDs[0]
        let alone = prompts.map { prompt -> [Float] in
            let runner = SequenceRunner(model: model, capacity: 16)
            _ = runner.run(prompt)
            return runner.run([next]).data
        }
        let tables = [[4, 7], [0, 2], [5]]
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: 8, blockSize: 8, width: model.cacheLayout.width,
                                               fieldWidth: model.cacheLayout.fieldWidth)
        _ = model.forward(ForwardBatch(prompts.indices.map {
            SequenceChunk(tokens: prompts[$0], startPosition: 0, blockTable: tables[$0], logits: .last)
        }), cache: cache)
        let step = model.forward(ForwardBatch(prompts.indices.map {
            SequenceChunk(tokens: [next], startPosition: prompts[$0].count, blockTable: tables[$0], logits: .last)
        }), cache: cache)
        for i in prompts.indices { #expect(step.row(i) == alone[i], "\(family): sequence \(i) differs from decoding alone") }
    }

    @Test(arguments: ["deepseek_v3", "deepseek_v2"])
    func absorbedLatentAttentionEqualsNaive(family: String) throws {
        let f = try Fixture(family)
        let tokens = f.prompt + f.decodeIDs
        var outputs: [[Float]] = []
        for form in [MLAForm.naive, .absorbed] {
            let runner = SequenceRunner(model: try f.model(form), capacity: tokens.count)
            var rows = runner.run(f.prompt, logits: .all).data
            for id in f.decodeIDs { rows += runner.run([id]).data }
            outputs.append(rows)
        }
        let d = Self.maxDelta(outputs[0], outputs[1])
        #expect(d <= 1e-5, "\(family): absorbed and naive MLA differ by \(d)")
    }

    @Test func deepSeekCachesTheLatentAndLoadsItsMTPLayer() throws {
        #expect(try Fixture("deepseek_v3").model().multiTokenPredictor == nil, "only loaded on request")
        let model = try Fixture("deepseek_v3").model(multiTokenPrediction: true)
        #expect(model.cacheLayout == KVCacheLayout(layers: 3, width: 16 + 8))   // kv_lora_rank + qk_rope_head_dim
        let mtp = try #require(model.multiTokenPredictor)
        #expect(mtp.cacheLayer == 3)
        #expect(mtp.projection.shape == [64, 128])
        // The fixture's MTP layer has its own random embedding and head, so they are not taken for the main model's.
        #expect(!mtp.sharesEmbeddingAndHead)
        let fp8 = try Fixture("deepseek_v3_fp8").model(multiTokenPrediction: true)
        #expect(fp8.multiTokenPredictor?.projection.sourceType == .f8e4m3)
        #expect(try Fixture("deepseek_v2").model(multiTokenPrediction: true).multiTokenPredictor == nil)
    }
}
