import Tokenizer

extension GGUFFile {
    /// The tokenizer stored in the file's `tokenizer.ggml.*` metadata.
    public func tokenizerVocabulary() throws -> TokenizerVocabulary {
        let model = try require("tokenizer.ggml.model", string)
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.arrayValue else { throw CheckpointError.missingMetadata("tokenizer.ggml.tokens") }
        let strings = try tokens.map { v -> String in
            guard let s = v.stringValue else { throw CheckpointError.invalid("tokenizer.ggml.tokens holds a non-string") }
            return s
        }
        let types: [TokenizerVocabulary.TokenType]
        if let raw = metadata["tokenizer.ggml.token_type"]?.arrayValue {
            guard raw.count == strings.count else {
                throw CheckpointError.invalid("tokenizer.ggml.token_type has \(raw.count) entries for \(strings.count) tokens")
            }
            types = raw.map { TokenizerVocabulary.TokenType(rawValue: $0.intValue ?? 1) ?? .normal }
        } else {
            types = Array(repeating: .normal, count: strings.count)
        }
        let merges = try (metadata["tokenizer.ggml.merges"]?.arrayValue ?? []).map { v -> String in
            guard let s = v.stringValue else { throw CheckpointError.invalid("tokenizer.ggml.merges holds a non-string") }
            return s
        }
        let scores = try (metadata["tokenizer.ggml.scores"]?.arrayValue ?? []).map { v -> Float in
            guard let d = v.doubleValue else { throw CheckpointError.invalid("tokenizer.ggml.scores holds a non-number") }
            return Float(d)
        }
        guard scores.isEmpty || scores.count == strings.count else {
            throw CheckpointError.invalid("tokenizer.ggml.scores has \(scores.count) entries for \(strings.count) tokens")
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = int(key) else { return nil }
            guard id >= 0, id < strings.count else { throw CheckpointError.invalid("\(key) = \(id) is outside the vocabulary of \(strings.count)") }
            return id
        }
        return TokenizerVocabulary(
            model: model,
            preTokenizer: string("tokenizer.ggml.pre") ?? "default",
            tokens: strings, tokenTypes: types, merges: merges, scores: scores,
            bosTokenID: try tokenID("tokenizer.ggml.bos_token_id"),
            eosTokenID: try tokenID("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try tokenID("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: try tokenID("tokenizer.ggml.padding_token_id"),
            addBOS: metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? false,
            addEOS: metadata["tokenizer.ggml.add_eos_token"]?.boolValue ?? false,
            addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true
        )
    }

    /// `tokenizer.chat_template`, if the file carries one.
    public var chatTemplate: String? { string("tokenizer.chat_template") }
}
