import Foundation

/// The Hugging Face architectures MoEServe runs (`architectures[0]` in `config.json`).
public enum ModelArchitecture: String, Sendable, CaseIterable {
    case deepseekV4 = "DeepseekV4ForCausalLM"
    case deepseekV32 = "DeepseekV32ForCausalLM"
    case deepseekV3 = "DeepseekV3ForCausalLM"
    case deepseekV2 = "DeepseekV2ForCausalLM"
    case qwen2Moe = "Qwen2MoeForCausalLM"
    case qwen3Moe = "Qwen3MoeForCausalLM"
    case mixtral = "MixtralForCausalLM"
    case olmoe = "OlmoeForCausalLM"
    case llama = "LlamaForCausalLM"
    case qwen2 = "Qwen2ForCausalLM"
    case qwen3 = "Qwen3ForCausalLM"

    /// Reads `architectures` from a `config.json`; anything else is an error that lists what is supported.
    public static func detect(configJSON data: Data) throws -> ModelArchitecture {
        struct Header: Decodable { let architectures: [String]? }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: data)
        } catch {
            throw CheckpointError.invalid("config.json is not a JSON object with an 'architectures' list")
        }
        let supported = allCases.map(\.rawValue).joined(separator: ", ")
        guard let name = header.architectures?.first else {
            throw CheckpointError.missingMetadata("architectures (config.json); supported: \(supported)")
        }
        guard let arch = ModelArchitecture(rawValue: name) else {
            throw CheckpointError.unsupported("architecture '\(name)' (supported: \(supported))")
        }
        return arch
    }
}

extension JSONDecoder {
    /// Decodes a `config.json`, naming the key that is wrong on failure.
    static func decodeConfig<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try ConfigSanity.check(data)
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.missingMetadata("\(key.stringValue) (config.json)")
        } catch let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            throw CheckpointError.invalid("config.json key '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)")
        } catch {
            throw CheckpointError.invalid("config.json: \(error)")
        }
    }
}
