import Engine

/// Prometheus text exposition (format 0.0.4) of engine metrics.
enum MetricsExposition {
    static func render(_ s: EngineMetrics.Snapshot, modelID: String) -> String {
        var out = ""
        let label = "model=\"\(escape(modelID))\""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name){\(label)\(labels.isEmpty ? "" : ",\(labels)")} \(format(v))\n" }
        }
        metric("moeserve_requests_running", "gauge", "Requests with KV blocks in the running batch.", [("", Double(s.running))])
        metric("moeserve_requests_waiting", "gauge", "Requests queued or preempted.", [("", Double(s.waiting))])
        metric("moeserve_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks referenced by requests.", [("", s.kvUsage)])
        metric("moeserve_kv_cache_blocks", "gauge", "KV blocks in the pool.", [("", Double(s.kvBlocksTotal))])
        metric("moeserve_preemptions_total", "counter", "Requests preempted by recompute.", [("", Double(s.preemptions))])
        metric("moeserve_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.", [("", Double(s.prefixQueryTokens))])
        metric("moeserve_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.", [("", Double(s.prefixHitTokens))])
        metric("moeserve_requests_total", "counter", "Requests accepted by the engine.", [("", Double(s.requestsArrived))])
        metric("moeserve_requests_finished_total", "counter", "Requests finished, by reason.",
               s.requestsFinished.sorted { $0.key < $1.key }.map { ("reason=\"\($0.key)\"", Double($0.value)) })
        metric("moeserve_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", [("", Double(s.promptTokens))])
        metric("moeserve_generation_tokens_total", "counter", "Tokens generated.", [("", Double(s.generatedTokens))])
        metric("moeserve_engine_steps_total", "counter", "Engine steps run.", [("", Double(s.steps))])
        metric("moeserve_engine_step_seconds_total", "counter", "Time spent in engine steps.", [("", s.stepSeconds)])
        histogram(&out, "moeserve_time_to_first_token_seconds", "Time from arrival to first token.", s.timeToFirstToken, label)
        histogram(&out, "moeserve_inter_token_latency_seconds", "Time between consecutive tokens of a request.", s.interTokenLatency, label)
        histogram(&out, "moeserve_e2e_request_latency_seconds", "Time from arrival to finish.", s.endToEndLatency, label)
        if s.simulated {
            metric("moeserve_simulated_step_seconds_total", "counter", "Simulated device time of engine steps.", [("", s.simulatedStepSeconds)])
            histogram(&out, "moeserve_simulated_time_to_first_token_seconds", "Simulated device time from arrival to first token.",
                      s.simulatedTimeToFirstToken, label)
            histogram(&out, "moeserve_simulated_time_per_output_token_seconds", "Simulated device time between consecutive tokens of a request.",
                      s.simulatedTimePerOutputToken, label)
        }
        return out
    }

    static func histogram(_ out: inout String, _ name: String, _ help: String, _ h: Histogram, _ label: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (i, b) in h.bounds.enumerated() {
            cumulative += h.counts[i]
            out += "\(name)_bucket{\(label),le=\"\(format(b))\"} \(cumulative)\n"
        }
        out += "\(name)_bucket{\(label),le=\"+Inf\"} \(h.count)\n"
        out += "\(name)_sum{\(label)} \(format(h.sum))\n\(name)_count{\(label)} \(h.count)\n"
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
