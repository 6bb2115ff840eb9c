import Device
import Foundation
import Testing
@testable import Model

@Suite struct HuggingFaceConfigTests {
    @Test func unsupportedArchitectureListsTheSupportedOnes() throws {
        do {
            _ = try ModelArchitecture.detect(configJSON: Data(#"{"architectures": ["GPT2LMHeadModel"]}"#.utf8))
            Issue.record("accepted GPT-2")
        } catch {
            let message = "\(error)"
            #expect(message.contains("GPT2LMHeadModel"))
            for arch in ModelArchitecture.allCases { #expect(message.contains(arch.rawValue)) }
        }
        #expect(try ModelArchitecture.detect(configJSON: Data(#"{"architectures": ["DeepseekV3ForCausalLM"]}"#.utf8)) == .deepseekV3)
        #expect(throws: CheckpointError.self) { try ModelArchitecture.detect(configJSON: Data("{}".utf8)) }
        #expect(throws: CheckpointError.self) { try ModelArchitecture.detect(configJSON: Data("[1]".utf8)) }
    }

    @Test func legacyRopeScalingAndRopeParametersAgree() throws {
        let legacy = try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: try Self.fixtureConfig("deepseek_v3"))
        #expect(legacy.rope_parameters == nil && legacy.rope_scaling?.type == "yarn")
        var modern = legacy
        modern.rope_scaling = nil
        modern.rope_theta = nil
        modern.rope_parameters = RoPEParameters(rope_type: "yarn", rope_theta: 10_000)
        modern.rope_parameters?.factor = 4
        modern.rope_parameters?.original_max_position_embeddings = 128
        modern.rope_parameters?.mscale = 1
        modern.rope_parameters?.mscale_all_dim = 0.8
        let a = try legacy.rope.table(dim: 8, maxPositionEmbeddings: 512), b = try modern.rope.table(dim: 8, maxPositionEmbeddings: 512)
        #expect(a == b)
        // YaRN with mscale ≠ mscale_all_dim scales cos/sin, and mscale_all_dim scales the softmax.
        #expect(abs(a.attentionFactor - Float((0.1 * log(4.0) + 1) / (0.08 * log(4.0) + 1))) < 1e-6)
        #expect(abs(legacy.rope.softmaxScaleFactor - Float(pow(0.08 * log(4.0) + 1, 2))) < 1e-6)
        #expect(throws: CheckpointError.self) { try RoPEParameters(rope_type: "longrope").table(dim: 8, maxPositionEmbeddings: 8) }
    }

    @Test func configKeysAreCheckedByName() throws {
        var json = try #require(try JSONSerialization.jsonObject(with: Self.fixtureConfig("mixtral")) as? [String: Any])
        json["hidden_size"] = "sixty-four"
        do {
            _ = try JSONDecoder.decodeConfig(SparseMoEConfig.self, from: try JSONSerialization.data(withJSONObject: json))
            Issue.record("accepted a string hidden_size")
        } catch {
            #expect("\(error)".contains("hidden_size"))
        }
        json.removeValue(forKey: "hidden_size")
        #expect(throws: CheckpointError.missingMetadata("hidden_size (config.json)")) {
            try JSONDecoder.decodeConfig(SparseMoEConfig.self, from: try JSONSerialization.data(withJSONObject: json))
        }
    }

    @Test func folderWithoutTokenizerIsAClearError() throws {
        let dir = TestPaths.fixtures.appendingPathComponent("models/qwen3").path
        #expect(throws: CheckpointError.io(path: dir, reason: "the model folder has no tokenizer.json")) {
            try ModelLoader.load(path: dir, device: CPUDevice())
        }
    }

    @Test func folderWithTokenizerLoadsForServing() throws {
        // A fixture folder plus a byte-level tokenizer.json whose 256 tokens are the 256 bytes.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: TestPaths.fixtures.appendingPathComponent("models/deepseek_v3"), to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = Self.byteLevelAlphabet.enumerated().map { "\"\($1)\": \($0)" }.joined(separator: ", ")
        let json = """
        {"model": {"type": "BPE", "vocab": {\(vocab)}, "merges": []}, "added_tokens": [],
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
         "decoder": {"type": "ByteLevel"}}
        """
        try Data(json.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        try Data(#"{"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let loaded = try ModelLoader.load(path: dir.path, device: CPUDevice())
        #expect(loaded.model.vocabularySize == 256 && loaded.chatTemplate != nil)
        let ids = loaded.tokenizer.encode("héllo", parseSpecial: false)
        #expect(ids == Array("héllo".utf8).map(Int.init))
        #expect(loaded.tokenizer.decode(ids) == "héllo")
    }

    /// GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the rest map to U+0100….
    static let byteLevelAlphabet: [String] = {
        var extra = 0
        return (0..<256).map { b -> String in
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable { return String(UnicodeScalar(UInt8(b))) }
            defer { extra += 1 }
            return String(UnicodeScalar(256 + extra)!)
        }.map { $0 == "\"" ? "\\\"" : $0 == "\\" ? "\\\\" : $0 }
    }()

    static func fixtureConfig(_ family: String) throws -> Data {
        try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("models/\(family)/config.json"))
    }
}
