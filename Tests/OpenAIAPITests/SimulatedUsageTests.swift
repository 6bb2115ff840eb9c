import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// Simulated-device timings in `usage.simulated`, only when the device is simulated (their /metrics
/// series are checked in MoEServeTests/MetricsExpositionTests).
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
}
