import Foundation
import Testing
@testable import Device

/// The simulated NPU's clock and HBM accounting.
@Suite struct AscendSimClockTests {
    func upload(_ device: AscendSimDevice, _ shape: [Int], name: String = "w") throws -> DeviceWeight {
        let count = shape.reduce(1, *)
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, count * 4), alignment: 16)
        defer { bytes.deallocate() }
        bytes.initializeMemory(as: Float.self, repeating: 0.25)
        return try device.upload(HostTensor(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawBufferPointer(bytes), owner: nil))
    }

    @Test func everyOpAdvancesTheClockByItsCost() throws {
        let sim = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: .bf16, graphMode: false))
        let w = try upload(sim, [64, 32])
        #expect(sim.clock.read().kernels == 0, "upload is not a kernel on the step clock")
        let x = Matrix(rows: 5, cols: 32, data: Array(repeating: 0.5, count: 160))
        _ = sim.matmul(x, w)
        let expected = sim.costModel.cost(CostOp("mm", .matmul(m: 5, n: 64, k: 32, a: .bf16, b: .bf16, out: .fp32)))
        let after = sim.clock.read()
        #expect(after.kernels == 1 && abs(after.seconds - expected.total) < 1e-15)
        #expect(after.seconds >= 5e-6, "eager mode pays the 910B2's launch cost")
        #expect(after.flops == 2 * 5 * 64 * 32)
        for (pipe, t) in expected.pipes { #expect(abs(after.pipes[pipe, default: 0] - t) < 1e-15) }
        _ = sim.siluMul(gate: x, up: x)
        var y = x
        sim.add(&y, x)
        #expect(sim.clock.read().kernels == 3 && sim.clock.seconds > after.seconds)
        #expect(sim.simulatedClock === sim.clock)
        #expect(CPUDevice().simulatedClock == nil)
    }

    @Test func w8a8MatmulRunsAtTheInt8RateAndPaysForActivationQuantisation() throws {
        let sim = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: .w8a8, graphMode: true))
        let w = try upload(sim, [4096, 4096])
        _ = sim.matmul(Matrix(rows: 1, cols: 4096, data: Array(repeating: 1, count: 4096)), w)
        let r = sim.clock.read()
        #expect(r.kernels == 2, "per-token quantisation + the int8 matmul")
        let mm = sim.costModel.cost(CostOp("mm", .matmul(m: 1, n: 4096, k: 4096, a: .int8, b: .int8, out: .fp32)))
        #expect(r.seconds > mm.total)
    }

    @Test func weightsBeyondHBMAreAnOutOfMemoryError() throws {
        var tiny = AscendProfile.ascend910B2
        tiny.hbmCapacity = Sourced(1e6, "test: 1 MB")
        let sim = AscendSimDevice(AscendSimConfiguration(profile: tiny, precision: .bf16, workspaceBytes: 0))
        _ = try upload(sim, [512, 512])           // 512 KB in bf16 NZ
        #expect(sim.memory.weights == 512 * 512 * 2)
        #expect(throws: SimulationError.self) { _ = try upload(sim, [512, 512]) }
        #expect(sim.memory.weights == 512 * 512 * 2, "a failed upload allocates nothing")
        do {
            try sim.reserveKVCache(layers: 2, blockCount: 200, blockSize: 16, width: 64)   // 819.2 KB bf16
            Issue.record("expected out of memory")
        } catch let e as SimulationError {
            #expect("\(e)".contains("out of device memory") && "\(e)".contains("KV"))
        }
        try sim.reserveKVCache(layers: 2, blockCount: 50, blockSize: 16, width: 64)
        #expect(sim.memory.kvCache == 2 * 50 * 16 * 64 * 2)
        #expect(throws: Never.self) { try CPUDevice().reserveKVCache(layers: 1000, blockCount: 1 << 20, blockSize: 16, width: 1024) }
    }

    @Test func paddingCountsTowardsMemory() throws {
        let sim = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: .bf16))
        _ = try upload(sim, [17, 20])     // pads to 32 rows × 32 columns of bf16
        #expect(sim.memory.weights == 32 * 32 * 2)
        _ = try upload(sim, [20])         // 1-D: 20 bf16 values
        #expect(sim.memory.weights == 32 * 32 * 2 + 40)
    }
}
