import Device
import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// A model whose next token reads its cache: (token + the token cached at the position before) mod vocab, a
/// Fibonacci sequence that repeats (so prompt lookup finds drafts) and that goes wrong if a rejected draft's
/// cache entry were ever read as the sequence's own.
final class FibonacciModel: LanguageModel, @unchecked Sendable {
    let vocabularySize: Int
    let hiddenSize = 1
    let contextLength = 4096
    let device: any Device = CPUDevice()
    let cacheLayout = KVCacheLayout(layers: 1, width: 1)
    private(set) var passes = 0
    private(set) var rowsComputed = 0

    init(vocab: Int) { vocabularySize = vocab }

    func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        passes += 1
        var rows: [Float] = []
        for ch in batch.chunks {
            var next: [Int] = []
            for (i, p) in ch.positions.enumerated() {
                let t = ch.tokens[i]
                [Float(t)].withUnsafeBufferPointer { cache.store($0, layer: 0, slot: cache.slot(position: p, blockTable: ch.blockTable), offset: 0) }
                let before = p == 0 ? 0 : Int(cache.entry(layer: 0, slot: cache.slot(position: p - 1, blockTable: ch.blockTable))[0])
                next.append((t + before) % vocabularySize)
            }
            let picked = ch.logits == .all ? next[...] : (ch.logits == .last ? next.suffix(1) : [])
            for n in picked {
                var row = [Float](repeating: 0, count: vocabularySize)
                row[n] = 10
                rows += row
            }
        }
        rowsComputed += rows.count / vocabularySize
        return Matrix(rows: rows.count / vocabularySize, cols: vocabularySize, data: rows)
    }
}

