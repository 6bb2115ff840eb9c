import Device
import Foundation
import Logging
import Model
import Testing
@testable import Engine

/// Embeddings of every Hugging Face family equal what transformers' base model gives: the pooled `last_hidden_state`
/// (after the final norm) of the tiny random checkpoints, through the engine's chunked prefill (fixtures from
/// scripts/reference/make_embedding_fixtures.py).
@Suite struct EmbeddingParityTests {
    static let families = ["deepseek_v3", "deepseek_v2", "qwen2_moe", "qwen3_moe", "mixtral", "olmoe", "llama", "qwen2", "qwen3"]
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    struct Fixture {
        let directory: URL
        let prompt: [Int]
        let hidden: [[Float]]    // [P][E]

        init(_ family: String) throws {
            directory = EmbeddingParityTests.fixtures.appendingPathComponent(family)
            let info = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("reference.json"))) as? [String: Any]
            prompt = try #require(info?["prompt_ids"] as? [Int])
            let t = try SafetensorsFile(path: directory.appendingPathComponent("hidden.safetensors").path).tensor("prompt_hidden")
            let values = t.toFloat32(), width = t.shape[1]
            hidden = (0..<t.shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
        }

        var last: [Float] { hidden[hidden.count - 1] }
        var mean: [Float] {
            (0..<hidden[0].count).map { j in Float(hidden.reduce(0.0) { $0 + Double($1[j]) } / Double(hidden.count)) }
        }
    }

    /// Pools the fixture's prompt both ways through an engine whose step budget splits it into chunks.
    static func pooled(_ f: Fixture, device: any Device = CPUDevice(), budget: Int = 7) throws -> [Pooling: [Float]] {
        let model = try HuggingFaceModel.languageModel(directory: f.directory, device: device)
        let core = EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [],
                              configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxNumBatchedTokens: budget, maxNumSeqs: 4),
                                                                 blockSize: 4, kvCacheBytes: 4 << 20),
                              logger: Logger(label: "test"))
        var recorders: [Pooling: Recorder] = [:]
        for pooling in Pooling.allCases {
            let r = Recorder()
            recorders[pooling] = r
            core.add(EngineRequest(id: pooling.rawValue, promptTokenIDs: f.prompt, sampling: SamplingParams(maxTokens: 0), pooling: pooling),
                     onEvent: r.handler)
        }
        while core.hasWork { core.step() }
        return try recorders.mapValues { try #require($0.embeddings.first) }
    }

    static func maxDelta(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: families)
    func pooledHiddenStatesMatchTransformers(family: String) throws {
        let f = try Fixture(family)
        let pooled = try Self.pooled(f)
        let last = Self.maxDelta(try #require(pooled[.last]), f.last), mean = Self.maxDelta(try #require(pooled[.mean]), f.mean)
        #expect(last <= 1e-4, "\(family): last-token pooling, max |Δ| = \(last)")
        #expect(mean <= 1e-4, "\(family): mean pooling, max |Δ| = \(mean)")
    }

    /// The simulated NPU computes in bf16 with fp32 accumulation: its embeddings are transformers' up to that
    /// rounding (cosine similarity, the measure embeddings are used by).
    @Test func theSimulatedNPUGivesTheSameEmbeddings() throws {
        let f = try Fixture("qwen3")
        let sim = AscendSimDevice(AscendSimConfiguration(profile: .ascend910B2, precision: .bf16, graphMode: true))
        let pooled = try Self.pooled(f, device: sim)
        for (pooling, expected) in [(Pooling.last, f.last), (.mean, f.mean)] {
            let v = try #require(pooled[pooling])
            let dot = zip(v, expected).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let norms = (v.reduce(0.0) { $0 + Double($1 * $1) } * expected.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
            #expect(dot / norms > 0.999, "\(pooling): cosine \(dot / norms)")
            #expect(Self.maxDelta(v, expected) > 0, "bf16 rounding should show")
        }
        #expect(sim.clock.seconds > 0, "the pooling passes advance the simulated clock")
    }
}
