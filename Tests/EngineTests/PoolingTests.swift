import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// Embedding requests (`EngineRequest.pooling`): the prompt runs in a pass that returns hidden states, the pooled
/// vector comes back once, nothing is generated. `CountingModel`'s hidden state at a position is
/// [token, position, 1], so every pooled value is known exactly.
@Suite struct PoolingTests {
    func core(_ model: CountingModel, blocks: Int = 64, budget: Int = 16, context: Int = 4096, prefixCaching: Bool = true) -> EngineCore {
        let config = EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 8),
                                         blockSize: 4, kvCacheBytes: blocks * 4 * 4, prefixCaching: prefixCaching)
        return EngineCore(model: model, decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: [],
                          configuration: config, logger: Logger(label: "test"))
    }

    func embed(_ id: String, _ prompt: [Int], _ pooling: Pooling) -> EngineRequest {
        EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(maxTokens: 0), pooling: pooling)
    }

    func runToEnd(_ c: EngineCore) {
        var n = 0
        while c.hasWork && n < 10_000 { c.step(); n += 1 }
    }

    /// The exact mean of the fake model's hidden states over positions `from..<from + tokens.count`.
    func mean(_ tokens: [Int], from: Int = 0) -> [Float] {
        let n = Float(tokens.count)
        return [Float(tokens.reduce(0, +)) / n, Float((from..<(from + tokens.count)).reduce(0, +)) / n, 1]
    }

    @Test func lastAndMeanPoolingGiveTheirVectorThenStop() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model)
        let last = Recorder(), average = Recorder()
        c.add(embed("l", [5, 6, 7], .last), onEvent: last.handler)
        c.add(embed("m", [10, 20, 30, 40], .mean), onEvent: average.handler)
        runToEnd(c)
        #expect(last.embeddings == [CountingModel.hidden(token: 7, position: 2)])
        #expect(average.embeddings == [mean([10, 20, 30, 40])])
        for r in [last, average] {
            #expect(r.tokens.isEmpty && r.text.isEmpty)
            #expect(r.finishReason == .stop)
            // The vector comes once, just before the end.
            guard r.events.count == 2, case .embedding = r.events[0] else { Issue.record("events: \(r.events)"); continue }
        }
        #expect(last.usage?.promptTokens == 3 && last.usage?.completionTokens == 0)
        #expect(average.usage?.promptTokens == 4)
        #expect(model.batches.allSatisfy { $0.output == .hidden })
        #expect(c.scheduler.kv.freeBlockCount == 64)
    }

    /// A prompt longer than the step budget runs in chunks; the mean covers every chunk's rows, and last-token
    /// pooling asks for no rows until the final chunk.
    @Test func chunkedPromptsPoolOverEveryChunk() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 8)
        let prompt = Array(100..<137), other = Array(200..<237)
        let average = Recorder(), last = Recorder()
        c.add(embed("m", prompt, .mean), onEvent: average.handler)
        c.add(embed("l", other, .last), onEvent: last.handler)
        runToEnd(c)
        #expect(model.batches.count >= 9)
        #expect(average.embeddings == [mean(prompt)])
        #expect(last.embeddings == [CountingModel.hidden(token: 236, position: 36)])
        let chunks = model.batches.flatMap(\.chunks)
        let meanChunks = chunks.filter { prompt.contains($0.tokens[0]) }, lastChunks = chunks.filter { other.contains($0.tokens[0]) }
        #expect(meanChunks.count >= 5 && meanChunks.allSatisfy { $0.logits == .all })
        #expect(lastChunks.count >= 5 && lastChunks.dropLast().allSatisfy { $0.logits == .none } && lastChunks.last?.logits == .last)
    }

    /// Embedding and generation requests share steps: the generation's logits pass and the embeddings' hidden pass
    /// run side by side, and neither changes the other's result.
    @Test func embeddingsAndGenerationShareSteps() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 32)
        let gen = Recorder(), emb = Recorder()
        c.add(EngineRequest(id: "g", promptTokenIDs: [1, 2, 3], sampling: SamplingParams(temperature: 0, maxTokens: 5)), onEvent: gen.handler)
        c.step()
        c.add(embed("e", Array(300..<320), .mean), onEvent: emb.handler)
        runToEnd(c)
        #expect(gen.tokens == [4, 5, 6, 7, 8])
        #expect(emb.embeddings == [mean(Array(300..<320))])
        // One step ran both kinds, as two passes: logits for the decode, hidden states for the embedding.
        let logits = model.batches.filter { $0.output == .logits }, hidden = model.batches.filter { $0.output == .hidden }
        #expect(hidden.count == 1 && hidden[0].chunks.count == 1 && hidden[0].chunks[0].tokens.count == 20)
        #expect(logits.allSatisfy { $0.chunks.allSatisfy { !$0.tokens.contains(300) } })
    }

    /// Last-token pooling may take the prompt's start from the prefix cache; a mean needs every row, so it never does.
    @Test func onlyLastTokenPoolingUsesThePrefixCache() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 64)
        let prompt = Array(500..<522)
        for pooling in [Pooling.last, .mean] {
            let first = Recorder(), second = Recorder()
            c.add(embed("\(pooling)-1", prompt, pooling), onEvent: first.handler)
            runToEnd(c)
            c.add(embed("\(pooling)-2", prompt, pooling), onEvent: second.handler)
            runToEnd(c)
            #expect(first.embeddings == second.embeddings && first.embeddings.count == 1)
            #expect(second.usage?.cachedPromptTokens == (pooling == .last ? 20 : 0))
        }
    }

    /// A preemption midway recomputes the prompt; the mean starts again rather than counting rows twice.
    @Test func preemptedMeanStartsAgain() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, blocks: 6, budget: 4)
        let early = Recorder(), emb = Recorder()
        c.add(EngineRequest(id: "early", promptTokenIDs: Array(40..<52), sampling: SamplingParams(temperature: 0, maxTokens: 12)),
              onEvent: early.handler)
        c.add(embed("e", Array(700..<712), .mean), onEvent: emb.handler)
        runToEnd(c)
        #expect(c.scheduler.preemptionCount > 0)
        #expect(emb.embeddings == [mean(Array(700..<712))])
        #expect(early.tokens == Array(52..<64))
    }

    /// An embedding needs no position after its prompt: a prompt as long as the context (or the KV cache) fits;
    /// one token more does not.
    @Test func aPromptAsLongAsTheContextFits() {
        let model = CountingModel(vocab: 1000, context: 32)
        let c = core(model, blocks: 8, budget: 64)
        let fits = Recorder(), over = Recorder(), generation = Recorder()
        c.add(embed("fits", Array(0..<32), .last), onEvent: fits.handler)
        c.add(embed("over", Array(0..<33), .last), onEvent: over.handler)
        c.add(EngineRequest(id: "gen", promptTokenIDs: Array(0..<32), sampling: SamplingParams(maxTokens: 1)), onEvent: generation.handler)
        runToEnd(c)
        #expect(fits.embeddings == [CountingModel.hidden(token: 31, position: 31)])
        guard case .failed? = over.terminal.last, case .failed? = generation.terminal.last else {
            Issue.record("over: \(over.events), generation: \(generation.events)")
            return
        }
    }

    @Test func anAbortedEmbeddingEndsWithoutAVector() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 4)
        let r = Recorder()
        c.add(embed("e", Array(0..<40), .mean), onEvent: r.handler)
        c.step()
        c.abort("e")
        #expect(r.embeddings.isEmpty && r.finishReason == .abort)
        #expect(!c.hasWork && c.scheduler.kv.freeBlockCount == 64)
    }
}
