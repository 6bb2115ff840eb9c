import Device
import Foundation

/// Loads a Hugging Face model folder (`config.json` + `*.safetensors`) onto a device, dispatching on
/// `architectures` in the config.
public enum HuggingFaceModel {
    /// Any supported architecture, as the engine runs it.
    /// `multiTokenPrediction`: DeepSeek-V3/V3.2's MTP layer is loaded too (`DecoderModel.multiTokenPredictor`).
    public static func languageModel(directory: URL, device: any Device, multiTokenPrediction: Bool = false) throws -> any LanguageModel {
        let (architecture, data, weights) = try open(directory: directory, device: device)
        if architecture == .deepseekV4 { return try deepSeekV4(data: data, weights: weights) }
        return try decoder(architecture, data: data, weights: weights, mlaForm: .automatic, multiTokenPrediction: multiTokenPrediction)
    }

    /// The architectures built as a `DecoderModel` (every one but DeepSeek-V4, whose hyper-connected
    /// layers are `DeepSeekV4Model`). `mlaForm` chooses how DeepSeek's latent attention runs (tests compare the forms).
    public static func load(directory: URL, device: any Device, mlaForm: MLAForm = .automatic, multiTokenPrediction: Bool = false) throws -> DecoderModel {
        let (architecture, data, weights) = try open(directory: directory, device: device)
        return try decoder(architecture, data: data, weights: weights, mlaForm: mlaForm, multiTokenPrediction: multiTokenPrediction)
    }

    /// DeepSeek-V4 from a folder.
    public static func loadDeepSeekV4(directory: URL, device: any Device) throws -> DeepSeekV4Model {
        let (architecture, data, weights) = try open(directory: directory, device: device)
        guard architecture == .deepseekV4 else { throw CheckpointError.invalid("\(directory.path) holds \(architecture.rawValue), not DeepseekV4ForCausalLM") }
        return try deepSeekV4(data: data, weights: weights)
    }

    private static func open(directory: URL, device: any Device) throws -> (ModelArchitecture, Data, WeightLoader) {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: configURL) else { throw CheckpointError.io(path: configURL.path, reason: "cannot read config.json") }
        let architecture = try ModelArchitecture.detect(configJSON: data)
        var weights = WeightLoader(checkpoint: try SafetensorsCheckpoint(directory: directory), device: device)
        weights.aliases = flatBackboneAliases(weights.checkpoint.names)
        return (architecture, data, weights)
    }

    /// A checkpoint saved from the backbone alone (`Qwen3Model`, not `Qwen3ForCausalLM`: how Qwen3-Embedding ships)
    /// names its tensors without the `model.` prefix: each canonical `model.X` maps to its `X`.
    static func flatBackboneAliases(_ names: [String]) -> [String: String] {
        let set = Set(names)
        guard !set.contains("model.embed_tokens.weight"), set.contains("embed_tokens.weight") else { return [:] }
        return Dictionary(uniqueKeysWithValues: names.filter { !$0.hasPrefix("model.") && $0 != "lm_head.weight" }.map { ("model." + $0, $0) })
    }

    private static func deepSeekV4(data: Data, weights: WeightLoader) throws -> DeepSeekV4Model {
        let config = try JSONDecoder.decodeConfig(DeepSeekV4Config.self, from: data)
        var named = weights
        named.aliases = try DeepSeekV4Names.aliases(weights.checkpoint.names)
        return try DeepSeekV4Model(config: config, weights: named)
    }

    private static func decoder(_ architecture: ModelArchitecture, data: Data, weights: WeightLoader, mlaForm: MLAForm,
                                multiTokenPrediction: Bool = false) throws -> DecoderModel {
        switch architecture {
        case .deepseekV4:
            throw CheckpointError.unsupported("DeepseekV4ForCausalLM is not a DecoderModel (load it with languageModel or loadDeepSeekV4)")
        case .deepseekV32, .deepseekV3, .deepseekV2:
            let config = try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: data)
            return try DeepSeekModel.load(config: config, architecture: architecture, weights: weights, mlaForm: mlaForm,
                                          multiTokenPrediction: multiTokenPrediction)
        case .qwen2Moe, .qwen3Moe, .mixtral, .olmoe:
            let config = try JSONDecoder.decodeConfig(SparseMoEConfig.self, from: data)
            return try SparseMoEModel.load(config: config, architecture: architecture, weights: weights)
        case .llama, .qwen2, .qwen3:
            let config = try JSONDecoder.decodeConfig(DenseConfig.self, from: data)
            return try DenseModel.load(config: config, architecture: architecture, weights: weights)
        }
    }
}
