/// Limits of one engine step.
public struct SchedulerConfiguration: Sendable, Equatable {
    public enum Policy: String, Sendable { case fcfs, priority }
    /// Most tokens (prefill chunks + decodes) in one step.
    public var maxNumBatchedTokens = 2048
    /// Most requests running at once.
    public var maxNumSeqs = 64
    public var policy = Policy.fcfs

    public init(maxNumBatchedTokens: Int = 2048, maxNumSeqs: Int = 64, policy: Policy = .fcfs) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.policy = policy
    }
}

/// What one step runs: for each scheduled request, how many of its tokens catch up this step.
struct SchedulerOutput {
    struct Item {
        let request: RequestState
        let start: Int
        let count: Int
        /// True when the chunk reaches the request's last token, so a new token is sampled.
        var samples: Bool { start + count == request.tokens.count }
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

    init(config: SchedulerConfiguration, kv: KVCacheManager) {
        self.config = config
        self.kv = kv
    }

    var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    func add(_ r: RequestState) {
        r.status = .waiting
        insertWaiting(r)
    }

    /// Waiting order: arrival (FCFS), or priority then arrival.
    private func insertWaiting(_ r: RequestState) {
        let before: (RequestState, RequestState) -> Bool = config.policy == .priority
            ? { ($0.request.priority, $0.arrival) < ($1.request.priority, $1.arrival) }
            : { $0.arrival < $1.arrival }
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
        while i < running.count, budget > 0 {
            let r = running[i]
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
            item.request.computed += item.count
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
