import Foundation

/// Loading Hugging Face `tokenizer.json` (+ `tokenizer_config.json`). Only the BPE model is supported;
/// every malformed or unsupported part is a `TokenizerError` naming the file and the JSON path.
extension TokenizerDefinition {
    /// Reads `tokenizer.json` and, when present, `tokenizer_config.json` from `directory`.
    public init(directory: URL) throws {
        let json = directory.appendingPathComponent("tokenizer.json")
        let config = directory.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: json) else { throw TokenizerError("cannot read \(json.path)") }
        let configData = FileManager.default.fileExists(atPath: config.path) ? try Data(contentsOf: config) : nil
        try self.init(tokenizerJSON: data, config: configData)
    }

    public init(tokenizerJSON data: Data, config: Data? = nil) throws {
        let root = try JSONNode.parse(data, file: "tokenizer.json")
        _ = try root.members()
        let model = try root.required("model")
        let (vocab, merges) = try Self.bpeModel(model)
        let added = try root["added_tokens"]?.array().map(Self.addedToken) ?? []
        var tokens = [String](repeating: "", count: Self.tokenCount(vocab, added))
        for (t, id) in vocab { tokens[id] = t }
        for a in added { tokens[a.id] = a.content }
        self.init(tokens: tokens, tokenTypes: [], merges: merges, source: "tokenizer.json")
        modelVocab = vocab
        addedTokens = added
        unknownToken = try model.string("unk_token")
        fuseUnknown = try model.bool("fuse_unk", default: false)
        byteFallback = try model.bool("byte_fallback", default: false)
        ignoreMerges = try model.bool("ignore_merges", default: false)
        normalizer = try root["normalizer"].map(TokenizerJSONComponents.normalizer)
        preTokenizer = PreTokenizer(steps: try root["pre_tokenizer"].map(TokenizerJSONComponents.preTokenizerSteps) ?? [])
        decoder = try root["decoder"].map(TokenizerJSONComponents.decoder)
        let ids = Dictionary(vocab + added.map { ($0.content, $0.id) }, uniquingKeysWith: { _, b in b })
        postProcessor = try root["post_processor"].map { try TokenizerJSONComponents.postProcessor($0, idOf: { ids[$0] }) } ?? PostProcessor()
        tokenTypes = tokens.indices.map { _ in .normal }
        if let config { try applyConfig(JSONNode.parse(config, file: "tokenizer_config.json"), ids: ids) }
        if bosTokenID == nil, postProcessor.prefix.count == 1 { bosTokenID = postProcessor.prefix[0] }
        try validate()
        tokenTypes = Self.types(tokens, added, unknown: unknownToken, byteFallback: byteFallback)
    }

    private static func tokenCount(_ vocab: [(String, Int)], _ added: [AddedToken]) -> Int {
        max(vocab.map(\.1).max() ?? -1, added.map(\.id).max() ?? -1) + 1
    }

    private static func bpeModel(_ model: JSONNode) throws -> ([(String, Int)], [(String, String)]) {
        let type = try model.string("type") ?? "BPE"
        guard type == "BPE" else { throw model.error("has model type '\(type)'; only BPE is supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = try model.string(key), !v.isEmpty { throw model.error("sets \(key), which is not supported") }
        }
        let vocab = try model.required("vocab").members().map { token, id -> (String, Int) in
            guard case let .number(d) = id.value, let i = Int(exactly: d), i >= 0, i < 1 << 24 else {
                throw id.error("must be a token id in 0..<16777216")
            }
            return (token, i)
        }
        let merges = try model.required("merges").array().map(Self.merge)
        return (vocab, merges)
    }

    /// `"a b"` (split at the first space after the first character) or `["a", "b"]`.
    private static func merge(_ n: JSONNode) throws -> (String, String) {
        if case .array = n.value {
            let pair = try n.array()
            guard pair.count == 2 else { throw n.error("must be a pair of strings") }
            return (try pair[0].string(), try pair[1].string())
        }
        guard case let .string(s) = n.value else { throw n.error("must be a string or a pair of strings") }
        let scalars = Array(s.unicodeScalars)
        guard let sp = scalars.indices.dropFirst().first(where: { scalars[$0] == " " }), sp + 1 < scalars.count else {
            throw n.error("'\(s)' is not two symbols separated by a space")
        }
        return (String(String.UnicodeScalarView(scalars[..<sp])), String(String.UnicodeScalarView(scalars[(sp + 1)...])))
    }

    private static func addedToken(_ n: JSONNode) throws -> AddedToken {
        let id = try n.required("id").int()
        guard id >= 0, id < 1 << 24 else { throw n.error("has id \(id) outside 0..<16777216") }
        let content = try n.required("content").string()
        guard !content.isEmpty else { throw n.error("has empty content") }
        let special = try n.bool("special", default: false)
        return AddedToken(content: content, id: id, special: special,
                          lstrip: try n.bool("lstrip", default: false), rstrip: try n.bool("rstrip", default: false),
                          normalized: try n.bool("normalized", default: !special), singleWord: try n.bool("single_word", default: false))
    }

    private static func types(_ tokens: [String], _ added: [AddedToken], unknown: String?, byteFallback: Bool) -> [TokenizerVocabulary.TokenType] {
        var types = [TokenizerVocabulary.TokenType](repeating: .normal, count: tokens.count)
        for (i, t) in tokens.enumerated() {
            if t == unknown { types[i] = .unknown }
            if byteFallback, TokenDecoder.fallbackByte(Array(t.utf8)) != nil { types[i] = .byte }
        }
        for a in added { types[a.id] = a.special ? .control : .userDefined }
        return types
    }

    private func validate() throws {
        if let u = unknownToken, !(modelVocab ?? []).contains(where: { $0.0.utf8.elementsEqual(u.utf8) }) {
            throw TokenizerError("tokenizer.json: model.unk_token '\(u)' is not in model.vocab")
        }
        for id in postProcessor.prefix + postProcessor.suffix where id < 0 || id >= tokens.count {
            throw TokenizerError("tokenizer.json: post_processor uses id \(id), outside the vocabulary of \(tokens.count)")
        }
    }
}
