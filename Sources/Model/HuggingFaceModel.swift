import Device
import Foundation

/// Loads a Hugging Face model folder (`config.json` + `*.safetensors`) onto a device, dispatching on
/// `architectures` in the config.
public enum HuggingFaceModel {
    /// `mlaForm` chooses how DeepSeek's latent attention runs (tests compare the forms).
    public static func load(directory: URL, device: any Device, mlaForm: MLAForm = .automatic) throws -> DecoderModel {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: configURL) else { throw CheckpointError.io(path: configURL.path, reason: "cannot read config.json") }
        let architecture = try ModelArchitecture.detect(configJSON: data)
        let weights = WeightLoader(checkpoint: try SafetensorsCheckpoint(directory: directory), device: device)
        switch architecture {
        case .deepseekV3, .deepseekV2:
            let config = try JSONDecoder.decodeConfig(DeepSeekConfig.self, from: data)
            return try DeepSeekModel.load(config: config, architecture: architecture, weights: weights, mlaForm: mlaForm)
        case .qwen2Moe, .qwen3Moe, .mixtral, .olmoe:
            let config = try JSONDecoder.decodeConfig(SparseMoEConfig.self, from: data)
            return try SparseMoEModel.load(config: config, architecture: architecture, weights: weights)
        case .llama, .qwen2, .qwen3:
            let config = try JSONDecoder.decodeConfig(DenseConfig.self, from: data)
            return try DenseModel.load(config: config, architecture: architecture, weights: weights)
        }
    }
}
