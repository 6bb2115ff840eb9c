import Device
import Foundation
import Testing
@testable import Model

/// `--quantization q8_0|q4_0`: Hugging Face matrices quantised at load run on the block kernels, hold
/// a fraction of the memory, and stay close to transformers' logits.
@Suite struct LoadQuantisationTests {
    typealias F = HuggingFaceParityTests.Fixture

    static func next(_ seed: inout UInt64) -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: seed >> 11) % 20000) / 10000 - 1
    }

    @Test(arguments: QuantisedBlocks.quantisationTargets)
    func blocksRoundTripWithinHalfAStep(dtype: DType) {
        var seed: UInt64 = 21
        let values = (0..<(4 * 96)).map { i in Self.next(&seed) * (i % 64 == 0 ? 40 : 1) }  // some outliers
        let blocks = QuantisedBlocks(quantising: values, rows: 4, cols: 96, to: dtype)
        let back = blocks.dequantised()
        for b in 0..<12 {
            let x = values[(32 * b)..<(32 * b + 32)]
            let amax = x.map(abs).max()!
            // Q8_0 rounds to the nearest of ±127 steps. Q4_0 (ggml's scheme) has 16 levels −8…7 with the
            // extreme value at −8: values near the opposite extreme clamp to 7, up to one full step away.
            let bound = dtype == .q8_0 ? 0.5 * amax / 127 : amax / 8
            for (v, r) in zip(x, back[(32 * b)..<(32 * b + 32)]) {
                if dtype == .bf16 {  // 8 significant bits, rounded to nearest: within half an ulp, 2⁻⁸ relative
                    #expect(abs(v - r) <= abs(v) / 256, "bf16 block \(b): \(v) → \(r)")
                } else {
                    #expect(abs(v - r) <= bound * 1.01 + amax * 1e-3, "\(dtype) block \(b): \(v) → \(r)")
                }
            }
            if dtype == .q4_0 {  // the value of largest magnitude is kept (up to the fp16 scale)
                let m = x.max { abs($0) < abs($1) }!, i = x.firstIndex(of: m)! - x.startIndex + 32 * b
                #expect(abs(back[i] - m) <= abs(m) * 1e-3)
            }
        }
    }

    /// Bounds relative to the logit range: the tiny checkpoints have random weights, a worst case for
    /// quantisation (Q8_0 measured ≈1%, Q4_0 ≈20% of the range).
    @Test(arguments: [(DType.q8_0, Float(0.02)), (DType.q4_0, Float(0.25)), (DType.bf16, Float(0.005))])
    func quantisedCheckpointStaysCloseToTransformers(dtype: DType, relativeBound: Float) throws {
        for family in ["deepseek_v3", "qwen3_moe", "llama"] {
            let f = try F(family)
            let device = CPUDevice(quantisation: dtype)
            let model = try HuggingFaceModel.load(directory: f.directory, device: device, mlaForm: .automatic)
            let exact = CPUDevice(), q8 = CPUDevice(quantisation: .q8_0)
            _ = try HuggingFaceModel.load(directory: f.directory, device: exact, mlaForm: .automatic)
            _ = try HuggingFaceModel.load(directory: f.directory, device: q8, mlaForm: .automatic)
            // The tiny checkpoints have many matrices narrower than a block, which stay fp32.
            #expect(device.uploadedWeightBytes < exact.uploadedWeightBytes, "\(family): \(device.uploadedWeightBytes) vs \(exact.uploadedWeightBytes)")
            if dtype == .q4_0 { #expect(device.uploadedWeightBytes < q8.uploadedWeightBytes) }
            // bf16 takes every matrix, so only the vectors (norms, biases) stay fp32: just over half.
            if dtype == .bf16 { #expect(device.uploadedWeightBytes < exact.uploadedWeightBytes * 52 / 100) }
            let logits = SequenceRunner(model: model, capacity: f.prompt.count).run(f.prompt, logits: .all)
            let range = (f.promptLogits.max()! - f.promptLogits.min()!)
            let delta = HuggingFaceParityTests.maxDelta(logits.data, f.promptLogits)
            print("\(family) \(dtype): max |Δlogit| = \(delta), logit range \(range)")
            #expect(delta <= relativeBound * range, "\(family) \(dtype): max |Δlogit| \(delta) vs range \(range)")
        }
    }

    /// With bf16 weights (fp32 activations and sums) every fixture generates transformers' 8 greedy decode
    /// tokens (fed back one at a time), and its prompt logits stay within 0.75% of the logit range (measured
    /// ≤ 0.42% from fp32 weights, deepseek_v3 0.028 of 6.7; 0.63% for deepseek_v3_fp8, whose fp8 · block
    /// scale products carry more bits than bf16 keeps). At a prompt position the argmax may differ only where
    /// transformers' top two are closer than twice that row's |Δlogit| (a tie bf16 rounding can flip:
    /// the random checkpoints have margins down to 0.001).
    @Test(arguments: HuggingFaceParityTests.families)
    func bf16CheckpointGreedyTokensMatchTransformers(family: String) throws {
        let f = try F(family)
        let model = try HuggingFaceModel.load(directory: f.directory, device: CPUDevice(quantisation: .bf16), mlaForm: .automatic)
        let v = model.vocabularySize
        func argmax(_ row: [Float]) -> Int { row.indices.max { row[$0] < row[$1] }! }
        let runner = SequenceRunner(model: model, capacity: f.prompt.count + f.decodeIDs.count)
        let prefill = runner.run(f.prompt, logits: .all)
        let range = f.promptLogits.max()! - f.promptLogits.min()!
        let delta = HuggingFaceParityTests.maxDelta(prefill.data, f.promptLogits)
        #expect(delta <= 0.0075 * range, "\(family): max |Δlogit| \(delta) vs range \(range)")
        for p in f.prompt.indices {
            let reference = Array(f.promptLogits[(p * v)..<((p + 1) * v)]), ours = prefill.row(p)
            let best = argmax(reference), margin = reference[best] - reference.enumerated().filter { $0.offset != best }.map(\.element).max()!
            let rowDelta = HuggingFaceParityTests.maxDelta(ours, reference)
            #expect(argmax(ours) == best || margin <= 2 * rowDelta,
                    "\(family) prompt position \(p): argmax \(argmax(ours)) vs \(best), margin \(margin), |Δ| \(rowDelta)")
        }
        var generated = [argmax(prefill.row(f.prompt.count - 1))]
        for _ in 1..<f.decodeIDs.count { generated.append(argmax(runner.run([generated.last!]).data)) }
        #expect(generated == f.decodeIDs, "\(family): greedy tokens with bf16 weights")
        print("\(family) BF16: max |Δlogit| = \(delta), logit range \(range)")
    }
}
