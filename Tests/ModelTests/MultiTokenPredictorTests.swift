import Device
import Foundation
import Testing
@testable import Model

/// DeepSeek-V3's multi-token-prediction layer against scripts/reference/make_mtp_fixtures.py (the layer run in PyTorch
/// with transformers' decoder block, as vLLM's deepseek_mtp runs it), on the deepseek_v3 fixture's prompt + decode.
@Suite struct MultiTokenPredictorTests {
    let f: HuggingFaceParityTests.Fixture
    let tokens: [Int]
    let reference: [Float]      // [tokens.count - 1, V]

    init() throws {
        f = try HuggingFaceParityTests.Fixture("deepseek_v3")
        let file = try SafetensorsFile(path: f.directory.appendingPathComponent("mtp_reference.safetensors").path)
        tokens = try file.tensor("tokens").toFloat32().map { Int($0) }
        reference = try file.tensor("logits").toFloat32()
    }

    /// The main model's hidden states and the MTP layer's logits over the sequence, run in the given chunks (each a
    /// main pass, then an MTP pass over the same positions with the tokens one ahead), in one cache of 3 + 1 layers.
    func logits(chunks: [Int], model: DecoderModel) throws -> [Float] {
        let mtp = try #require(model.multiTokenPredictor)
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers + 1, blockCount: 2, blockSize: 16,
                                               width: model.cacheLayout.width, fieldWidth: nil)
        var out: [Float] = [], start = 0
        for n in chunks {
            let main = SequenceChunk(tokens: Array(tokens[start..<(start + n)]), startPosition: start, blockTable: [0, 1], logits: .none)
            let (_, hidden) = model.forwardKeepingHidden(ForwardBatch([main]), cache: cache)
            let next = SequenceChunk(tokens: Array(tokens[(start + 1)...(start + n)]), startPosition: start, blockTable: [0, 1], logits: .all)
            out += mtp.forward(ForwardBatch([next]), hidden: hidden, cache: cache).data
            start += n
        }
        return out
    }

    @Test func theSequenceAtOnceMatchesTheReference() throws {
        #expect(tokens == f.prompt + f.decodeIDs)
        let got = try logits(chunks: [tokens.count - 1], model: try f.model(multiTokenPrediction: true))
        let d = HuggingFaceParityTests.maxDelta(got, reference)
        #expect(d <= HuggingFaceParityTests.tolerance, "MTP logits differ from the reference by \(d)")
    }

    /// A prompt chunk and then a position at a time, as the engine runs a decoding request: the layer's own cache
    /// entries carry the earlier positions.
    @Test func chunkByChunkThroughItsCacheMatchesTheReference() throws {
        let chunks = [tokens.count - 8] + Array(repeating: 1, count: 7)
        for form in [MLAForm.naive, .absorbed] {
            let got = try logits(chunks: chunks, model: try f.model(form, multiTokenPrediction: true))
            let d = HuggingFaceParityTests.maxDelta(got, reference)
            #expect(d <= HuggingFaceParityTests.tolerance, "\(form): MTP logits differ from the reference by \(d)")
        }
    }

    /// The logits of the rows it asks for only, and the main model's logits unchanged by keeping the hidden states.
    @Test func keepingTheHiddenStatesLeavesTheLogitsAlone() throws {
        let model = try f.model()
        let chunk = SequenceChunk(tokens: f.prompt, startPosition: 0, blockTable: [0, 1], logits: .last)
        func cache() -> KVBlockStorage { model.device.makeKVStorage(layers: 4, blockCount: 2, blockSize: 16, width: model.cacheLayout.width, fieldWidth: nil) }
        let plain = model.forward(ForwardBatch([chunk]), cache: cache())
        let (kept, hidden) = model.forwardKeepingHidden(ForwardBatch([chunk]), cache: cache())
        #expect(kept.data == plain.data)
        #expect(hidden.rows == f.prompt.count && hidden.cols == 64)
        var asHidden = ForwardBatch([chunk]); asHidden.output = .hidden
        #expect(model.forward(asHidden, cache: cache()).data == hidden.rows(hidden.rows - 1..<hidden.rows).data)
    }
}

/// Verifying drafts computes what decoding them one at a time computes: a chunk of generated tokens runs DeepSeek's
/// latent attention in the absorbed form, as a single token does (the naive form, a prompt's, sums otherwise).
@Suite struct GeneratedChunkTests {
    @Test(arguments: [false, true])
    func aGeneratedChunkEqualsItsTokensOneAtATime(int8: Bool) throws {
        let device = int8 ? CPUDevice(activations: .float32, generatedActivations: .int8, quantisation: .q8_0, kvElement: .f16) : CPUDevice()
        let f = try HuggingFaceParityTests.Fixture("deepseek_v3")
        let model = try HuggingFaceModel.load(directory: f.directory, device: device)
        let table = Array(0..<8), tokens = [5, 9, 11, 13]
        func cache() -> KVBlockStorage {
            let c = device.makeKVStorage(layers: 3, blockCount: 8, blockSize: 4, width: model.cacheLayout.width, fieldWidth: nil)
            _ = model.forward(ForwardBatch([SequenceChunk(tokens: f.prompt, startPosition: 0, blockTable: table, logits: .none)]), cache: c)
            return c
        }
        let (one, all) = (cache(), cache())
        var sequential: [Float] = []
        for (i, t) in tokens.enumerated() {
            let chunk = SequenceChunk(tokens: [t], startPosition: f.prompt.count + i, blockTable: table, logits: .all, generated: true)
            sequential += device.runningGeneratedTokens { model.forward(ForwardBatch([chunk]), cache: one) }.data
        }
        let chunk = SequenceChunk(tokens: tokens, startPosition: f.prompt.count, blockTable: table, logits: .all, generated: true)
        let together = device.runningGeneratedTokens { model.forward(ForwardBatch([chunk]), cache: all) }.data
        #expect(together == sequential)
    }

    /// A prompt's numbers do not depend on how the engine's steps split it: its last token alone runs as a prompt token
    /// (the naive form), not as a decode step would.
    @Test(arguments: [false, true])
    func aPromptSplitIntoStepsEqualsItWhole(int8: Bool) throws {
        let device = int8 ? CPUDevice(activations: .float32, generatedActivations: .int8, quantisation: .q8_0, kvElement: .f16) : CPUDevice()
        let f = try HuggingFaceParityTests.Fixture("deepseek_v3")
        let model = try HuggingFaceModel.load(directory: f.directory, device: device)
        let table = Array(0..<8), n = f.prompt.count
        func run(_ splits: [Int]) -> [Float] {
            let c = device.makeKVStorage(layers: 3, blockCount: 8, blockSize: 4, width: model.cacheLayout.width, fieldWidth: nil)
            var start = 0, rows: [Float] = []
            for k in splits {
                let chunk = SequenceChunk(tokens: Array(f.prompt[start..<(start + k)]), startPosition: start, blockTable: table, logits: .all, prompt: true)
                rows += model.forward(ForwardBatch([chunk]), cache: c).data
                start += k
            }
            // And the first generated token after it, which reads every prompt position's cache entries.
            let next = SequenceChunk(tokens: [7], startPosition: n, blockTable: table, logits: .all, generated: true)
            return rows + device.runningGeneratedTokens { model.forward(ForwardBatch([next]), cache: c) }.data
        }
        let whole = run([n])
        #expect(run([n - 1, 1]) == whole)
        #expect(run([5, 1, 1, n - 7]) == whole)
    }
}
