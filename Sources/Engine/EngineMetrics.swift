import CoreMetrics
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

/// Names of the engine's metrics: vLLM's names (`vllm:` → `moeserve:`) where vLLM has one, so
/// dashboards and alerts written for vLLM carry over. Labels: `model_name`, and `finished_reason` on
/// `requestSuccess`.
public enum EngineMetricName {
    public static let running = "moeserve:num_requests_running"
    public static let waiting = "moeserve:num_requests_waiting"
    /// Fraction (0…1) of KV blocks referenced by requests.
    public static let kvCacheUsage = "moeserve:kv_cache_usage_perc"
    public static let prefixCacheQueries = "moeserve:prefix_cache_queries_total"
    public static let prefixCacheHits = "moeserve:prefix_cache_hits_total"
    public static let preemptions = "moeserve:num_preemptions_total"
    /// Speculative decoding: draft tokens proposed, and those the model's own sampling agreed with.
    public static let specDraftTokens = "moeserve:spec_decode_num_draft_tokens_total"
    public static let specAcceptedTokens = "moeserve:spec_decode_num_accepted_tokens_total"
    public static let promptTokens = "moeserve:prompt_tokens_total"
    public static let generationTokens = "moeserve:generation_tokens_total"
    public static let requestSuccess = "moeserve:request_success_total"
    public static let timeToFirstToken = "moeserve:time_to_first_token_seconds"
    public static let interTokenLatency = "moeserve:inter_token_latency_seconds"
    public static let endToEndLatency = "moeserve:e2e_request_latency_seconds"
    public static let queueTime = "moeserve:request_queue_time_seconds"
    /// Wall time of one engine step (scheduling + forward + sampling).
    public static let stepTime = "moeserve:engine_step_seconds"
    /// Simulated device time of one step, when the device is simulated (ascend-sim).
    public static let simulatedStepTime = "moeserve:simulated_step_seconds"
    /// Simulated time to first token and per output token, on the simulated device's clock (ascend-sim).
    public static let simulatedTimeToFirstToken = "moeserve:simulated_time_to_first_token_seconds"
    public static let simulatedTimePerOutputToken = "moeserve:simulated_time_per_output_token_seconds"
}

/// Engine counters, gauges and latency histograms, updated on the engine thread and read from any
/// thread: as a `Snapshot` (tests, logs) and through swift-metrics (`/metrics`: the backend is whatever
/// `factory` is, bootstrapped by the executable; with none, a no-op).
public final class EngineMetrics: @unchecked Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var running = 0
        public var waiting = 0
        public var kvBlocksTotal = 0
        public var kvUsage = 0.0
        public var preemptions = 0
        public var prefixQueryTokens = 0
        public var prefixHitTokens = 0
        public var draftTokens = 0
        public var acceptedDraftTokens = 0
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
        public var queueTime = Histogram(bounds: Histogram.latency)
        /// Simulated device time (only on a simulated device; `simulated` says whether there is one).
        public var simulated = false
        /// Simulated device seconds summed over steps (0 unless the device is simulated).
        public var simulatedStepSeconds = 0.0
        public var simulatedTimeToFirstToken = Histogram(bounds: Histogram.simulatedLatency)
        public var simulatedTimePerOutputToken = Histogram(bounds: Histogram.simulatedLatency)

        public init() {}
    }

    private let lock = NSLock()
    private var s = Snapshot()
    private let instruments: Instruments

    /// `labels` go on every series (e.g. `[("model_name", id)]`).
    public init(labels: [(String, String)] = [], factory: any MetricsFactory = MetricsSystem.factory) {
        instruments = Instruments(labels: labels, factory: factory)
    }

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
        instruments.simulated(first ? EngineMetricName.simulatedTimeToFirstToken : EngineMetricName.simulatedTimePerOutputToken)
            .recordSeconds(seconds)
    }
    func requestArrived(promptTokens: Int) {
        update { $0.requestsArrived += 1; $0.promptTokens += promptTokens }
        instruments.promptTokens.increment(by: promptTokens)
    }
    func requestFinished(reason: FinishReason, seconds: Double) {
        update {
            $0.requestsFinished[reason.rawValue, default: 0] += 1
            $0.endToEndLatency.observe(seconds)
        }
        instruments.success[reason]?.increment()
        instruments.endToEnd.recordSeconds(seconds)
    }
    func tokenEmitted(first: Bool, seconds: Double) {
        update {
            $0.generatedTokens += 1
            if first { $0.timeToFirstToken.observe(seconds) } else { $0.interTokenLatency.observe(seconds) }
        }
        instruments.generationTokens.increment()
        (first ? instruments.timeToFirstToken : instruments.interTokenLatency).recordSeconds(seconds)
    }
    /// A request was scheduled for the first time, `seconds` after it arrived.
    func requestScheduled(queuedSeconds seconds: Double) {
        update { $0.queueTime.observe(seconds) }
        instruments.queueTime.recordSeconds(seconds)
    }

    func setGauges(running: Int, waiting: Int, kvUsage: Double) {
        update {
            $0.running = running
            $0.waiting = waiting
            $0.kvUsage = kvUsage
        }
        instruments.setGauges(running: running, waiting: waiting, kvUsage: kvUsage)
    }

    func stepRan(tokens: Int, seconds: Double, simulatedSeconds: Double? = nil, running: Int, waiting: Int, preempted: Int, kvUsage: Double,
                 prefixQueries: Int, prefixHits: Int, drafts: Int = 0, acceptedDrafts: Int = 0) {
        var newQueries = 0, newHits = 0, newDrafts = 0, newAccepted = 0
        update {
            newQueries = prefixQueries - $0.prefixQueryTokens
            newHits = prefixHits - $0.prefixHitTokens
            newDrafts = drafts - $0.draftTokens
            newAccepted = acceptedDrafts - $0.acceptedDraftTokens
            $0.draftTokens = drafts
            $0.acceptedDraftTokens = acceptedDrafts
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
        instruments.setGauges(running: running, waiting: waiting, kvUsage: kvUsage)
        instruments.stepTime.recordSeconds(seconds)
        if preempted > 0 { instruments.preemptions.increment(by: preempted) }
        if newQueries > 0 { instruments.prefixQueries.increment(by: newQueries) }
        if newHits > 0 { instruments.prefixHits.increment(by: newHits) }
        if newDrafts > 0 { instruments.specDrafts.increment(by: newDrafts) }
        if newAccepted > 0 { instruments.specAccepted.increment(by: newAccepted) }
        if let simulatedSeconds { instruments.simulated(EngineMetricName.simulatedStepTime).recordSeconds(simulatedSeconds) }
    }

    /// Hook for simulated devices: the device time one step would have taken on the simulated chip.
    /// The series appears in `/metrics` only once something records into it.
    public func simulatedStepRan(seconds: Double) {
        update { $0.simulatedStepSeconds += seconds }
        instruments.simulated(EngineMetricName.simulatedStepTime).recordSeconds(seconds)
    }
}

