import Device
import Logging
import Model
import Testing
@testable import Engine

/// On a device with a simulated clock, every step's device time is recorded, and each request's usage
/// carries its TTFT/TPOT in simulated time (the fake model costs exactly 1 ms of device time per step).
@Suite struct SimulatedTimingTests {
    func core(_ model: CountingModel) -> EngineCore {
        let config = EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: 16, maxNumSeqs: 8, policy: .fcfs),
                                         blockSize: 4, kvCacheBytes: 64 * 4 * 4)
        return EngineCore(model: model, decodeBytes: { ids in ids.map { UInt8(97 + $0 % 26) } }, stopTokenIDs: [],
                          configuration: config, logger: Logger(label: "test"))
    }

    func request(_ id: String, _ prompt: [Int], max: Int) -> EngineRequest {
        EngineRequest(id: id, promptTokenIDs: prompt, sampling: SamplingParams(temperature: 0, maxTokens: max))
    }

    @Test func usageAndMetricsCarrySimulatedTimings() throws {
        let sim = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2))
        let c = core(CountingModel(vocab: 1000, context: 4096, device: sim))
        let a = Recorder(), b = Recorder()
        c.add(request("a", [1, 2, 3], max: 4), onEvent: a.handler)
        c.step()                                      // a: prompt + first token at 1 ms
        c.add(request("b", Array(100..<120), max: 2), onEvent: b.handler)
        while c.hasWork { c.step() }
        let ua = try #require(a.usage?.simulated), ub = try #require(b.usage?.simulated)
        #expect(ua.timeToFirstToken == 0.001)
        // a decodes once per step: 3 more tokens, 1 ms apart (b's prefill chunks share those steps).
        #expect(abs(ua.timePerOutputToken! - 0.001) < 1e-12 && abs(ua.total - 0.004) < 1e-12)
        // b arrived at 1 ms; its 20-token prompt needs two steps within the 16-token budget (one is shared with a).
        #expect(abs(ub.timeToFirstToken! - 0.002) < 1e-12 && abs(ub.timePerOutputToken! - 0.001) < 1e-12)
        let m = c.metrics.snapshot
        #expect(m.simulated && abs(m.simulatedStepSeconds - Double(m.steps) * 0.001) < 1e-12)
        #expect(m.simulatedTimeToFirstToken.count == 2 && m.simulatedTimePerOutputToken.count == 4)
        #expect(abs(m.simulatedTimeToFirstToken.sum - 0.003) < 1e-12)
    }

    @Test func realHardwareHasNoSimulatedTimings() {
        let c = core(CountingModel(vocab: 1000, context: 4096))
        let a = Recorder()
        c.add(request("a", [1, 2, 3], max: 3), onEvent: a.handler)
        while c.hasWork { c.step() }
        #expect(a.usage != nil && a.usage?.simulated == nil)
        #expect(!c.metrics.snapshot.simulated && c.metrics.snapshot.simulatedStepSeconds == 0)
    }
}
