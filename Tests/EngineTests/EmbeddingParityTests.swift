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

/// Checkpoints as embedding models ship them: saved from the backbone alone (no `model.` prefix, as Qwen3-Embedding
/// is) and, with untied embeddings, with no output head at all (Qwen3-Embedding-8B).
@Suite struct HeadlessCheckpointTests {
    /// The tiny Qwen3 fixture rewritten that way: every tensor renamed without `model.`, `tie_word_embeddings` false.
    static func headlessFolder() throws -> URL {
        let source = EmbeddingParityTests.fixtures.appendingPathComponent("qwen3")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("headless-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
        config["tie_word_embeddings"] = false
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        // A safetensors file is an 8-byte header length, a JSON header naming each tensor's byte range, then the data:
        // renaming is a new header over the same data.
        let bytes = try Data(contentsOf: source.appendingPathComponent("model.safetensors"))
        let size = Int(bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + size))) as? [String: Any])
        var renamed: [String: Any] = [:]
        for (name, info) in header { renamed[name.hasPrefix("model.") ? String(name.dropFirst(6)) : name] = info }
        #expect(renamed["lm_head.weight"] == nil && renamed["embed_tokens.weight"] != nil)
        let json = try JSONSerialization.data(withJSONObject: renamed)
        var out = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) })
        out.append(json)
        out.append(bytes.subdata(in: (8 + size)..<bytes.count))
        try out.write(to: folder.appendingPathComponent("model.safetensors"))
        return folder
    }

    @Test func aFlatHeadlessCheckpointEmbedsAndRefusesToGenerate() throws {
        let model = try HuggingFaceModel.languageModel(directory: Self.headlessFolder(), device: CPUDevice())
        #expect(!model.hasOutputHead)
        let f = try EmbeddingParityTests.Fixture("qwen3")
        let core = EngineCore(model: model, decodeBytes: { _ in [] }, stopTokenIDs: [], configuration: EngineConfiguration(kvCacheBytes: 4 << 20),
                              logger: Logger(label: "test"))
        let embedding = Recorder(), generation = Recorder()
        core.add(EngineRequest(id: "e", promptTokenIDs: f.prompt, sampling: SamplingParams(maxTokens: 0), pooling: .last), onEvent: embedding.handler)
        core.add(EngineRequest(id: "g", promptTokenIDs: f.prompt, sampling: SamplingParams(maxTokens: 2)), onEvent: generation.handler)
        while core.hasWork { core.step() }
        let v = try #require(embedding.embeddings.first)
        #expect(EmbeddingParityTests.maxDelta(v, f.last) <= 1e-4)
        guard case let .failed(message)? = generation.terminal.last else { Issue.record("\(generation.events)"); return }
        #expect(message.contains("no output head"))
    }

    /// The same checkpoint with tied embeddings (Qwen3-Embedding-0.6B) generates, with the embedding as its head.
    @Test func aFlatTiedCheckpointStillGenerates() throws {
        let folder = try Self.headlessFolder()
        let url = folder.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config["tie_word_embeddings"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let flat = try HuggingFaceModel.load(directory: folder, device: CPUDevice())
        let nested = try HuggingFaceModel.load(directory: EmbeddingParityTests.fixtures.appendingPathComponent("qwen3"), device: CPUDevice())
        #expect(flat.hasOutputHead)
        let prompt = try EmbeddingParityTests.Fixture("qwen3").prompt
        let a = SequenceRunner(model: flat, capacity: 32).run(prompt, logits: .last)
        let b = SequenceRunner(model: nested, capacity: 32).run(prompt, logits: .last)
        #expect(a.data == b.data)
    }
}
