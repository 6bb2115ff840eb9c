import CMallocCounter
import Device
import Foundation
import Testing
@testable import Model

/// "No allocation in the step loop": a warm decode step takes every tensor and list (op outputs, int8
/// activation blocks, Q8_0 corrections, the step's token, slot and routing lists) from the thread's pools
/// (`ArrayPools`), which allocate nothing more, calls malloc zero times, and gives the logits it gave on
/// fresh buffers (no op reads what an earlier op left in a reused one).
@Suite struct StepAllocationTests {
    typealias F = HuggingFaceParityTests

    static func counts() -> [Int] {
        let p = ArrayPools.current
        return [p.floats.statistics.allocated, p.bytes.statistics.allocated, p.int32s.statistics.allocated,
                p.ints.statistics.allocated, p.int64s.statistics.allocated]
    }

    static func reuses() -> Int {
        let p = ArrayPools.current
        return p.floats.statistics.reused + p.bytes.statistics.reused + p.int32s.statistics.reused + p.ints.statistics.reused
    }

    /// Dense GQA (llama) and MoE with MLA (deepseek_v3), with fp32 weights and fp32 activations, and with
    /// Q8_0 weights and int8 activations (the serving path of generated tokens): a step at the position of
    /// the step before takes every tensor from the pools, which allocate nothing.
    @Test(arguments: ["llama", "deepseek_v3"], [false, true])
    func aWarmDecodeStepAllocatesNoTensor(family: String, int8: Bool) throws {
        let (model, cache, step) = try Self.decoding(family, int8: int8)
        _ = model.forward(step, cache: cache)
        _ = model.forward(step, cache: cache)
        let (allocated, reused) = (Self.counts(), Self.reuses())
        _ = model.forward(step, cache: cache)
        #expect(Self.counts() == allocated, "\(family) int8 \(int8): pools allocated \(allocated) before, \(Self.counts()) after")
        #expect(Self.reuses() > reused + 10, "\(family): the step took its tensors from the pools")
    }

    /// A model on `family`'s fixture, its cache after the prompt, and a one-token decode step after it.
    static func decoding(_ family: String, int8: Bool) throws -> (DecoderModel, KVBlockStorage, ForwardBatch) {
        let f = try F.Fixture(family)
        let device = int8 ? CPUDevice(activations: .int8, quantisation: .q8_0) : CPUDevice()
        let model = try HuggingFaceModel.load(directory: f.directory, device: device)
        let cache = model.device.makeKVStorage(layers: model.cacheLayout.layers, blockCount: 4, blockSize: 16,
                                               width: model.cacheLayout.width, fieldWidth: model.cacheLayout.fieldWidth)
        let table = [2, 0, 3, 1]
        _ = model.forward(ForwardBatch([SequenceChunk(tokens: f.prompt, startPosition: 0, blockTable: table, logits: .last)]), cache: cache)
        let step = ForwardBatch([SequenceChunk(tokens: [f.decodeIDs[0]], startPosition: f.prompt.count, blockTable: table, logits: .last)])
        return (model, cache, step)
    }

    /// malloc itself, counted on this thread (CMallocCounter): a decode step with the shapes of the step
    /// before (the same position again, so even the visible-slot lists keep their length) calls malloc
    /// zero times, and gives that step's logits. A step at a new position may grow a list past its slack:
    /// the pools allocate then, not at every step.
    @Test(arguments: ["llama", "deepseek_v3"], [false, true])
    func aRepeatedDecodeStepCallsMallocZeroTimes(family: String, int8: Bool) throws {
        try #require(cmc_available() == 1, "malloc counting needs glibc")
        let (model, cache, step) = try Self.decoding(family, int8: int8)
        let warm = model.forward(step, cache: cache).data.map { $0 }   // copied out: the pooled buffer goes back
        _ = model.forward(step, cache: cache)
        // While ParallelTests disables the pool process-wide (`--runner dispatch`), every job goes to Dispatch,
        // whose copy of the closure is a malloc. So: the fewest calls over tries spread across ~half a second.
        var fewest = UInt.max
        for _ in 0..<25 where fewest > 0 {
            let before = cmc_thread_mallocs()
            let logits = model.forward(step, cache: cache)
            fewest = min(fewest, cmc_thread_mallocs() - before)
            #expect(logits.data == warm)
            if fewest > 0 { usleep(20_000) }
        }
        #expect(fewest == 0, "\(family) int8 \(int8): \(fewest) malloc calls in a warm decode step")
        // The counter counts: the same step on a new thread, whose pools start empty, calls malloc.
        let cold = Self.onNewThread {
            let start = cmc_thread_mallocs()
            _ = model.forward(step, cache: cache)
            return cmc_thread_mallocs() - start
        }
        #expect(cold > 10, "\(family): \(cold) malloc calls on a thread whose pools are empty")
    }

    /// `body`'s result, run on a new thread.
    static func onNewThread(_ body: @escaping @Sendable () -> UInt) -> UInt {
        let box = ResultBox()
        Thread.detachNewThread { box.value = body(); box.done.signal() }
        box.done.wait()
        return box.value
    }
}

private final class ResultBox: @unchecked Sendable {
    var value: UInt = 0
    let done = DispatchSemaphore(value: 0)
}
