import Device
@testable import Engine
import Foundation
import Logging
import Model
import Testing
@testable import moeserve

/// A model with no weights: the next token is (last + 1) mod vocab. Enough to drive the engine.
final class NextTokenModel: LanguageModel, @unchecked Sendable {
    let vocabularySize = 40
    let hiddenSize = 1
    let contextLength = 256
    let device: any Device = CPUDevice()
    let cacheLayout = KVCacheLayout(layers: 1, width: 1)

    func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        var rows: [Float] = []
        for ch in batch.chunks where ch.logits != .none {
            var row = [Float](repeating: 0, count: vocabularySize)
            row[(ch.tokens.last! + 1) % vocabularySize] = 10
            rows += row
        }
        return Matrix(rows: rows.count / vocabularySize, cols: vocabularySize, data: rows)
    }
}

/// `/metrics` after a few real engine requests: names (vLLM's, `moeserve:`-prefixed), types, HELP,
/// and values that follow from what was run.
@Suite struct MetricsExpositionTests {
    /// Runs `prompts` through an engine recording into `metrics`, each to `maxTokens` tokens.
    func run(_ prompts: [[Int]], maxTokens: Int, metrics: ServerMetrics) {
        let engineMetrics = metrics.engineMetrics(modelID: "m1")
        let engine = EngineLoop(model: NextTokenModel(), decodeBytes: { $0.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: [],
                                configuration: EngineConfiguration(blockSize: 4, kvCacheBytes: 64 << 10), logger: Logger(label: "test"),
                                metrics: engineMetrics)
        engine.start()
        defer { engine.shutdown() }
        let done = DispatchGroup()
        for (i, p) in prompts.enumerated() {
            done.enter()
            engine.submit(EngineRequest(id: "r\(i)", promptTokenIDs: p, sampling: SamplingParams(temperature: 0, maxTokens: maxTokens))) { e in
                if case .finished = e { done.leave() }
                if case .failed = e { done.leave() }
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        // The engine records a request's end just after delivering its last event: wait for the step to end.
        for _ in 0..<2000 where engineMetrics.snapshot.requestsFinished.values.reduce(0, +) < prompts.count || engineMetrics.snapshot.running > 0 {
            usleep(5_000)
        }
    }

    @Test func namesTypesAndValuesAfterRequests() throws {
        let metrics = ServerMetrics()
        let prompts = [[1, 2, 3], [5, 6, 7, 8, 9], [1, 2, 3]]
        run(prompts, maxTokens: 4, metrics: metrics)
        metrics.accessObserver("GET", "/health", 200, 0.001)
        metrics.accessObserver("POST", "/v1/chat/completions", 200, 0.5)
        metrics.accessObserver("POST", "/v1/chat/completions", 400, 0.001)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let p = try PrometheusText(text)

        let expected: [String: String] = [
            "moeserve:num_requests_running": "gauge", "moeserve:num_requests_waiting": "gauge",
            "moeserve:kv_cache_usage_perc": "gauge", "moeserve:prefix_cache_queries_total": "counter",
            "moeserve:prefix_cache_hits_total": "counter", "moeserve:num_preemptions_total": "counter",
            "moeserve:prompt_tokens_total": "counter", "moeserve:generation_tokens_total": "counter",
            "moeserve:request_success_total": "counter", "moeserve:time_to_first_token_seconds": "histogram",
            "moeserve:inter_token_latency_seconds": "histogram", "moeserve:e2e_request_latency_seconds": "histogram",
            "moeserve:request_queue_time_seconds": "histogram", "moeserve:engine_step_seconds": "histogram",
            "moeserve:http_requests_total": "counter", "moeserve:uptime_seconds": "gauge",
            "process_resident_memory_bytes": "gauge", "process_start_time_seconds": "gauge",
        ]
        for (name, type) in expected { #expect(p.types[name] == type, "\(name)") }
        // Every sample belongs to a family with TYPE and a non-empty HELP.
        for s in p.samples {
            let family = p.family(of: s.name)
            #expect(p.types[family] != nil, "\(s.name) has no TYPE")
            #expect(!(p.helps[family] ?? "").isEmpty, "\(s.name) has no HELP")
        }
        // Only simulated devices record a simulated step time.
        #expect(p.types["moeserve:simulated_step_seconds"] == nil)

        let m = ["model_name": "m1"]
        #expect(p.value("moeserve:prompt_tokens_total", m) == Double(prompts.map(\.count).reduce(0, +)))
        #expect(p.value("moeserve:generation_tokens_total", m) == 12)
        #expect(p.value("moeserve:request_success_total", m.merging(["finished_reason": "length"]) { a, _ in a }) == 3)
        #expect(p.value("moeserve:request_success_total", m.merging(["finished_reason": "abort"]) { a, _ in a }) == 0)
        #expect(p.value("moeserve:num_requests_running", m) == 0)
        #expect(p.value("moeserve:num_requests_waiting", m) == 0)
        // One first token per request; the other 3 tokens of each are inter-token gaps.
        #expect(p.value("moeserve:time_to_first_token_seconds_count", m) == 3)
        #expect(p.value("moeserve:inter_token_latency_seconds_count", m) == 9)
        #expect(p.value("moeserve:e2e_request_latency_seconds_count", m) == 3)
        #expect(p.value("moeserve:request_queue_time_seconds_count", m) == 3)
        #expect(p.value("moeserve:time_to_first_token_seconds_bucket", m.merging(["le": "+Inf"]) { a, _ in a }) == 3)
        // Prefix cache: lookups happened; hits never exceed queries.
        let queries = try #require(p.value("moeserve:prefix_cache_queries_total", m))
        let hits = try #require(p.value("moeserve:prefix_cache_hits_total", m))
        #expect(queries > 0 && hits <= queries)
        #expect(p.value("moeserve:http_requests_total", ["status": "200"]) == 2)
        #expect(p.value("moeserve:http_requests_total", ["status": "400"]) == 1)
        #expect(try #require(p.value("process_resident_memory_bytes")) > Double(1 << 20))
        #expect(try #require(p.value("moeserve:uptime_seconds")) >= 0)
        #expect(try #require(p.value("process_start_time_seconds")) > 1.7e9)
    }

    @Test func simulatedStepTimesAppearOnceRecorded() throws {
        let metrics = ServerMetrics()
        let engineMetrics = metrics.engineMetrics(modelID: "m1")
        engineMetrics.simulatedStepRan(seconds: 0.004)
        engineMetrics.simulatedStepRan(seconds: 0.02)
        let p = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(p.types["moeserve:simulated_step_seconds"] == "histogram")
        #expect(p.value("moeserve:simulated_step_seconds_count", ["model_name": "m1"]) == 2)
        let sum = try #require(p.value("moeserve:simulated_step_seconds_sum", ["model_name": "m1"]))
        #expect(abs(sum - 0.024) < 1e-9)
        #expect(p.value("moeserve:simulated_step_seconds_bucket", ["model_name": "m1", "le": "0.005"]) == 1)
        #expect(abs(engineMetrics.snapshot.simulatedStepSeconds - 0.024) < 1e-12)
    }

    @Test func everyEngineMetricIsInTheCatalog() {
        let names = [EngineMetricName.running, EngineMetricName.waiting, EngineMetricName.kvCacheUsage, EngineMetricName.prefixCacheQueries,
                     EngineMetricName.prefixCacheHits, EngineMetricName.preemptions, EngineMetricName.promptTokens,
                     EngineMetricName.generationTokens, EngineMetricName.requestSuccess, EngineMetricName.timeToFirstToken,
                     EngineMetricName.interTokenLatency, EngineMetricName.endToEndLatency, EngineMetricName.queueTime,
                     EngineMetricName.stepTime, EngineMetricName.simulatedStepTime]
        for n in names { #expect(MetricCatalog.entries[n] != nil, "\(n)") }
    }

    /// Simulated-device series exist only once a simulated device records into them, beside the wall-clock ones.
    @Test func simulatedTimingsAppearOnlyOnASimulatedDevice() throws {
        let metrics = ServerMetrics()
        let engineMetrics = metrics.engineMetrics(modelID: "m2")
        var p = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        #expect(p.types.keys.allSatisfy { !$0.contains("simulated") })
        engineMetrics.setSimulated(true)
        engineMetrics.simulatedStepRan(seconds: 0.0004)
        engineMetrics.simulatedTokenEmitted(first: true, seconds: 0.003)
        engineMetrics.simulatedTokenEmitted(first: false, seconds: 0.0002)
        engineMetrics.simulatedTokenEmitted(first: false, seconds: 0.0003)
        p = try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
        for name in ["moeserve:simulated_step_seconds", "moeserve:simulated_time_to_first_token_seconds",
                     "moeserve:simulated_time_per_output_token_seconds"] {
            #expect(p.types[name] == "histogram", "\(name)")
            #expect(!(p.helps[name] ?? "").isEmpty, "\(name) has HELP")
        }
        let counts = p.samples.filter { $0.name == "moeserve:simulated_time_per_output_token_seconds_count" }
        #expect(counts.map(\.value) == [2])
        #expect(p.types["moeserve:time_to_first_token_seconds"] == "histogram", "wall-clock metrics stay")
        #expect(engineMetrics.snapshot.simulatedTimeToFirstToken.count == 1)
    }
}
