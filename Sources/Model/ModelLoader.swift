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
}

/// Opens checkpoints by file type.
public enum ModelLoader {
    public static func load(path: String, device: any Device) throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError.io(path: path, reason: "no such file (run scripts/setup to fetch the default model)")
        }
        guard path.hasSuffix(".gguf") else { throw CheckpointError.unsupported("'\(path)' is not a .gguf file (GGUF is the format supported so far)") }
        let gguf = try GGUFFile(path: path)
        let model = try LlamaModel(gguf: gguf, device: device)
        let vocab = try gguf.tokenizerVocabulary()
        let tokenizer = try BPETokenizer(vocabulary: vocab)
        var stops = Set<Int>()
        if let eos = vocab.eosTokenID { stops.insert(eos) }
        // ChatML models end a turn with <|im_end|>; stop there even when EOS is another token.
        if let imEnd = tokenizer.id(of: "<|im_end|>") { stops.insert(imEnd) }
        if let eot = tokenizer.id(of: "<|eot_id|>") { stops.insert(eot) }
        return LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: gguf.chatTemplate, stopTokenIDs: stops, path: path)
    }
}
