import CoreMetrics
import Engine
import Foundation
import HTTPCore
import Prometheus

/// What `/metrics` exposes: the engine's metrics (recorded through swift-metrics into `registry`),
/// HTTP requests by status, and process metrics (read at scrape time).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: CatalogMetricsFactory
    private let started = Date()
    private let residentMemory: Prometheus.Gauge
    private let uptime: Prometheus.Gauge

    init() {
        factory = CatalogMetricsFactory(registry: registry)
        residentMemory = factory.makeRecorder(label: MetricCatalog.residentMemory, dimensions: [], aggregate: false) as! Prometheus.Gauge
        uptime = factory.makeRecorder(label: MetricCatalog.uptime, dimensions: [], aggregate: false) as! Prometheus.Gauge
        let start = factory.makeRecorder(label: MetricCatalog.startTime, dimensions: [], aggregate: false)
        start.record(started.timeIntervalSince1970)
    }

    /// Makes this registry the process-wide swift-metrics backend (once, from `main`), so libraries
    /// that record through swift-metrics show up in `/metrics` too.
    func bootstrap() { MetricsSystem.bootstrap(factory) }

    /// The engine's metrics, labelled with the served model as vLLM labels them.
    func engineMetrics(modelID: String) -> EngineMetrics {
        EngineMetrics(labels: [("model_name", modelID)], factory: factory)
    }

    /// Counts every answered HTTP request by status (the access-log hook of `HTTPServer`).
    var accessObserver: HTTPAccessObserver {
        let factory = self.factory
        return { _, _, status, _ in
            factory.makeCounter(label: MetricCatalog.httpRequests, dimensions: [("status", String(status))]).increment(by: 1)
        }
    }

    /// The Prometheus text exposition, process gauges refreshed first.
    func exposition() -> [UInt8] {
        if let rss = Self.residentMemoryBytes() { residentMemory.set(Double(rss)) }
        uptime.set(Date().timeIntervalSince(started))
        return registry.emitToBuffer()
    }

    /// Resident set size from /proc/self/statm (pages × page size); nil where there is no /proc.
    static func residentMemoryBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
