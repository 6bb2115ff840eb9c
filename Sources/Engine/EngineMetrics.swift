import Foundation

/// Engine counters and gauges for the API layer (`/metrics`), updated on the engine thread and read
/// from any thread.
public final class EngineMetrics: @unchecked Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var running = 0
        public var waiting = 0
        public var kvBlocksTotal = 0
        public var kvUsage = 0.0
        public var preemptions = 0
        public var prefixQueryTokens = 0
        public var prefixHitTokens = 0
        public var requestsArrived = 0
        public var requestsFinished: [String: Int] = [:]
        public var steps = 0
        public var tokensProcessed = 0
        public var stepSeconds = 0.0
    }

    private let lock = NSLock()
    private var s = Snapshot()

    var kvBlocksTotal: Int {
        get { snapshot.kvBlocksTotal }
        set { lock.lock(); s.kvBlocksTotal = newValue; lock.unlock() }
    }

    public var snapshot: Snapshot { lock.lock(); defer { lock.unlock() }; return s }

    func requestArrived() { lock.lock(); s.requestsArrived += 1; s.waiting += 1; lock.unlock() }

    func requestFinished(reason: FinishReason) {
        lock.lock()
        s.requestsFinished[reason.rawValue, default: 0] += 1
        lock.unlock()
    }

    func stepRan(tokens: Int, seconds: Double, running: Int, waiting: Int, preempted: Int, kvUsage: Double,
                 prefixQueries: Int, prefixHits: Int) {
        lock.lock()
        s.steps += 1
        s.tokensProcessed += tokens
        s.stepSeconds += seconds
        s.running = running
        s.waiting = waiting
        s.preemptions += preempted
        s.kvUsage = kvUsage
        s.prefixQueryTokens = prefixQueries
        s.prefixHitTokens = prefixHits
        lock.unlock()
    }
}
