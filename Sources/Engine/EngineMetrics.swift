import Foundation

/// A cumulative histogram with fixed upper bounds (Prometheus style).
public struct Histogram: Sendable, Equatable {
    public let bounds: [Double]
    /// counts[i] = observations ≤ bounds[i] (not cumulative); the last slot is +Inf.
    public private(set) var counts: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ v: Double) {
        let i = bounds.firstIndex { v <= $0 } ?? bounds.count
        counts[i] += 1
        sum += v
        count += 1
    }

    /// Latency buckets in seconds, 1 ms … 60 s.
    public static let latency: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    /// Simulated-device latency buckets, 10 µs … 10 s (a simulated NPU step is often well under 1 ms).
    public static let simulatedLatency: [Double] = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1, 10]
}

/// Engine counters, gauges and latency histograms for the API layer (`/metrics`), updated on the
/// engine thread and read from any thread.
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
        public var promptTokens = 0
        public var generatedTokens = 0
        public var tokensProcessed = 0
        public var stepSeconds = 0.0
        public var timeToFirstToken = Histogram(bounds: Histogram.latency)
        public var interTokenLatency = Histogram(bounds: Histogram.latency)
        public var endToEndLatency = Histogram(bounds: Histogram.latency)
        /// Simulated device time (only on a simulated device; `simulated` says whether there is one).
        public var simulated = false
        public var simulatedStepSeconds = 0.0
        public var simulatedTimeToFirstToken = Histogram(bounds: Histogram.simulatedLatency)
        public var simulatedTimePerOutputToken = Histogram(bounds: Histogram.simulatedLatency)

        public init() {}
    }

    private let lock = NSLock()
    private var s = Snapshot()

    public init() {}

    public var snapshot: Snapshot { lock.lock(); defer { lock.unlock() }; return s }

    private func update(_ body: (inout Snapshot) -> Void) {
        lock.lock()
        body(&s)
        lock.unlock()
    }

    func setBlocksTotal(_ n: Int) { update { $0.kvBlocksTotal = n } }
    func setSimulated(_ simulated: Bool) { update { $0.simulated = simulated } }
    /// A token's latency on the simulated clock: from arrival (first token) or from the previous token.
    func simulatedTokenEmitted(first: Bool, seconds: Double) {
        update {
            if first { $0.simulatedTimeToFirstToken.observe(seconds) } else { $0.simulatedTimePerOutputToken.observe(seconds) }
        }
    }
    func requestArrived(promptTokens: Int) { update { $0.requestsArrived += 1; $0.promptTokens += promptTokens } }
    func requestFinished(reason: FinishReason, seconds: Double) {
        update {
            $0.requestsFinished[reason.rawValue, default: 0] += 1
            $0.endToEndLatency.observe(seconds)
        }
    }
    func tokenEmitted(first: Bool, seconds: Double) {
        update {
            $0.generatedTokens += 1
            if first { $0.timeToFirstToken.observe(seconds) } else { $0.interTokenLatency.observe(seconds) }
        }
    }

    func setGauges(running: Int, waiting: Int, kvUsage: Double) {
        update {
            $0.running = running
            $0.waiting = waiting
            $0.kvUsage = kvUsage
        }
    }

    func stepRan(tokens: Int, seconds: Double, simulatedSeconds: Double? = nil, running: Int, waiting: Int, preempted: Int, kvUsage: Double,
                 prefixQueries: Int, prefixHits: Int) {
        update {
            $0.steps += 1
            $0.simulatedStepSeconds += simulatedSeconds ?? 0
            $0.tokensProcessed += tokens
            $0.stepSeconds += seconds
            $0.running = running
            $0.waiting = waiting
            $0.preemptions += preempted
            $0.kvUsage = kvUsage
            $0.prefixQueryTokens = prefixQueries
            $0.prefixHitTokens = prefixHits
        }
    }
}
