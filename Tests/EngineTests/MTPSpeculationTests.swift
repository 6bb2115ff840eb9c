import Device
import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// Speculative decoding with DeepSeek-V3's multi-token-prediction layer (`SpeculativeMethod.mtp`) on the tiny deepseek_v3
/// fixture: the outputs are the unspeculated ones, and the layer's cache keeps up with the sequence through chunked
/// prompts, rejected drafts and accepted ones.
@Suite struct MTPSpeculationTests {
    let model: DecoderModel
    let prompt: [Int]

    /// The serving default too: Q8_0 weights, f16 cache, fp32 prompts and int8 generated tokens, which the engine runs
    /// in passes of their own (so a step's hidden states come from two passes).
    static let servingDevice = CPUDevice(activations: .float32, generatedActivations: .int8, quantisation: .q8_0, kvElement: .f16)

    init(device: any Device = CPUDevice()) throws {
        let dir = SparseAttentionEngineTests.fixtures.appendingPathComponent("deepseek_v3")
        model = try HuggingFaceModel.load(directory: dir, device: device)
        let info = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as? [String: Any])
        prompt = try #require(info["prompt_ids"] as? [Int])
    }

    func core(method: SchedulerConfiguration.SpeculativeMethod = .mtp, speculative: Int, budget: Int = 64, maxRunning: Int = 8) -> EngineCore {
        EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                   configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 16,
                                                                                       speculativeTokens: speculative, speculativeMethod: method,
                                                                                       speculativeMaxRunning: maxRunning),
                                                      blockSize: 4, kvCacheBytes: 4 << 20),
                   logger: Logger(label: "test"))
    }

    func request(_ id: String, _ prompt: [Int], maxTokens: Int, seed: UInt64? = nil) -> EngineRequest {
        EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: seed == nil ? 0 : 1, seed: seed, maxTokens: maxTokens,
                                                                              ignoreEOS: true))
    }

    func run(_ c: EngineCore, _ requests: [EngineRequest]) -> [[Int]] {
        let recorders = requests.map { r -> Recorder in
            let rec = Recorder()
            c.add(r, onEvent: rec.handler)
            return rec
        }
        while c.hasWork { c.step() }
        return recorders.map(\.tokens)
    }

    @Test func theEngineKeepsAnMTPLayerOfCacheOnlyWhenItDrafts() throws {
        let on = core(speculative: 1), off = core(method: .ngram, speculative: 5)
        #expect(on.mtp != nil && on.caches[0].layers == 4)
        #expect(off.mtp == nil && off.caches[0].layers == 3)
        #expect(core(speculative: 0).mtp == nil)
    }

    /// Six requests at once (greedy and seeded sampling), prompts chunked 13 tokens a step: the same tokens as
    /// without speculation, and the layer drafted for every decoding step.
    @Test(arguments: [false, true])
    func outputsAreTheUnspeculatedOnes(servingDevice: Bool) throws {
        let t = servingDevice ? try MTPSpeculationTests(device: Self.servingDevice) : self
        #expect(t.model.device.separatesGeneratedTokens == servingDevice)
        try t.checkOutputs()
    }

    func checkOutputs() throws {
        let requests = (0..<6).map { i in
            request("r\(i)", Array(prompt.prefix(8 + 2 * i)) + [i + 2], maxTokens: 12 + i, seed: i % 2 == 0 ? nil : UInt64(40 + i))
        }
        let plain = run(core(method: .ngram, speculative: 0, budget: 13), requests)
        let c = core(speculative: 1, budget: 13)
        #expect(run(c, requests) == plain)
        #expect(c.scheduler.draftTokens >= 6 * 10, "one draft per decoding step: \(c.scheduler.draftTokens)")
    }

    /// The layer's guesses, step by step in the engine, are the ones it makes over the whole sequence at once — also
    /// after steps that accept a draft (each draft here replaced by the true next token, so every one is accepted and
    /// the layer runs over two positions).
    @Test func theLayersCacheKeepsUpThroughAcceptedDrafts() throws {
        let expected = run(core(method: .ngram, speculative: 0), [request("a", prompt, maxTokens: 16)])[0]
        let sequence = prompt + expected
        // The layer over the whole sequence: row p guesses token p + 2.
        let mtp = try #require(model.multiTokenPredictor)
        let cache = model.device.makeKVStorage(layers: 4, blockCount: 4, blockSize: 16, width: model.cacheLayout.width, fieldWidth: nil)
        let main = SequenceChunk(tokens: Array(sequence.dropLast()), startPosition: 0, blockTable: [0, 1, 2, 3], logits: .none)
        let (_, hidden) = model.forwardKeepingHidden(ForwardBatch([main]), cache: cache)
        var next = main
        next.tokens = Array(sequence.dropFirst())
        next.logits = .all
        let guesses = mtp.forward(ForwardBatch([next]), hidden: hidden, cache: cache)
        func guess(at position: Int) -> Int {
            let row = guesses.row(position - 2)
            return row.indices.max { row[$0] < row[$1] }!
        }

        let c = core(speculative: 1)
        let rec = Recorder()
        c.add(request("a", prompt, maxTokens: 16), onEvent: rec.handler)
        var checked = 0
        while c.hasWork {
            c.step()
            guard let r = c.scheduler.request("a"), let draft = r.mtpDraft else { continue }
            #expect(draft.position == r.tokens.count)
            #expect(draft.tokens == [guess(at: draft.position)], "the layer's guess at position \(draft.position)")
            checked += 1
            if draft.position < sequence.count { r.mtpDraft = (draft.position, [sequence[draft.position]]) }
        }
        #expect(rec.tokens == expected)
        #expect(checked >= 6 && c.scheduler.acceptedDraftTokens >= 6, "\(checked) guesses checked, \(c.scheduler.acceptedDraftTokens) drafts accepted")
    }
}
