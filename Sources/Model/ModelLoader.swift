import Device
import Foundation
import Tokenizer

/// A model ready to serve: weights on a device, its tokenizer, and its chat template source.
public struct LoadedModel: Sendable {
    public let model: any LanguageModel
    public let tokenizer: BPETokenizer
    public let chatTemplate: String?
    /// Token ids that end generation (EOS and, for chat models, the end-of-turn token).
    public let stopTokenIDs: Set<Int>
    public let path: String
    /// How the checkpoint says embeddings are pooled (`DeclaredPooling`), or nil when it does not say.
    public var declaredPooling: String? = nil
}

/// Opens checkpoints: a `.gguf` file, or a Hugging Face folder (`config.json`, `*.safetensors`,
/// `tokenizer.json`, `tokenizer_config.json`).
public enum ModelLoader {
    /// What a model path names: a `.gguf` file, or a Hugging Face folder (checked to hold a `tokenizer.json`).
    enum Checkpoint {
        case gguf
        case folder(URL)

        init(path: String) throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CheckpointError.io(path: path, reason: "no such file (run scripts/setup to fetch the default model)")
            }
            if isDirectory.boolValue {
                let url = URL(fileURLWithPath: path)
                guard FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenizer.json").path) else {
                    throw CheckpointError.io(path: path, reason: "the model folder has no tokenizer.json")
                }
                self = .folder(url)
            } else {
                guard path.hasSuffix(".gguf") else {
                    throw CheckpointError.unsupported("'\(path)' is neither a .gguf file nor a Hugging Face model folder")
                }
                self = .gguf
            }
        }
    }

    /// `multiTokenPrediction`: also load DeepSeek's multi-token-prediction layer (`LanguageModel.multiTokenPredictor`), a
    /// whole MoE layer more in memory, for `--speculative-method mtp`.
    public static func load(path: String, device: any Device, multiTokenPrediction: Bool = false) throws -> LoadedModel {
        if case let .folder(url) = try Checkpoint(path: path) {
            return try loadFolder(url, path: path, device: device, multiTokenPrediction: multiTokenPrediction)
        }
        let gguf = try GGUFFile(path: path)
        let model = try LlamaModel(gguf: gguf, device: device)
        let vocab = try gguf.tokenizerVocabulary()
        let tokenizer = try BPETokenizer(vocabulary: vocab)
        return LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: gguf.chatTemplate,
                           stopTokenIDs: stopTokens(tokenizer, eos: vocab.eosTokenID), path: path, declaredPooling: DeclaredPooling.gguf(gguf))
    }

    /// A Hugging Face folder with its `tokenizer.json`.
    static func loadFolder(_ url: URL, path: String, device: any Device, multiTokenPrediction: Bool = false) throws -> LoadedModel {
        let model = try HuggingFaceModel.languageModel(directory: url, device: device, multiTokenPrediction: multiTokenPrediction)
        let definition = try TokenizerDefinition(directory: url)
        let tokenizer = try BPETokenizer(definition: definition)
        return LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: definition.chatTemplate,
                           stopTokenIDs: stopTokens(tokenizer, eos: definition.eosTokenID), path: path,
                           declaredPooling: try DeclaredPooling.folder(url))
    }

    /// The tokenizer alone (no weights): a `.gguf` file's vocabulary or a Hugging Face folder's `tokenizer.json`.
    public static func loadTokenizer(path: String) throws -> BPETokenizer {
        switch try Checkpoint(path: path) {
        case let .folder(url): return try BPETokenizer(definition: try TokenizerDefinition(directory: url))
        case .gguf: return try BPETokenizer(vocabulary: try GGUFFile(path: path).tokenizerVocabulary())
        }
    }

    static func stopTokens(_ tokenizer: BPETokenizer, eos: Int?) -> Set<Int> {
        var stops = Set<Int>()
        if let eos { stops.insert(eos) }
        // ChatML models end a turn with <|im_end|>; stop there even when EOS is another token.
        for marker in ["<|im_end|>", "<|eot_id|>", "<｜end▁of▁sentence｜>"] {
            if let id = tokenizer.id(of: marker) { stops.insert(id) }
        }
        return stops
    }
}
