import Device
import Testing
@testable import Model

/// Every Hugging Face family on an fp16 and a bf16 KV cache (`--kv-cache-dtype`): logits stay close to
/// transformers' (the cache rounds each written K/V or latent once), are not those of the fp32 cache (the
/// cache really is narrow), and a sequence in a batch still gets bit for bit what it gets alone.
@Suite struct KVCacheElementModelTests {
    typealias F = HuggingFaceParityTests
    /// Largest |Δlogit| against transformers allowed, as a share of the largest |logit|: twice the element
    /// type's unit roundoff (2⁻¹¹ fp16, 2⁻⁸ bf16). Measured on these fixtures: up to 3.3e-4 (fp16), 4.1e-3 (bf16).
    static let tolerance: [KVElement: Float] = [.f16: 2 * 0x1p-11, .bf16: 2 * 0x1p-8]

    /// Prompt and decode logits of one fixture on a device with `element` caches.
    static func logits(_ f: F.Fixture, _ element: KVElement) throws -> [Float] {
        let model = try HuggingFaceModel.load(directory: f.directory, device: CPUDevice(kvElement: element))
        let runner = SequenceRunner(model: model, capacity: f.prompt.count + f.decodeIDs.count)
        var rows = runner.run(f.prompt, logits: .all).data
        for id in f.decodeIDs { rows += runner.run([id]).data }
        return rows
    }

    @Test(arguments: F.families)
    func narrowCachesStayCloseToTransformers(family: String) throws {
        let f = try F.Fixture(family)
        let exact = try Self.logits(f, .f32)
        for element in [KVElement.f16, .bf16] {
            let rows = try Self.logits(f, element)
            let d = F.maxDelta(rows, f.promptLogits + f.decodeLogits)
            let scale = (f.promptLogits + f.decodeLogits).map(abs).max() ?? 1
            print("\(family), \(element) KV cache: max |Δlogit| = \(d) against transformers (\(d / scale) of max |logit| \(scale)), \(F.maxDelta(rows, exact)) against the fp32 cache")
            #expect(d <= Self.tolerance[element]! * scale, "\(family) \(element): max |Δlogit| = \(d), max |logit| \(scale)")
            #expect(rows != exact, "\(family) \(element): logits equal the fp32 cache's")
        }
    }

    @Test(arguments: ["llama", "deepseek_v3"])
    func aSequenceInABatchEqualsItselfAloneOnANarrowCache(family: String) throws {
        let f = try F.Fixture(family)
        let model = try HuggingFaceModel.load(directory: f.directory, device: CPUDevice(kvElement: .f16))
        let prompts = [Array(f.prompt.prefix(6)), Array(f.prompt.reversed().prefix(9))]
        let alone = prompts.map { prompt -> [Float] in
            let runner = SequenceRunner(model: model, capacity: 16)
            _ = runner.run(prompt)
            return runner.run([f.decodeIDs[0]]).data
        }
        let tables = [[4, 7], [0, 2]]
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: 8, blockSize: 8, width: model.cacheLayout.width,
                                               fieldWidth: model.cacheLayout.fieldWidth)
        #expect(cache.element == .f16)
        _ = model.forward(ForwardBatch(prompts.indices.map {
            SequenceChunk(tokens: prompts[$0], startPosition: 0, blockTable: tables[$0], logits: .last)
        }), cache: cache)
        let step = model.forward(ForwardBatch(prompts.indices.map {
            SequenceChunk(tokens: [f.decodeIDs[0]], startPosition: prompts[$0].count, blockTable: tables[$0], logits: .last)
        }), cache: cache)
        for i in prompts.indices { #expect(step.row(i) == alone[i], "\(family): sequence \(i) differs from decoding alone") }
    }
}
