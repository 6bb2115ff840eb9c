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


    init(device: any Device = CPUDevice(), family: String = "deepseek_v3") throws {
        let dir = SparseAttentionEngineTests.fixtures.appendingPathComponent(family)
        model = try HuggingFaceModel.load(directory: dir, device: device, multiTokenPrediction: true)
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

    func request(_ id: String, _ prompt: [Int], maxTokens: Int, seed: UInt64? = nil, logprobs: Int? = nil) -> EngineRequest {
        var sampling = SamplingParams(temperature: seed == nil ? 0 : 1, seed: seed, maxTokens: maxTokens, ignoreEOS: true)
        sampling.logprobs = logprobs
        return EngineRequest(id: id, promptTokenIDs: prompt, sampling: sampling)
    }

    /// Each request's tokens with their logprobs.
    func runWithLogprobs(_ c: EngineCore, _ requests: [EngineRequest]) -> [[(Int, TokenLogprobs?)]] {
        let recorders = requests.map { r -> Recorder in
            let rec = Recorder()
            c.add(r, onEvent: rec.handler)
            return rec
        }
        while c.hasWork { c.step() }
        return recorders.map { $0.events.compactMap { if case let .token(id, _, lp) = $0 { return (id, lp) } else { return nil } } }
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

    /// Six requests at once (greedy and seeded sampling), prompts chunked 13 tokens a step: the same tokens and logprobs
    /// as without speculation, and the layer drafted for every decoding step (1 guess, or 3 chained).
    /// The devices: the default fp32 one; the serving default (Q8_0 weights, fp32 prompts and int8 generated tokens in
    /// passes of their own, so a step's hidden states come from two passes) with its f16 cache, and with an f32 cache.
    /// (Through the f16 cache, a last-bit difference in a prompt's numbers rounded to a 3.5e-3 one in a logprob.)
    static func device(_ name: String) -> CPUDevice {
        switch name {
        case "serving": return CPUDevice(activations: .float32, generatedActivations: .int8, quantisation: .q8_0, kvElement: .f16)
        case "serving-kv-f32": return CPUDevice(activations: .float32, generatedActivations: .int8, quantisation: .q8_0, kvElement: .f32)
        default: return CPUDevice()
        }
    }

    @Test(arguments: ["fp32", "serving", "serving-kv-f32"], [1, 3])
    func outputsAreTheUnspeculatedOnes(device: String, speculative: Int) throws {
        let t = device == "fp32" ? self : try MTPSpeculationTests(device: Self.device(device))
        #expect(t.model.device.separatesGeneratedTokens == (device != "fp32"))
        try t.checkOutputs(speculative: speculative)
    }

    /// In a cache just big enough, chained guesses cause no preemption that decoding without them would not, and the
    /// outputs stay the same.
    @Test func chainedGuessesInAFullCachePreemptNothing() throws {
        let requests = (0..<4).map { i in request("r\(i)", Array(prompt.prefix(10 + i)), maxTokens: 24) }
        func engine(_ method: SchedulerConfiguration.SpeculativeMethod, _ k: Int, blocks: Int) -> EngineCore {
            EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                       configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: 64, maxNumSeqs: 16, speculativeTokens: k,
                                                                                           speculativeMethod: method, speculativeMaxRunning: 8),
                                                          // `blocks` of 4 tokens, each layer's f32 entries (the MTP layer's too)
                                                          blockSize: 4, kvCacheBytes: blocks * 4 * (method == .mtp ? 4 : 3) * model.cacheLayout.width * 4),
                       logger: Logger(label: "test"))
        }
        // 36 blocks: the fewest with which the four decode without a preemption (35 preempt one, with or without drafts).
        let plainCore = engine(.ngram, 0, blocks: 36), fastCore = engine(.mtp, 3, blocks: 36)
        let plain = run(plainCore, requests), fast = run(fastCore, requests)
        #expect(fast == plain)
        #expect(plainCore.scheduler.preemptionCount == 0)
        #expect(fastCore.scheduler.preemptionCount == 0, "\(fastCore.scheduler.preemptionCount) preemptions")
        #expect(fastCore.scheduler.draftTokens > 0)
    }

    /// A draft or guess takes blocks only while every running request could still take one after it.
    @Test func draftsTakeOnlySpareBlocks() throws {
        let c = EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                           configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: 64, maxNumSeqs: 16),
                                                              blockSize: 4, kvCacheBytes: 8 * 4 * 3 * model.cacheLayout.width * 4),
                           logger: Logger(label: "test"))
        for i in 0..<2 { c.add(request("r\(i)", Array(prompt.prefix(3)), maxTokens: 20), onEvent: { _ in }) }
        c.step()   // both prompts run: a block each, 6 of 8 free, 2 running
        let (a, b) = (try #require(c.scheduler.request("r0")), try #require(c.scheduler.request("r1")))
        #expect(c.scheduler.kv.freeBlockCount == 6 && c.scheduler.running.count == 2)
        #expect(c.scheduler.reserve(a, totalTokens: 20))            // 4 more blocks: 2 stay free, one per running request
        #expect(!c.scheduler.reserve(b, totalTokens: 8))            // 1 more would leave 1 for 2 requests
        #expect(c.scheduler.reserve(b, totalTokens: 4))             // what it holds already
        #expect(c.scheduler.kv.freeBlockCount == 2)
    }

    /// DeepSeek-V3.2's MTP layer has its own indexer (sparse attention over the layer's own cache entries).
    @Test func deepSeekV32OutputsAreTheUnspeculatedOnes() throws {
        let t = try MTPSpeculationTests(family: "deepseek_v32")
        #expect(t.model.architecture == .deepseekV32)
        try t.checkOutputs(speculative: 2)
    }

    func checkOutputs(speculative: Int) throws {
        let requests = (0..<6).map { i in
            request("r\(i)", Array(prompt.prefix(8 + 2 * i)) + [i + 2], maxTokens: 12 + i, seed: i % 2 == 0 ? nil : UInt64(40 + i), logprobs: 3)
        }
        let plain = runWithLogprobs(core(method: .ngram, speculative: 0, budget: 13), requests)
        let c = core(speculative: speculative, budget: 13)
        let fast = runWithLogprobs(c, requests)
        // The same tokens and the same logprobs, to the bit: a step verifying drafts computes each row as the plain
        // step that would have computed it alone, and a prompt's numbers do not depend on how the steps split it
        // (which the drafts' share of each step's budget changes).
        #expect(fast.map { $0.map(\.0) } == plain.map { $0.map(\.0) })
        #expect(fast.map { $0.map(\.1) } == plain.map { $0.map(\.1) })
        #expect(c.scheduler.draftTokens >= 6 * 10 * speculative, "\(speculative) drafts per decoding step: \(c.scheduler.draftTokens)")
    }

    /// The layer's guesses at `count` tokens from the end of `sequence` (which ends with a token the main model has not
    /// run), computed apart from the engine: the main model and the layer over the whole sequence in a cache of their
    /// own, then each further guess from the layer's output at the position before.
    func guesses(after sequence: [Int], count: Int) throws -> [Int] {
        let mtp = try #require(model.multiTokenPredictor)
        let n = sequence.count
        let cache = model.device.makeKVStorage(layers: 4, blockCount: 8, blockSize: 16, width: model.cacheLayout.width, fieldWidth: nil)
        let table = Array(0..<8)
        let main = SequenceChunk(tokens: Array(sequence.dropLast()), startPosition: 0, blockTable: table, logits: .none)
        var hidden = model.forwardKeepingHidden(ForwardBatch([main]), cache: cache).hidden
        var chunk = SequenceChunk(tokens: Array(sequence.dropFirst()), startPosition: 0, blockTable: table, logits: .last)
        var out: [Int] = []
        while out.count < count {
            let (logits, y) = mtp.forwardKeepingHidden(ForwardBatch([chunk]), hidden: hidden, cache: cache)
            let row = logits.row(0)
            out.append(row.indices.max { row[$0] < row[$1] }!)
            chunk = SequenceChunk(tokens: [out.last!], startPosition: n - 2 + out.count, blockTable: table, logits: .last)
            hidden = y
        }
        return out
    }

    /// The layer's guesses, step by step in the engine, are the ones it makes apart from it, also after steps that
    /// accept drafts (each draft here replaced by the true tokens, so every one is accepted and the layer runs over
    /// 1 + drafts positions), and chained ones (`speculative` 3) follow the layer's own output.
    @Test(arguments: [1, 3])
    func theLayersCacheKeepsUpThroughAcceptedDrafts(speculative: Int) throws {
        let expected = run(core(method: .ngram, speculative: 0), [request("a", prompt, maxTokens: 24)])[0]
        let sequence = prompt + expected
        let c = core(speculative: speculative)
        let rec = Recorder()
        c.add(request("a", prompt, maxTokens: 24), onEvent: rec.handler)
        var checked = 0
        while c.hasWork {
            c.step()
            guard let r = c.scheduler.request("a"), let draft = r.mtpDraft else { continue }
            #expect(draft.position == r.tokens.count)
            // As many as fit before max_tokens.
            #expect(draft.tokens.count == min(speculative, 24 - r.generation.generated.count - 1))
            #expect(draft.tokens == (try guesses(after: r.tokens, count: draft.tokens.count)), "the layer's guesses at position \(draft.position)")
            checked += 1
            r.mtpDraft = (draft.position, Array(sequence[draft.position..<min(sequence.count, draft.position + draft.tokens.count)]))
        }
        #expect(rec.tokens == expected)
        // 23 tokens after the first, `speculative` + 1 a step (the last steps fit fewer drafts).
        #expect(checked >= 23 / (speculative + 1) && c.scheduler.acceptedDraftTokens >= 23 * speculative / (speculative + 1) - speculative,
                "\(checked) guesses checked, \(c.scheduler.acceptedDraftTokens) drafts accepted")
    }
}
