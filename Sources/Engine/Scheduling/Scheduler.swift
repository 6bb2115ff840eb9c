/// Limits of one engine step.
public struct SchedulerConfiguration: Sendable, Equatable {
    public enum Policy: String, Sendable { case fcfs, priority }
    /// Where speculative decoding's drafts come from.
    public enum SpeculativeMethod: String, Sendable, CaseIterable {
        /// Prompt lookup (`NGramProposer`): tokens that followed the sequence's last n tokens where they occurred before.
        case ngram
        /// DeepSeek's multi-token-prediction layer (`MultiTokenPredictor`), run after each step over the positions it
        /// confirmed: its guess at the token after the next one.
        case mtp
    }
    /// Most tokens (prefill chunks + decodes) in one step.
    public var maxNumBatchedTokens = 2048
    /// Most requests running at once.
    public var maxNumSeqs = 64
    public var policy = Policy.fcfs
    /// Speculative decoding: most draft tokens verified per sequence and step (0: off).
    public var speculativeTokens = 0
    public var speculativeMethod = SpeculativeMethod.ngram
    /// Speculate only while at most this many requests decode: verifying drafts costs arithmetic, which a single
    /// sequence's step (bound by reading the weights) has to spare and a large batch has not.
    public var speculativeMaxRunning = 4

    public init(maxNumBatchedTokens: Int = 2048, maxNumSeqs: Int = 64, policy: Policy = .fcfs, speculativeTokens: Int = 0,
                speculativeMethod: SpeculativeMethod = .ngram, speculativeMaxRunning: Int = 4) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.policy = policy
        self.speculativeTokens = speculativeTokens
        self.speculativeMethod = speculativeMethod
        self.speculativeMaxRunning = speculativeMaxRunning
    }
}

/// What one step runs: for each scheduled request, how many of its tokens catch up this step.
struct SchedulerOutput {
    struct Item {
        let request: RequestState
        let start: Int
        /// Tokens run, drafts included.
        let count: Int
        /// Draft tokens after the request's last one, verified in this step (speculative decoding): positions
        /// tokens.count ..< start + count.
        var drafts: [Int] = []
        /// True when the chunk reaches the request's last token, so a new token is sampled.
        var samples: Bool { start + count - drafts.count == request.tokens.count }
    }
    var items: [Item] = []
    var preempted: [RequestState] = []
    var tokenCount: Int { items.reduce(0) { $0 + $1.count } }
}

/// The one scheduling rule (vLLM V1): every step, each running request's computed-token count catches
/// up towards its token count, within a token budget. Chunked prefill, prefix-cache hits and decode
/// all fall out of it. When blocks run out, the lowest-priority (or newest) request is preempted by
/// recompute.
final class Scheduler {
    let config: SchedulerConfiguration
    private(set) var kv: KVCacheManager
    private(set) var waiting: [RequestState] = []
    private(set) var running: [RequestState] = []
    private(set) var preemptionCount = 0

    /// Where drafts come from, when speculative decoding is on and the model's cache can take rejected positions.
    enum Drafts {
        case ngram(NGramProposer)
        /// The engine's MTP pass leaves each decoding request's draft in `RequestState.mtpDraft`.
        case mtp(tokens: Int)
    }
    let drafts: Drafts?
    private(set) var draftTokens = 0
    private(set) var acceptedDraftTokens = 0

    /// `speculates`: whether the model may write positions that are then rejected (a uniform cache, where a later
    /// write simply replaces them; not a compressing one).
    init(config: SchedulerConfiguration, kv: KVCacheManager, speculates: Bool = true) {
        self.config = config
        self.kv = kv
        switch config.speculativeMethod {
        case _ where config.speculativeTokens == 0 || !speculates: drafts = nil
        case .ngram: drafts = .ngram(NGramProposer(tokens: config.speculativeTokens))
        case .mtp: drafts = .mtp(tokens: config.speculativeTokens)
        }
    }

    var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    func add(_ r: RequestState) {
        r.status = .waiting
        insertWaiting(r)
    }

    /// Waiting order: arrival (FCFS), or priority then arrival; the requests of one API request (`batchIndex`) take
    /// turns with the others': its second waits behind every other API request's first.
    private func insertWaiting(_ r: RequestState) {
        let before: (RequestState, RequestState) -> Bool = config.policy == .priority
            ? { ($0.request.priority, $0.request.batchIndex, $0.arrival) < ($1.request.priority, $1.request.batchIndex, $1.arrival) }
            : { ($0.request.batchIndex, $0.arrival) < ($1.request.batchIndex, $1.arrival) }
        let i = waiting.firstIndex { before(r, $0) } ?? waiting.count
        waiting.insert(r, at: i)
    }

    func schedule() -> SchedulerOutput {
        var out = SchedulerOutput()
        var budget = config.maxNumBatchedTokens
        scheduleRunning(&out, budget: &budget)
        if out.preempted.isEmpty { scheduleWaiting(&out, budget: &budget) }
        return out
    }

    private func scheduleRunning(_ out: inout SchedulerOutput, budget: inout Int) {
        var i = 0
        let speculating = drafts != nil && running.count <= config.speculativeMaxRunning
        while i < running.count, budget > 0 {
            let r = running[i]
            if speculating, let item = speculativeItem(r, budget: budget) {
                out.items.append(item)
                budget -= item.count
                i += 1
                continue
            }
            let n = min(r.remaining, budget, r.stepLimit)
            guard n > 0 else { i += 1; continue }
            var scheduled = true
            while !kv.allocate(r.id, totalTokens: r.computed + n) {
                let victim = pickVictim(from: i)
                preempt(victim)
                out.preempted.append(victim)
                if victim === r { scheduled = false; break }
            }
            guard scheduled else { continue }   // r left `running`; index i now holds the next one
            out.items.append(.init(request: r, start: r.computed, count: n))
            budget -= n
            i += 1
        }
    }

