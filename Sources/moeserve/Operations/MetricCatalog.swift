import Engine

/// Every series `/metrics` shows: its `# HELP` text and, for histograms, its buckets (seconds). Names
/// follow vLLM's where vLLM has the metric (`vllm:` → `moeserve:`); process metrics use the names of
/// Prometheus' own client libraries, so standard dashboards find them.
enum MetricCatalog {
    struct Entry {
        let help: String
        var buckets: [Double]? = nil
    }

    static let httpRequests = "moeserve:http_requests_total"
    static let uptime = "moeserve:uptime_seconds"
    static let residentMemory = "process_resident_memory_bytes"
    static let startTime = "process_start_time_seconds"

    // Buckets as vLLM's, so histogram_quantile results compare.
    static let ttftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560]
    static let interTokenBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
    static let requestBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680]
    static let stepBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    static let entries: [String: Entry] = {
        typealias N = EngineMetricName
        return [
            N.running: Entry(help: "Number of requests in the running batch."),
            N.waiting: Entry(help: "Number of requests waiting to be scheduled (queued or preempted)."),
            N.kvCacheUsage: Entry(help: "KV-cache usage: fraction (0-1) of KV blocks referenced by requests."),
            N.prefixCacheQueries: Entry(help: "Prompt tokens looked up in the prefix cache."),
            N.prefixCacheHits: Entry(help: "Prompt tokens found in the prefix cache."),
            N.preemptions: Entry(help: "Cumulative number of preemptions (by recompute)."),
            N.specDraftTokens: Entry(help: "Draft tokens proposed by prompt lookup (speculative decoding)."),
            N.specAcceptedTokens: Entry(help: "Draft tokens accepted: the model sampled the same token."),
            N.promptTokens: Entry(help: "Prompt tokens of requests accepted by the engine."),
            N.generationTokens: Entry(help: "Tokens generated."),
            N.requestSuccess: Entry(help: "Requests finished, by finish reason (stop, length, abort)."),
            N.timeToFirstToken: Entry(help: "Seconds from arrival to the first generated token.", buckets: ttftBuckets),
            N.interTokenLatency: Entry(help: "Seconds between consecutive tokens of a request.", buckets: interTokenBuckets),
            N.endToEndLatency: Entry(help: "Seconds from arrival to finish.", buckets: requestBuckets),
            N.queueTime: Entry(help: "Seconds from arrival to first being scheduled.", buckets: requestBuckets),
            N.stepTime: Entry(help: "Wall seconds of one engine step (schedule, forward, sample).", buckets: stepBuckets),
            N.simulatedStepTime: Entry(help: "Simulated device seconds of one engine step (ascend-sim only).", buckets: Histogram.simulatedLatency),
            N.simulatedTimeToFirstToken: Entry(help: "Time to first token on the simulated device's clock (ascend-sim only).", buckets: Histogram.simulatedLatency),
            N.simulatedTimePerOutputToken: Entry(help: "Time per output token on the simulated device's clock (ascend-sim only).", buckets: Histogram.simulatedLatency),
            httpRequests: Entry(help: "HTTP requests answered, by status code."),
            uptime: Entry(help: "Seconds since the server started."),
            residentMemory: Entry(help: "Resident memory size in bytes."),
            startTime: Entry(help: "Start time of the process since the Unix epoch in seconds."),
        ]
    }()
}