/// The swift-metrics handles behind `EngineMetrics` (made once; recording through them is lock-free
/// or one short lock in the backend).
private final class Instruments: @unchecked Sendable {
    let running, waiting, kvUsage: Gauge
    let prefixQueries, prefixHits, preemptions, promptTokens, generationTokens, specDrafts, specAccepted: Counter
    let success: [FinishReason: Counter]
    let timeToFirstToken, interTokenLatency, endToEnd, queueTime, stepTime: CoreMetrics.Timer
    private let labels: [(String, String)]
    private let factory: any MetricsFactory
    private let lock = NSLock()
    private var _simulated: [String: CoreMetrics.Timer] = [:]

    init(labels: [(String, String)], factory: any MetricsFactory) {
        typealias N = EngineMetricName
        self.labels = labels
        self.factory = factory
        running = Gauge(label: N.running, dimensions: labels, factory: factory)
        waiting = Gauge(label: N.waiting, dimensions: labels, factory: factory)
        kvUsage = Gauge(label: N.kvCacheUsage, dimensions: labels, factory: factory)
        prefixQueries = Counter(label: N.prefixCacheQueries, dimensions: labels, factory: factory)
        prefixHits = Counter(label: N.prefixCacheHits, dimensions: labels, factory: factory)
        preemptions = Counter(label: N.preemptions, dimensions: labels, factory: factory)
        specDrafts = Counter(label: N.specDraftTokens, dimensions: labels, factory: factory)
        specAccepted = Counter(label: N.specAcceptedTokens, dimensions: labels, factory: factory)
        promptTokens = Counter(label: N.promptTokens, dimensions: labels, factory: factory)
        generationTokens = Counter(label: N.generationTokens, dimensions: labels, factory: factory)
        var success: [FinishReason: Counter] = [:]
        for reason in [FinishReason.stop, .length, .abort] {
            success[reason] = Counter(label: N.requestSuccess, dimensions: labels + [("finished_reason", reason.rawValue)], factory: factory)
        }
        self.success = success
        timeToFirstToken = CoreMetrics.Timer(label: N.timeToFirstToken, dimensions: labels, factory: factory)
        interTokenLatency = CoreMetrics.Timer(label: N.interTokenLatency, dimensions: labels, factory: factory)
        endToEnd = CoreMetrics.Timer(label: N.endToEndLatency, dimensions: labels, factory: factory)
        queueTime = CoreMetrics.Timer(label: N.queueTime, dimensions: labels, factory: factory)
        stepTime = CoreMetrics.Timer(label: N.stepTime, dimensions: labels, factory: factory)
        setGauges(running: 0, waiting: 0, kvUsage: 0)
    }

    func setGauges(running: Int, waiting: Int, kvUsage: Double) {
        self.running.record(running)
        self.waiting.record(waiting)
        self.kvUsage.record(kvUsage)
    }

    /// A simulated-device timer, made on first use so the series exist only on a simulated device.
    func simulated(_ name: String) -> CoreMetrics.Timer {
        lock.lock()
        defer { lock.unlock() }
        if let t = _simulated[name] { return t }
        let t = CoreMetrics.Timer(label: name, dimensions: labels, factory: factory)
        _simulated[name] = t
        return t
    }
}