    /// A decoding request's last token plus the drafts the proposer finds for it, when there are some and their
    /// blocks are spare (`reserve`: a draft never causes a preemption).
    private func speculativeItem(_ r: RequestState, budget: Int) -> SchedulerOutput.Item? {
        guard let source = self.drafts, r.remaining == 1, r.request.pooling == nil, !r.generation.generated.isEmpty else { return nil }
        let limit = min(draftLimit(r), budget - 1)
        guard limit > 0 else { return nil }
        let drafts: [Int]
        switch source {
        case .ngram(let proposer): drafts = proposer.propose(r.tokens, limit: limit)
        case .mtp(let most):
            // A draft is for the token after the request's last one: one made before a later token came is stale.
            guard let d = r.mtpDraft, d.position == r.tokens.count else { return nil }
            drafts = Array(d.tokens.prefix(min(most, limit)))
        }
        guard !drafts.isEmpty, reserve(r, totalTokens: r.computed + 1 + drafts.count) else { return nil }
        draftTokens += drafts.count
        return SchedulerOutput.Item(request: r, start: r.computed, count: 1 + drafts.count, drafts: drafts)
    }

    /// Most drafts a decoding request can verify in one step: room for them and the token after them within its
    /// max_tokens and the model's context.
    func draftLimit(_ r: RequestState) -> Int {
        let g = r.generation
        return min(r.request.sampling.maxTokens - g.generated.count, g.contextLength - r.tokens.count) - 1
    }

    /// Blocks for a decoding request's positions up to `totalTokens` ahead of its own need (drafts, an MTP guess's
    /// cache entry), only while every running request could still take a block after them: a draft must not make a
    /// step preempt a request that needed the block.
    func reserve(_ r: RequestState, totalTokens: Int) -> Bool {
        let needed = max(0, (totalTokens + kv.blockSize - 1) / kv.blockSize - kv.blockTable(r.id).count)
        guard needed == 0 || kv.freeBlockCount - needed >= running.count else { return false }
        return kv.allocate(r.id, totalTokens: totalTokens)
    }

    /// After a speculative item's verification: `accepted` of its drafts matched what was sampled, so their positions
    /// hold the sequence's own keys and values (`didRun` counted the item's first token only).
    func accepted(_ accepted: Int, of item: SchedulerOutput.Item) {
        guard accepted > 0 else { return }
        acceptedDraftTokens += accepted
        let r = item.request
        r.computed += accepted
        kv.cacheFullBlocks(r.id, tokens: r.tokens, computed: r.computed, extraKeys: r.extraKeys, promptLength: r.request.promptTokenIDs.count)
    }

    private func scheduleWaiting(_ out: inout SchedulerOutput, budget: inout Int) {
        while budget > 0, running.count < config.maxNumSeqs, let r = waiting.first {
            // A fresh (or recomputed) request looks its prompt up, unless it needs every prompt row (its logprobs, or
            // a mean of its hidden states).
            let looksUpPrefix = r.computed == 0 && r.request.promptLogprobs == nil && r.request.pooling != .mean
            var prefix = KVCacheManager.CachedPrefix()
            if looksUpPrefix {
                prefix = kv.cachedPrefix(r.tokens, extraKeys: r.extraKeys, promptLength: r.request.promptTokenIDs.count)
            }
            let start = prefix.tokens
            let n = min(r.tokens.count - start, budget, r.stepLimit)
            guard kv.allocate(r.id, totalTokens: start + n, prefix: prefix) else { break }
            if looksUpPrefix, kv.prefixCaching {
                kv.recordPrefixQuery(tokens: r.tokens.count, hit: start)
            }
            if r.status == .waiting { r.generation.cachedPromptTokens = start }
            r.computed = start
            waiting.removeFirst()
            r.status = .running
            running.append(r)
            out.items.append(.init(request: r, start: start, count: n))
            budget -= n
        }
    }

    /// Lowest priority (largest value), newest first among equals — among the requests not yet
    /// scheduled this step (`running[from...]`), so a chunk already in the step never loses its blocks.
    private func pickVictim(from: Int) -> RequestState {
        running[from...].max { ($0.request.priority, $0.arrival) < ($1.request.priority, $1.arrival) }!
    }

    private func preempt(_ r: RequestState) {
        running.removeAll { $0 === r }
        kv.free(r.id)
        r.computed = 0
        r.status = .preempted
        r.preemptions += 1
        preemptionCount += 1
        insertWaiting(r)
    }

    /// After the model ran `out`: advance computed counts and register newly full blocks.
    func didRun(_ out: SchedulerOutput) {
        for item in out.items {
            // Drafts count once verified (`accepted`).
            item.request.computed += item.count - item.drafts.count
            kv.cacheFullBlocks(item.request.id, tokens: item.request.tokens, computed: item.request.computed, extraKeys: item.request.extraKeys,
                               promptLength: item.request.request.promptTokenIDs.count)
        }
    }

    /// Removes a finished or aborted request and frees its blocks.
    func finish(_ r: RequestState) {
        running.removeAll { $0 === r }
        waiting.removeAll { $0 === r }
        kv.free(r.id)
        r.status = .finished
    }

    func request(_ id: String) -> RequestState? {
        running.first { $0.id == id } ?? waiting.first { $0.id == id }
    }
}
