import Device
import Foundation
import Logging
import Model
import Testing
import Tokenizer
@testable import Engine

/// `--cpu-activations auto` with the real default model: prompt tokens run with fp32 activations, generated
/// tokens with int8 ones, each in a pass of its own, so a token's numerics follow only from its position in
/// its own request — never from what shares its step, from preemption or from the prefix cache.
@Suite(.serialized) struct GeneratedTokenPrecisionTests {
    static let loaded: Result<LoadedModel, Error> = Result {
        let path = RealModelBatchTests.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenizerError("model not found at \(path): run scripts/setup (scripts/test does)")
        }
        return try ModelLoader.load(path: path, device: CPUDevice(activations: .float32, generatedActivations: .int8))
    }

    func core(_ m: LoadedModel, kvBytes: Int = 64 << 20, budget: Int = 256) -> EngineCore {
        let tok = m.tokenizer
        return EngineCore(model: m.model, decodeBytes: { tok.decodeBytes($0) }, stopTokenIDs: [],
                          configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 32),
                                                             blockSize: 16, kvCacheBytes: kvBytes),
                          logger: Logger(label: "test"))
    }

    func prompts(_ tok: BPETokenizer) -> [[Int]] {
        ["The capital of France is", "Once upon a time", "def fibonacci(n):", "Water boils at",
         "The quick brown fox", "In 1492, Columbus", "SELECT * FROM", "To be or not to be"].map { tok.encode($0, parseSpecial: false) }
    }

    func add(_ c: EngineCore, _ id: String, _ prompt: [Int], maxTokens: Int) -> Recorder {
        let r = Recorder()
        c.add(EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)),
              onEvent: r.handler)
        return r
    }

    func run(_ c: EngineCore, _ reqs: [(String, [Int])], maxTokens: Int) -> [String: [Int]] {
        let recorders = Dictionary(uniqueKeysWithValues: reqs.map { ($0.0, add(c, $0.0, $0.1, maxTokens: maxTokens)) })
        while c.hasWork { c.step() }
        return recorders.mapValues(\.tokens)
    }

    /// The engine's tokens are the two-pass reference run by hand (prompt as is, every generated token inside
    /// `runningGeneratedTokens`); that reference's first token comes from the exact fp32 prompt logits, and
    /// its later logits differ from an all-fp32 run (int8 really ran).
    @Test func engineFollowsTheTwoPassReference() throws {
        let m = try Self.loaded.get()
        let device = m.model.device
        for (i, prompt) in prompts(m.tokenizer).prefix(3).enumerated() {
            let mixed = SequenceRunner(model: m.model, capacity: 64), exact = SequenceRunner(model: m.model, capacity: 64)
            let first = mixed.run(prompt).data
            #expect(first == exact.run(prompt).data, "prompt logits are the fp32 ones")
            var tokens = [Sampler.argmax(first)], largestDifference: Float = 0
            for _ in 1..<10 {
                let last = tokens.last!
                let row = device.runningGeneratedTokens { mixed.run([last]) }.data
                let exactRow = exact.run([last]).data
                largestDifference = max(largestDifference, zip(row, exactRow).map { abs($0 - $1) }.max()!)
                tokens.append(Sampler.argmax(row))
            }
            #expect(largestDifference > 1e-3, "generated tokens ran with int8 activations")
            #expect(run(core(m), [("r\(i)", prompt)], maxTokens: 10)["r\(i)"] == tokens)
        }
    }

    /// Through the engine, against an all-fp32 engine on the same prompt: the first token's log-probability
    /// (from the prompt's last row) is the same to the bit, later ones are not (the engine did split the passes).
    @Test func onlyGeneratedTokensChangeTheLogprobs() throws {
        let m = try Self.loaded.get()
        let exactModel = try ModelLoader.load(path: RealModelBatchTests.modelPath, device: CPUDevice())
        func logprobs(_ model: LoadedModel, _ prompt: [Int]) -> [Float] {
            let r = Recorder()
            var sampling = SamplingParams(temperature: 0, maxTokens: 8, ignoreEOS: true)
            sampling.logprobs = 0
            let c = core(model)
            c.add(EngineRequest(id: "r", promptTokenIDs: prompt, sampling: sampling), onEvent: r.handler)
            while c.hasWork { c.step() }
            return r.events.compactMap { if case let .token(_, _, lp?) = $0 { return lp.logprob } else { return nil } }
        }
        for prompt in prompts(m.tokenizer).prefix(2) {
            let (auto, exact) = (logprobs(m, prompt), logprobs(exactModel, prompt))
            #expect(auto.count == 8 && exact.count == 8)
            #expect(auto.first == exact.first)
            #expect(auto.dropFirst() != exact.dropFirst())
        }
    }

    /// Requests arriving while others decode share steps with them (prompt rows and generated rows in
    /// one step, run as two passes): every request still produces its solo tokens.
    @Test func staggeredArrivalsMatchSoloRuns() throws {
        let m = try Self.loaded.get()
        let ps = prompts(m.tokenizer)
        var solo: [String: [Int]] = [:]
        for (i, p) in ps.enumerated() { solo.merge(run(core(m), [("r\(i)", p)], maxTokens: 8)) { a, _ in a } }
        let c = core(m)
        var recorders: [String: Recorder] = [:]
        for (i, p) in ps.enumerated() {
            recorders["r\(i)"] = add(c, "r\(i)", p, maxTokens: 8)
            if i % 2 == 1 { for _ in 0..<3 where c.hasWork { c.step() } }
        }
        while c.hasWork { c.step() }
        for (id, tokens) in solo {
            #expect(tokens.count == 8)
            #expect(recorders[id]!.tokens == tokens, "\(id) differs when it shares steps")
        }
    }

    /// A recomputed request runs its prompt and its generated tokens again in one chunk, split into the two
    /// passes: the output is the unpreempted one.
    @Test func preemptedRequestProducesItsUnpreemptedOutput() throws {
        let m = try Self.loaded.get()
        let reqs = prompts(m.tokenizer).prefix(4).enumerated().map { ("r\($0.offset)", $0.element) }
        let expected = run(core(m), reqs, maxTokens: 24)
        let width = m.model.cacheLayout.width * m.model.cacheLayout.layers * 4
        let tight = core(m, kvBytes: 6 * 16 * width)
        let got = run(tight, reqs, maxTokens: 24)
        #expect(tight.scheduler.preemptionCount > 0)
        #expect(got == expected)
    }

    /// A prompt that repeats an earlier request's prompt and answer reuses only the cached blocks that were
    /// computed as prompt tokens (an all-fp32 engine reuses the answer's blocks too), and answers as it does
    /// from an empty cache.
    @Test func generatedBlocksAreNotReusedAsPromptBlocks() throws {
        let m = try Self.loaded.get()
        let first = Array((m.tokenizer.encode("Write a long story about a lighthouse keeper and the sea.", parseSpecial: false)
            + Array(repeating: 13, count: 20)).prefix(32))
        let more = m.tokenizer.encode(" And then?", parseSpecial: false)
        /// Runs the first request (32 prompt tokens, 40 generated: 71 computed, 4 full blocks) and then one
        /// whose prompt is its prompt + answer + `more`; returns the second's tokens and its prefix-hit tokens.
        func followUp(_ model: LoadedModel) -> (tokens: [Int], hit: Int, prompt: [Int]) {
            let c = core(model)
            let answer = run(c, [("a", first)], maxTokens: 40)["a"]!
            let before = c.scheduler.kv.prefixHitTokens
            let second = first + answer + more
            let tokens = run(c, [("b", second)], maxTokens: 8)["b"]!
            return (tokens, c.scheduler.kv.prefixHitTokens - before, second)
        }
        let auto = followUp(m)
        #expect(auto.hit == 32, "only the first request's two prompt blocks are reused")
        #expect(auto.tokens == run(core(m), [("b", auto.prompt)], maxTokens: 8)["b"], "the answer from an empty cache")
        let exact = followUp(try ModelLoader.load(path: RealModelBatchTests.modelPath, device: CPUDevice()))
        #expect(exact.hit == 64, "one precision: the answer's full blocks are shared too")
    }

    /// Speculative decoding verifies several generated positions in one int8 pass; each row's numerics follow from
    /// its own tokens only, so greedy outputs are the one-token-at-a-time ones, alone and in a batch.
    @Test func speculativeDecodingKeepsTheOutputs() throws {
        let m = try Self.loaded.get()
        let tok = m.tokenizer
        // Text the model copies (so drafts are accepted) and the usual prompts (so most are rejected).
        let copy = tok.encode("Repeat after me: the river flows past the old mill and under the stone bridge. Repeat after me: the river",
                              parseSpecial: false)
        let prompts = [copy] + prompts(tok).prefix(3)
        func outputs(_ speculative: Int) -> ([[Int]], Scheduler) {
            let c = EngineCore(model: m.model, decodeBytes: { tok.decodeBytes($0) }, stopTokenIDs: [],
                               configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: 256, maxNumSeqs: 32,
                                                                                                   speculativeTokens: speculative),
                                                                  blockSize: 16, kvCacheBytes: 64 << 20),
                               logger: Logger(label: "test"))
            let recorders = prompts.enumerated().map { add(c, "p\($0.offset)", $0.element, maxTokens: 40) }
            while c.hasWork { c.step() }
            return (recorders.map(\.tokens), c.scheduler)
        }
        let (plain, _) = outputs(0)
        let (fast, scheduler) = outputs(5)
        #expect(fast == plain)
        #expect(scheduler.acceptedDraftTokens >= 10, "the copied text is drafted and accepted: \(scheduler.acceptedDraftTokens)")
        // One at a time, the copying request alone gives the same tokens as in the batch.
        let c = core(m)
        let alone = add(c, "alone", copy, maxTokens: 40)
        while c.hasWork { c.step() }
        #expect(alone.tokens == plain[0])
    }
}
