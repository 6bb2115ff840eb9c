/// A tokenizer as GGUF metadata (`tokenizer.ggml.*`) describes it: plain values only.
/// `TokenizerDefinition(llamaCpp:)` turns it into the full pipeline.
public struct TokenizerVocabulary: Sendable {
    /// llama.cpp's token classes (`tokenizer.ggml.token_type`).
    public enum TokenType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece BPE with byte fallback); `tokenizer.json`
    /// when the summary of a `TokenizerDefinition` loaded from one.
    public var model: String
    /// Pre-tokenizer name as llama.cpp spells it (`llama-bpe`, `qwen2`, `smollm`, `gpt-2`, …).
    public var preTokenizer: String
    public var tokens: [String]
    public var tokenTypes: [TokenType]
    /// Merges by rank, each `"left right"` (byte-level models).
    public var merges: [String]
    /// SentencePiece scores by id (`llama` models); higher merges first.
    public var scores: [Float]
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var addBOS: Bool
    public var addEOS: Bool
    /// SentencePiece: put `▁` in front of the text (`tokenizer.ggml.add_space_prefix`, default true).
    public var addSpacePrefix: Bool

    public init(
        model: String, preTokenizer: String, tokens: [String], tokenTypes: [TokenType], merges: [String],
        scores: [Float] = [], bosTokenID: Int? = nil, eosTokenID: Int? = nil, unknownTokenID: Int? = nil,
        paddingTokenID: Int? = nil, addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = true
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }
}

/// A tokenizer could not be built or could not run.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
