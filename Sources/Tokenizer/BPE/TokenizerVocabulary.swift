/// What a tokenizer is built from, independent of the file it came in (GGUF metadata today,
/// `tokenizer.json` later). Plain values only.
public struct TokenizerVocabulary: Sendable {
    /// llama.cpp's token classes (`tokenizer.ggml.token_type`).
    public enum TokenType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// `gpt2` (byte-level BPE) is the one model type supported so far.
    public var model: String
    /// Pre-tokenizer name as llama.cpp spells it (`smollm`, `gpt-2`, `starcoder`, …).
    public var preTokenizer: String
    public var tokens: [String]
    public var tokenTypes: [TokenType]
    /// Merges by rank, each `"left right"`.
    public var merges: [String]
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var addBOS: Bool

    public init(
        model: String, preTokenizer: String, tokens: [String], tokenTypes: [TokenType], merges: [String],
        bosTokenID: Int? = nil, eosTokenID: Int? = nil, unknownTokenID: Int? = nil, paddingTokenID: Int? = nil,
        addBOS: Bool = false
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
    }
}

/// A tokenizer could not be built or could not run.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
