/// Everything a tokenizer is built from, as plain values: the vocabulary and merges, and the pipeline
/// around the model. Made from a `tokenizer.json` (`TokenizerDefinition(tokenizerJSON:)`) or from GGUF
/// metadata (`TokenizerDefinition(llamaCpp:)`).
public struct TokenizerDefinition: Sendable {
    /// Token text by id (model vocabulary and added tokens); ids no token uses hold "".
    public var tokens: [String]
    public var tokenTypes: [TokenizerVocabulary.TokenType]
    /// The BPE model's own vocabulary when it differs from `tokens` (a `tokenizer.json` whose added
    /// tokens are not in `model.vocab`); nil means every token in `tokens`.
    public var modelVocab: [(String, Int)]?
    /// BPE merges by rank.
    public var merges: [(String, String)]
    public var unknownToken: String?
    public var fuseUnknown = false
    public var byteFallback = false
    /// Look a whole piece up in the vocabulary before merging (Llama-3).
    public var ignoreMerges = false
    public var addedTokens: [AddedToken] = []
    public var normalizer: Normalizer?
    public var preTokenizer = PreTokenizer(steps: [])
    public var postProcessor = PostProcessor()
    public var decoder: TokenDecoder?
    /// Control and user-defined tokens decode as their text, bypassing `decoder` (llama.cpp's rule);
    /// otherwise every token goes through it (Hugging Face's).
    public var addedTokensDecodeVerbatim = false
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var paddingTokenID: Int?
    public var chatTemplate: String?
    /// Where it came from: `gpt2`/`llama` (GGUF model names) or `tokenizer.json`.
    public var source: String
    /// The llama.cpp pre-tokenizer name, for GGUF sources.
    public var preTokenizerName = "default"

    public init(tokens: [String], tokenTypes: [TokenizerVocabulary.TokenType], merges: [(String, String)], source: String) {
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.source = source
    }

    /// Whether encoding adds a BOS token in front (what `add_bos_token` means).
    public var addsBOS: Bool { bosTokenID.map { postProcessor.prefix.first == $0 } ?? false }

    /// The plain-value summary older call sites use.
    public var vocabulary: TokenizerVocabulary {
        TokenizerVocabulary(
            model: source, preTokenizer: preTokenizerName, tokens: tokens, tokenTypes: tokenTypes,
            merges: [], bosTokenID: bosTokenID, eosTokenID: eosTokenID,
            unknownTokenID: unknownToken.flatMap { u in tokens.firstIndex(of: u) },
            paddingTokenID: paddingTokenID, addBOS: addsBOS
        )
    }
}