@Suite struct SpeculativeDecodingTests {
    func core(_ model: any LanguageModel, speculative: Int, blocks: Int = 256, budget: Int = 64, maxRunning: Int = 4,
              stops: Set<Int> = []) -> EngineCore {
        let config = EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 8, speculativeTokens: speculative,
                                                                           speculativeMaxRunning: maxRunning),
                                         blockSize: 4, kvCacheBytes: blocks * 4 * 4)
        return EngineCore(model: model, decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: stops, configuration: config,
                          logger: Logger(label: "test"))
    }

    func run(_ c: EngineCore, _ requests: [EngineRequest]) -> [Recorder] {
        let recorders = requests.map { r -> Recorder in
            let rec = Recorder()
            c.add(r, onEvent: rec.handler)
            return rec
        }
        var n = 0
        while c.hasWork && n < 100_000 { c.step(); n += 1 }
        return recorders
    }

    func greedy(_ id: String, _ prompt: [Int], max: Int) -> EngineRequest {
        EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: 0, maxTokens: max, ignoreEOS: true))
    }

    @Test func proposalsComeFromTheLatestEarlierOccurrence() {
        let p = NGramProposer(tokens: 3)
        #expect(p.propose([1, 2, 3, 4, 5, 1, 2], limit: 9) == [3, 4, 5])
        #expect(p.propose([1, 2, 3, 9, 1, 2, 7, 8, 1, 2], limit: 9) == [7, 8, 1], "the most recent match")
        #expect(p.propose([1, 2, 3, 4, 5, 1, 2], limit: 2) == [3, 4])
        #expect(p.propose([5, 1, 2, 3, 4, 1, 2, 3], limit: 9) == [4, 1, 2], "a 3-gram before a 2-gram")
        #expect(p.propose([1, 2, 3, 4], limit: 9).isEmpty)
        #expect(p.propose([7, 7], limit: 9).isEmpty, "no earlier occurrence of a 2-gram")
        #expect(p.propose([7, 7, 7], limit: 9) == [7])
        #expect(p.propose([1, 2, 3, 1, 2], limit: 0).isEmpty)
    }

    /// The output is exactly what decoding one token at a time gives, in fewer passes when the sequence repeats.
    @Test func greedyOutputIsUnchangedAndTakesFewerPasses() {
        for vocab in [10, 7, 1000] {
            let plain = FibonacciModel(vocab: vocab), fast = FibonacciModel(vocab: vocab)
            let a = run(core(plain, speculative: 0), [greedy("a", [1, 1], max: 150)])[0]
            let c = core(fast, speculative: 5)
            let b = run(c, [greedy("a", [1, 1], max: 150)])[0]
            #expect(b.tokens == a.tokens && b.tokens.count == 150, "vocab \(vocab)")
            #expect(b.finishReason == .length && b.usage?.completionTokens == 150)
            if vocab == 1000 {
                // Fibonacci mod 1000 repeats every 1,500 tokens: nothing to look up yet, so nothing is drafted.
                #expect(c.scheduler.draftTokens == 0 && fast.passes == plain.passes)
            } else {
                // The sequence repeats after 60 tokens (mod 10) or 16 (mod 7); from then on, whole drafts are accepted.
                let period = vocab == 10 ? 60 : 16
                #expect(c.scheduler.acceptedDraftTokens > (150 - period) * 4 / 6, "vocab \(vocab): \(c.scheduler.acceptedDraftTokens) accepted")
                #expect(fast.passes < period + (150 - period) / 4, "vocab \(vocab): \(fast.passes) passes against \(plain.passes)")
            }
            #expect(c.scheduler.kv.freeBlockCount == 256)
            // /metrics counts them (vLLM's spec_decode counters).
            #expect(c.metrics.snapshot.draftTokens == c.scheduler.draftTokens && c.metrics.snapshot.acceptedDraftTokens == c.scheduler.acceptedDraftTokens)
        }
    }

    /// Drafts that turn out wrong are rejected: the output is unchanged, and their cache entries are overwritten
    /// before anything reads them (the Fibonacci model would go astray otherwise).
    @Test func rejectedDraftsLeaveNoTrace() {
        // From (3, 4) the model writes 7 1 8 9 7 6 3 9 2 1 3 4 (Lucas numbers mod 10); the prompt has (7, 1) and
        // (1, 8) followed by other tokens, which are drafted and rejected when the output reaches those pairs.
        let prompt = [7, 1, 5, 5, 1, 8, 0, 3, 4]
        let a = run(core(FibonacciModel(vocab: 10), speculative: 0), [greedy("a", prompt, max: 80)])[0]
        let c = core(FibonacciModel(vocab: 10), speculative: 4)
        let b = run(c, [greedy("a", prompt, max: 80)])[0]
        #expect(b.tokens == a.tokens)
        #expect(c.scheduler.draftTokens > c.scheduler.acceptedDraftTokens, "some drafts were rejected")
    }

    /// Sampling draws the same random numbers per token either way: a seeded request's output does not change.
    @Test func seededSamplingIsUnchanged() {
        var params = SamplingParams(temperature: 1.5, seed: 7, maxTokens: 120, ignoreEOS: true)
        params.topK = 3
        let request = EngineRequest(id: "s", promptTokenIDs: [1, 1], sampling: params)
        let a = run(core(FibonacciModel(vocab: 7), speculative: 0), [request])[0]
        let c = core(FibonacciModel(vocab: 7), speculative: 4)
        let b = run(c, [request])[0]
        #expect(a.tokens == b.tokens && a.tokens.count == 120)
        #expect(c.scheduler.draftTokens > 0)
    }

    /// A stop token among accepted drafts ends the output there, as it would one token at a time; max_tokens holds.
    @Test func stopsAndLimitsHoldInsideAcceptedDrafts() {
        let stop = 8
        for max in [1, 2, 5, 33] {
            var params = SamplingParams(temperature: 0, maxTokens: max)
            params.stopTokenIDs = [stop]
            let request = EngineRequest(id: "x", promptTokenIDs: [1, 1, 2, 3, 5, 8, 3, 1, 4, 5, 9, 4, 3, 7, 0, 7, 7, 4, 1, 5, 6, 1, 7, 8, 5, 3], sampling: params)
            let a = run(core(FibonacciModel(vocab: 10), speculative: 0), [request])[0]
            let b = run(core(FibonacciModel(vocab: 10), speculative: 6), [request])[0]
            #expect(a.events == b.events, "max \(max)")
            #expect(b.tokens.count <= max)
        }
    }

    /// Past `speculativeMaxRunning` decoding requests nobody speculates; below it, batched requests all get
    /// their own drafts and their own outputs.
    @Test func batchesSpeculateOnlyWhenSmall() {
        let prompts = [[1, 1], [2, 1], [3, 3], [1, 4]]
        let requests = prompts.enumerated().map { greedy("r\($0.offset)", $0.element, max: 60) }
        let expected = run(core(FibonacciModel(vocab: 10), speculative: 0), requests).map(\.tokens)
        let small = core(FibonacciModel(vocab: 10), speculative: 4, maxRunning: 4)
        #expect(run(small, requests).map(\.tokens) == expected)
        #expect(small.scheduler.acceptedDraftTokens > 0)
        let large = core(FibonacciModel(vocab: 10), speculative: 4, maxRunning: 3)
        #expect(run(large, requests).map(\.tokens) == expected)
        #expect(large.scheduler.draftTokens == 0)
    }

    /// Drafts never take blocks from anyone: with the cache nearly full they are left out, not preempting.
    @Test func draftsNeverPreempt() {
        let requests = [greedy("a", [1, 1], max: 40), greedy("b", [2, 1], max: 40)]
        let expected = run(core(FibonacciModel(vocab: 10), speculative: 0, blocks: 22), requests).map(\.tokens)
        let c = core(FibonacciModel(vocab: 10), speculative: 6, blocks: 22)
        #expect(run(c, requests).map(\.tokens) == expected)
        #expect(c.scheduler.preemptionCount == 0)
    }
}
