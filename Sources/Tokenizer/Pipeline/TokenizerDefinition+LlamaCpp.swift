/// Tokenizers from GGUF metadata: the pipeline each `tokenizer.ggml.model` / `tokenizer.ggml.pre`
/// stands for, written as the Hugging Face pipeline of the model it was converted from (the reference
/// ids in llama.cpp's test vectors are Hugging Face's).
extension TokenizerDefinition {
    public init(llamaCpp v: TokenizerVocabulary) throws {
        guard v.tokenTypes.count == v.tokens.count else {
            throw TokenizerError("vocabulary has \(v.tokens.count) tokens but \(v.tokenTypes.count) token types")
        }
        switch v.model {
        case "gpt2": self = try Self.byteLevel(v)
        case "llama": self = try Self.sentencePiece(v)
        default: throw TokenizerError("tokenizer model '\(v.model)' is not supported (supported: gpt2, llama)")
        }
        preTokenizerName = v.preTokenizer
        addedTokens = v.tokenTypes.enumerated().compactMap { id, type in
            switch type {
            case .control, .unknown: return AddedToken(content: v.tokens[id], id: id, special: true)
            case .userDefined: return AddedToken(content: v.tokens[id], id: id, special: false)
            default: return nil
            }
        }
        addedTokensDecodeVerbatim = true
        bosTokenID = v.bosTokenID
        eosTokenID = v.eosTokenID
        paddingTokenID = v.paddingTokenID
        postProcessor = PostProcessor(prefix: v.addBOS ? v.bosTokenID.map { [$0] } ?? [] : [],
                                      suffix: v.addEOS ? v.eosTokenID.map { [$0] } ?? [] : [])
    }

    private static func byteLevel(_ v: TokenizerVocabulary) throws -> TokenizerDefinition {
        var merges: [(String, String)] = []
        merges.reserveCapacity(v.merges.count)
        for (rank, merge) in v.merges.enumerated() {
            // Split at the first space that is not the first character (a symbol is never empty).
            let scalars = Array(merge.unicodeScalars)
            guard let sp = scalars.indices.dropFirst().first(where: { scalars[$0] == " " }) else {
                throw TokenizerError("merge \(rank) '\(merge)' is not two symbols separated by a space")
            }
            merges.append((String(String.UnicodeScalarView(scalars[..<sp])), String(String.UnicodeScalarView(scalars[(sp + 1)...]))))
        }
        var d = TokenizerDefinition(tokens: v.tokens, tokenTypes: v.tokenTypes, merges: merges, source: v.model)
        let pipeline = try LlamaCppPreTokenizers.pipeline(v.preTokenizer)
        d.preTokenizer = pipeline.preTokenizer
        d.normalizer = pipeline.normalizer
        d.ignoreMerges = pipeline.ignoreMerges
        d.unknownToken = v.unknownTokenID.map { v.tokens[$0] }
        d.decoder = .byteLevel
        return d
    }

    /// llama.cpp `llama` (SentencePiece BPE) as Hugging Face's converter builds it: BPE with merges
    /// derived from the scores, byte fallback, `▁` for spaces (legacy Llama normalizer).
    private static func sentencePiece(_ v: TokenizerVocabulary) throws -> TokenizerDefinition {
        guard v.scores.count == v.tokens.count else {
            throw TokenizerError("SentencePiece vocabulary needs one score per token (\(v.scores.count) for \(v.tokens.count))")
        }
        var d = TokenizerDefinition(tokens: v.tokens, tokenTypes: v.tokenTypes,
                                    merges: SentencePieceMerges.generate(tokens: v.tokens, scores: v.scores), source: v.model)
        let space = TextPattern.literal(" ")
        d.normalizer = v.addSpacePrefix ? .sequence([.prepend("▁"), .replace(space, content: "▁")]) : .replace(space, content: "▁")
        d.byteFallback = true
        d.fuseUnknown = true
        d.unknownToken = v.unknownTokenID.map { v.tokens[$0] }
        var steps: [TokenDecoder] = [.replace(.literal("▁"), content: " "), .byteFallback, .fuse]
        if v.addSpacePrefix { steps.append(.strip(content: " ", start: 1, stop: 0)) }
        d.decoder = .sequence(steps)
        return d
    }
}

/// Hugging Face's merges for a SentencePiece BPE vocabulary (`SentencePieceExtractor`): every split
/// of a token into two tokens is a merge, ordered by the token's score (highest first), then by the
/// ids of the two parts.
enum SentencePieceMerges {
    static func generate(tokens: [String], scores: [Float]) -> [(String, String)] {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        var merges: [(left: Int, right: Int, score: Float, order: Int)] = []
        for (id, token) in tokens.enumerated() where ids[token] == id {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(Int, Int)] = []
            for cut in 1..<scalars.count {
                let l = String(String.UnicodeScalarView(scalars[..<cut])), r = String(String.UnicodeScalarView(scalars[cut...]))
                if let a = ids[l], let b = ids[r] { local.append((a, b)) }
            }
            local.sort { $0 < $1 }
            for (a, b) in local { merges.append((a, b, scores[id], merges.count)) }
        }
        merges.sort { $0.score != $1.score ? $0.score > $1.score : $0.order < $1.order }
        return merges.map { (tokens[$0.left], tokens[$0.right]) }
    }
}
