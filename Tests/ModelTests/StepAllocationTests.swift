import Device
import Testing
@testable import Model

/// "No allocation in the step loop": once a sequence has decoded a few tokens, a further decode step takes
/// every tensor (op outputs, int8 activation blocks, Q8_0 corrections) from the thread's pools
/// (`ArrayPools`), which allocate nothing more; a second sequence, run on the buffers the first left,
/// gets the first one's logits (no op reads what an earlier op left in a reused buffer).
@Suite struct StepAllocationTests {
    typealias F = HuggingFaceParityTests

    static func counts() -> [Int] {
        let p = ArrayPools.current
        return [p.floats.statistics.allocated, p.bytes.statistics.allocated, p.int32s.statistics.allocated]
    }

    static func reuses() -> Int {
        let p = ArrayPools.current
        return p.floats.statistics.reused + p.bytes.statistics.reused + p.int32s.statistics.reused
    }

    /// Dense GQA (llama) and MoE with MLA (deepseek_v3), with fp32 weights and fp32 activations, and with
    /// Q8_0 weights and int8 activations (the serving path of generated tokens).
    @Test(arguments: ["llama", "deepseek_v3"], [false, true])
    func aWarmDecodeStepAllocatesNoTensor(family: String, int8: Bool) throws {
        let f = try F.Fixture(family)
        let device = int8 ? CPUDevice(activations: .int8, quantisation: .q8_0) : CPUDevice()
        let model = try HuggingFaceModel.load(directory: f.directory, device: device)
        let runner = SequenceRunner(model: model, capacity: f.prompt.count + 8)
        _ = runner.run(f.prompt)
        for id in f.decodeIDs.prefix(2) { _ = runner.run([id]) }   // warm: every shape of a decode step seen
        let (allocated, reused) = (Self.counts(), Self.reuses())
        // Copied out (`map`): a step's logits kept as they are hold that buffer, and the next step takes another.
        var logits: [[Float]] = []
        for id in [f.decodeIDs[0], f.decodeIDs[1], f.prompt[0]] { logits.append(runner.run([id]).data.map { $0 }) }
        #expect(Self.counts() == allocated, "\(family) int8 \(int8): pools allocated \(allocated) before, \(Self.counts()) after")
        #expect(Self.reuses() > reused + 3 * 10, "\(family): the steps took their tensors from the pools")
        // The same steps on a second runner, whose pooled buffers are the first one's, reused: equal logits.
        let again = SequenceRunner(model: model, capacity: f.prompt.count + 8)
        _ = again.run(f.prompt)
        for id in f.decodeIDs.prefix(2) { _ = again.run([id]) }
        let second = [f.decodeIDs[0], f.decodeIDs[1], f.prompt[0]].map { again.run([$0]).data }
        #expect(second == logits)
        #expect(logits.allSatisfy { row in row.allSatisfy(\.isFinite) })
    }
}
