import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// Simulated-device timings in `usage.simulated` and in /metrics, only when the device is simulated.
@Suite struct SimulatedUsageTests {
    func object(_ v: JSONValue) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(v.serialized().utf8)) as? [String: Any])
    }

    @Test func usageCarriesSimulatedMillisecondsOnlyWhenPresent() throws {
        var u = Usage(promptTokens: 5, completionTokens: 3)
        #expect(try object(CompletionHeader.usageJSON(u))["simulated"] == nil)
        u.simulated = SimulatedTimings(timeToFirstToken: 0.0125, timePerOutputToken: 0.002, total: 0.0165)
        let sim = try #require(try object(CompletionHeader.usageJSON(u))["simulated"] as? [String: Double])
        #expect(sim == ["ttft_ms": 12.5, "tpot_ms": 2, "total_ms": 16.5])
        u.simulated = SimulatedTimings(timeToFirstToken: 0.001, timePerOutputToken: nil, total: 0.001)
        let one = try #require(try object(CompletionHeader.usageJSON(u))["simulated"] as? [String: Double])
        #expect(one["tpot_ms"] == nil && one["ttft_ms"] == 1)
    }

    @Test func metricsExportSimulatedTimingsBesideWallClock() {
        var s = EngineMetrics.Snapshot()
        #expect(!MetricsExposition.render(s, modelID: "m").contains("simulated"))
        s.simulated = true
        s.simulatedStepSeconds = 0.25
        s.simulatedTimeToFirstToken.observe(0.003)
        let text = MetricsExposition.render(s, modelID: "m")
        #expect(text.contains("moeserve_simulated_step_seconds_total{model=\"m\"} 0.25"))
        #expect(text.contains("moeserve_simulated_time_to_first_token_seconds_count{model=\"m\"} 1"))
        #expect(text.contains("moeserve_simulated_time_per_output_token_seconds_bucket"))
        #expect(text.contains("moeserve_time_to_first_token_seconds_count"), "wall-clock metrics stay")
    }
}
