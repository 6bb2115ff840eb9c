import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// Scheduler, block pool and engine invariants with a fake model (no tensors), stepped by hand.
@Suite struct EngineCoreTests {
    func core(_ model: CountingModel = CountingModel(vocab: 1000, context: 4096), blocks: Int = 64, blockSize: Int = 4,
              budget: Int = 16, maxSeqs: Int = 8, policy: SchedulerConfiguration.Policy = .fcfs, stops: Set<Int> = []) -> EngineCore {
        let config = EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: maxSeqs, policy: policy),
                                         blockSize: blockSize, kvCacheBytes: blocks * blockSize * 4)
        return EngineCore(model: model, decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: stops,
                          configuration: config, logger: Logger(label: "test"))
    }

    func request(_ id: String, _ prompt: [Int], max: Int, priority: Int = 0, salt: String? = nil) -> EngineRequest {
        EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: 0, maxTokens: max), priority: priority, cacheSalt: salt)
    }

    func runToEnd(_ c: EngineCore, limit: Int = 10_000) {
        var n = 0
        while c.hasWork && n < limit { c.step(); n += 1 }
    }

    /// Special tokens' text is left out unless the request keeps it; the tokens themselves still come.
    @Test func specialTokensTextIsSkippedByDefault() {
        for skip in [true, false] {
            let config = EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: 16, maxNumSeqs: 8), blockSize: 4, kvCacheBytes: 64 * 16)
            let c = EngineCore(model: CountingModel(vocab: 1000, context: 4096), decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } },
                               stopTokenIDs: [], configuration: config, logger: Logger(label: "test"), specialTokenIDs: [3])
            var params = SamplingParams(temperature: 0, maxTokens: 4)
            params.skipSpecialTokens = skip
            let r = Recorder()
            c.add(EngineRequest(id: "a", promptTokenIDs: [1], sampling: params), onEvent: r.handler)
            runToEnd(c)
            #expect(r.tokens == [2, 3, 4, 5])
            #expect(r.text == (skip ? "cef" : "cdef"))
        }
    }

    @Test func chunkedPrefillSharesStepsWithDecodes() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 16)
        let a = Recorder(), b = Recorder()
        c.add(request("a", [1, 2, 3], max: 20), onEvent: a.handler)
        c.step()   // a: whole prompt (3 tokens) and its first token
        c.add(request("b", Array(100..<150), max: 2), onEvent: b.handler)
        runToEnd(c)
        #expect(model.batches.allSatisfy { $0.tokenCount <= 16 })
        // b's 50-token prompt needed several chunks, each in a step with a decode of a.
        let bChunks = model.batches.compactMap { $0.chunks.first { $0.tokens.first.map { $0 >= 100 && $0 < 150 } ?? false } }
        #expect(bChunks.count >= 4)
        #expect(model.batches.contains { $0.chunks.count == 2 && $0.chunks.contains { $0.tokens.count == 1 } && $0.chunks.contains { $0.tokens.count > 1 } })
        #expect(a.tokens == Array(4..<24) && a.finishReason == .length)
        #expect(b.tokens == [150, 151])
        #expect(c.scheduler.kv.freeBlockCount == 64)
    }

    @Test func prefixCacheHitsAfterASharedSystemPrompt() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 64)
        let system = Array(500..<520)   // 5 full blocks of 4
        let a = Recorder(), b = Recorder(), other = Recorder()
        c.add(request("a", system + [1, 2], max: 1), onEvent: a.handler)
        runToEnd(c)
        c.add(request("b", system + [7, 8, 9], max: 1), onEvent: b.handler)
        c.add(request("c", system + [7, 8, 9], max: 1, salt: "tenant-2"), onEvent: other.handler)
        runToEnd(c)
        #expect(a.usage?.cachedPromptTokens == 0)
        #expect(b.usage?.cachedPromptTokens == 20)
        #expect(other.usage?.cachedPromptTokens == 0, "a different cache salt never shares blocks")
        // b ran only its uncached suffix.
        #expect(model.batches.contains { $0.chunks.contains { $0.startPosition == 20 && $0.tokens == [7, 8, 9] } })
        #expect(b.tokens == [10])
        #expect(c.scheduler.kv.prefixHitTokens == 20)
    }

    @Test func fullyCachedPromptStillRunsItsLastToken() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, budget: 64)
        let prompt = Array(300..<308)   // exactly 2 blocks
        let first = Recorder(), second = Recorder()
        c.add(request("x", prompt, max: 1), onEvent: first.handler)
        runToEnd(c)
        c.add(request("y", prompt, max: 1), onEvent: second.handler)
        runToEnd(c)
        #expect(second.tokens == first.tokens)
        #expect(second.usage?.cachedPromptTokens == 4)
    }

    @Test func preemptionByRecomputeResumesWithIdenticalOutput() {
        // 6 blocks of 4 = 24 slots; two requests that each grow to 16 tokens cannot both fit.
        let c = core(blocks: 6, budget: 32)
        let a = Recorder(), b = Recorder()
        c.add(request("a", [1, 2, 3, 4], max: 12), onEvent: a.handler)
        c.add(request("b", [200, 201, 202, 203], max: 12), onEvent: b.handler)
        runToEnd(c)
        #expect(c.scheduler.preemptionCount > 0)
        #expect(a.tokens == Array(5..<17))
        #expect(b.tokens == Array(204..<216))
        #expect(c.scheduler.kv.freeBlockCount == 6)
    }

    /// The engine requests of one API request (its inputs or choices, `batchIndex`) take turns with other API
    /// requests': a request arriving behind a large batch runs after the batch's first, not its last.
    @Test func aBatchTakesTurnsWithLaterRequests() {
        for policy in [SchedulerConfiguration.Policy.fcfs, .priority] {
            let c = core(blocks: 64, budget: 8, maxSeqs: 1, policy: policy)
            let order = Recorder()
            var batch = (0..<6).map { i -> EngineRequest in
                var r = request("batch-\(i)", [1, 2], max: 1)
                r.batchIndex = i
                return r
            }
            var later = request("later", [3, 4], max: 1)
            later.batchIndex = 0
            batch.append(later)
            for (i, r) in batch.enumerated() {
                c.add(r) { e in if case .finished = e { order.handler(.token(id: i, text: r.id)) } }
            }
            runToEnd(c)
            #expect(order.tokens == [0, 6, 1, 2, 3, 4, 5], "\(policy)")
        }
    }

    @Test func priorityPolicyRunsUrgentRequestsFirstAndPreemptsTheLeastUrgent() {
        let c = core(blocks: 64, budget: 8, maxSeqs: 1, policy: .priority)
        let order = Recorder()
        for (i, (id, prio)) in [("low", 5), ("high", 0), ("mid", 2)].enumerated() {
            // Each request reports its finish as a token carrying its index into the shared recorder.
            c.add(request(id, [1, 2], max: 2, priority: prio)) { e in if case .finished = e { order.handler(.token(id: i, text: id)) } }
        }
        runToEnd(c)
        #expect(order.text == "highmidlow")
    }

    @Test func stopStringsAcrossTokensAreCutAndHidden() {
        // Token i decodes to letter 97 + i % 26: tokens 4,5,6,7 → "efgh". Stop at "fg".
        let c = core()
        let r = Recorder()
        var params = SamplingParams(temperature: 0, maxTokens: 10)
        params.stopStrings = ["fg", "zzz"]
        c.add(EngineRequest(id: "s", promptTokenIDs: [3], sampling: params), onEvent: r.handler)
        runToEnd(c)
        #expect(r.text == "e")
        #expect(r.finishReason == .stop)
    }

    @Test func abortFreesBlocksWithinOneStep() {
        let c = core()
        let r = Recorder()
        c.add(request("a", Array(1..<30), max: 100), onEvent: r.handler)
        c.step()
        c.step()
        #expect(c.scheduler.kv.freeBlockCount < 64)
        #expect(c.metrics.snapshot.running == 1)
        c.abort("a")
        #expect(c.scheduler.kv.freeBlockCount == 64)
        // Gauges follow the abort at once, not at the next step (an idle server may have none).
        #expect(c.metrics.snapshot.running == 0 && c.metrics.snapshot.kvUsage == 0)
        #expect(r.finishReason == .abort)
        #expect(!c.hasWork)
    }

    /// The KV cache, the scheduler and aborts key on the request id: a second live request with the same id
    /// would share the first one's block table (and its abort would end the first). It is refused; the first
    /// runs on untouched, and the id is free again once it ends.
    @Test func aSecondLiveRequestWithTheSameIdIsRefused() {
        let c = core()
        let first = Recorder(), second = Recorder(), later = Recorder()
        c.add(request("dup", Array(1..<20), max: 6), onEvent: first.handler)
        c.step()
        c.add(request("dup", Array(50..<60), max: 6), onEvent: second.handler)
        #expect(second.terminal.count == 1)
        if case let .failed(msg)? = second.terminal.first { #expect(msg.contains("'dup'")) } else { Issue.record("expected a failure") }
        runToEnd(c)
        #expect(first.finishReason == .length && first.tokens.count == 6)
        c.add(request("dup", Array(50..<60), max: 3), onEvent: later.handler)
        runToEnd(c)
        #expect(later.finishReason == .length && later.tokens.count == 3)
        #expect(c.scheduler.kv.freeBlockCount == 64)
    }

    /// Prompt logprobs: one event before the first token, an entry per prompt token after the first (each from
    /// the logits at the position before it), the same whether the prompt runs in one chunk or many, never
    /// from the prefix cache, and not repeated when a preemption recomputes the prompt.
    @Test func promptLogprobsComeOnceBeforeTheFirstToken() {
        let prompt = [3, 4, 9, 10, 11, 30, 31, 2, 5, 6]
        // The fake model's logits at a position are one-hot (10) at that token + 1: so the entry for prompt[p+1] is
        // the top token exactly when prompt[p+1] == prompt[p] + 1.
        let logZ = Foundation.log(Foundation.exp(10.0) + 999)
        func check(_ r: Recorder, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.promptLogprobs.count == 1, sourceLocation: sourceLocation)
            guard case .promptLogprobs? = r.events.first else { Issue.record("not first", sourceLocation: sourceLocation); return }
            let entries = r.promptLogprobs.first ?? []
            #expect(entries.count == prompt.count - 1, sourceLocation: sourceLocation)
            for (i, e) in entries.enumerated() {
                let expected = prompt[i + 1] == prompt[i] + 1 ? 10 - logZ : -logZ
                #expect(abs(Double(e.logprob) - expected) < 1e-4, "entry \(i)", sourceLocation: sourceLocation)
                #expect(e.top.map(\.id) == [prompt[i] + 1, 0], "entry \(i)", sourceLocation: sourceLocation)
                // vLLM's rank: one more than the tokens strictly more likely (ties at 0 do not count).
                #expect(e.rank == (prompt[i + 1] == prompt[i] + 1 ? 1 : 2), "entry \(i)", sourceLocation: sourceLocation)
            }
            #expect(r.tokens == [7, 8], sourceLocation: sourceLocation)
        }
        for budget in [64, 3] {
            let c = core(budget: budget)
            let warm = Recorder(), r = Recorder(), plain = Recorder()
            c.add(request("warm", prompt, max: 2), onEvent: warm.handler)    // fills the prefix cache
            runToEnd(c)
            var withLogprobs = request("lp", prompt, max: 2)
            withLogprobs.promptLogprobs = 2
            c.add(withLogprobs, onEvent: r.handler)
            runToEnd(c)
            check(r)
            #expect(r.usage?.cachedPromptTokens == 0)
            c.add(request("plain", prompt, max: 2), onEvent: plain.handler)
            runToEnd(c)
            #expect(plain.usage?.cachedPromptTokens ?? 0 > 0 && plain.promptLogprobs.isEmpty)
        }
        // A preemption midway through the prompt recomputes it; the entries still come once, complete.
        let c = core(blocks: 6, budget: 4)
        let r = Recorder(), other = Recorder()
        var withLogprobs = request("lp", prompt, max: 2)
        withLogprobs.promptLogprobs = 2
        c.add(request("early", Array(40..<52), max: 12), onEvent: other.handler)
        c.add(withLogprobs, onEvent: r.handler)
        runToEnd(c)
        #expect(c.scheduler.preemptionCount > 0)
        check(r)
    }

    /// Every prompt row costs a vocabulary of floats, so a prompt whose logprobs are wanted runs in steps of at
    /// most `RequestState.promptRowsPerStep` tokens, whatever the step budget; its generated tokens do not.
    @Test func promptLogprobsBoundTheStep() {
        let model = CountingModel(vocab: 1000, context: 4096)
        let c = core(model, blocks: 256, budget: 2048)
        let r = Recorder()
        var req = request("lp", (0..<600).map { $0 % 997 }, max: 3)
        req.promptLogprobs = 0
        c.add(req, onEvent: r.handler)
        runToEnd(c)
        let chunks = model.batches.flatMap(\.chunks)
        #expect(chunks.map(\.tokens.count) == [256, 256, 88, 1, 1])
        #expect(r.promptLogprobs.first?.count == 599 && r.tokens.count == 3)
    }

    /// A request waiting for blocks looks its prefix up on every step; the prefix-cache metrics count the
    /// lookup once, when it is admitted (they were inflated ~9× under KV pressure).
    @Test func aWaitingRequestsPrefixLookupCountsOnce() {
        let c = core(blocks: 4, budget: 64)
        let a = Recorder(), b = Recorder()
        c.add(request("a", Array(1...12), max: 4), onEvent: a.handler)
        c.add(request("b", Array(100..<108), max: 2), onEvent: b.handler)
        c.step()
        #expect(c.scheduler.waiting.count == 1)   // b: 2 blocks wanted, 1 free
        runToEnd(c)
        #expect(a.finishReason == .length && b.finishReason == .length)
        #expect(c.scheduler.kv.prefixQueryTokens == 12 + 8)
    }

    @Test func requestLargerThanTheCacheFailsInsteadOfHanging() {
        let c = core(blocks: 4, budget: 64)
        let r = Recorder()
        c.add(request("big", Array(1..<40), max: 5), onEvent: r.handler)
        #expect(r.terminal.count == 1)
        if case let .failed(msg)? = r.terminal.first { #expect(msg.contains("16")) } else { Issue.record("expected failure") }
        // One that fits at first but outgrows the whole cache ends with `length`.
        let g = Recorder()
        c.add(request("grow", Array(1..<10), max: 100), onEvent: g.handler)
        runToEnd(c)
        #expect(g.finishReason == .length)
        #expect(g.tokens.count == 16 - 9 + 1 || g.tokens.count == 16 - 9)
        #expect(c.scheduler.kv.freeBlockCount == 4)
    }

    @Test func randomizedWorkloadEndsWithEveryBlockFreeAndEveryRequestFinishedOnce() {
        var rng = SplitMix64(seed: 2024)
        let c = core(CountingModel(vocab: 1000, context: 4096), blocks: 40, blockSize: 4, budget: 24, maxSeqs: 6, policy: .priority)
        var recorders: [String: Recorder] = [:]
        var aborted: Set<String> = []
        var submitted = 0
        var steps = 0
        while submitted < 1000 || c.hasWork {
            for _ in 0..<Int(rng.next() % 4) where submitted < 1000 {
                let id = "r\(submitted)"
                let len = 1 + Int(rng.next() % 40)
                let start = Int(rng.next() % 900)
                recorders[id] = Recorder()
                c.add(request(id, Array(start..<(start + len)), max: 1 + Int(rng.next() % 20), priority: Int(rng.next() % 3)), onEvent: recorders[id]!.handler)
                submitted += 1
            }
            if rng.next() % 5 == 0, submitted > 0 {
                let id = "r\(Int(rng.next() % UInt64(submitted)))"
                aborted.insert(id)
                c.abort(id)
            }
            c.step()
            steps += 1
            #expect(c.scheduler.running.count <= 6)
            if steps > 200_000 { Issue.record("did not converge"); break }
        }
        #expect(c.scheduler.kv.freeBlockCount == 40)
        #expect(c.scheduler.kv.requestCount == 0)
        for (id, r) in recorders {
            #expect(r.terminal.count == 1, "\(id) ended \(r.terminal.count) times")
            if r.finishReason == .abort { #expect(aborted.contains(id)) }
        }
        #expect(c.model is CountingModel && (c.model as! CountingModel).batches.allSatisfy { $0.tokenCount <= 24 })
    }
}
