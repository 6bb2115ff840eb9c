/// How to pick each next token, and when to stop.
public struct SamplingParams: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 1
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP` (1 = off).
    public var topP: Float = 1
    /// Keep only the `topK` most likely tokens (0 = off).
    public var topK: Int = 0
    /// Per-request RNG seed; nil draws one, so two unseeded requests differ.
    public var seed: UInt64?
    /// Most tokens to generate.
    public var maxTokens: Int = 16
    /// Extra ids that end generation besides the model's own stop tokens.
    public var stopTokenIDs: Set<Int> = []
    /// Keep generating through EOS (for benchmarks).
    public var ignoreEOS = false

    public init(temperature: Float = 1, topP: Float = 1, topK: Int = 0, seed: UInt64? = nil, maxTokens: Int = 16,
                stopTokenIDs: Set<Int> = [], ignoreEOS: Bool = false) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
        self.maxTokens = maxTokens
        self.stopTokenIDs = stopTokenIDs
        self.ignoreEOS = ignoreEOS
    }
}

/// What the API layer hands the engine: token ids and sampling parameters, never JSON.
public struct EngineRequest: Sendable {
    public var id: String
    public var promptTokenIDs: [Int]
    public var sampling: SamplingParams

    public init(id: String, promptTokenIDs: [Int], sampling: SamplingParams) {
        self.id = id
        self.promptTokenIDs = promptTokenIDs
        self.sampling = sampling
    }
}

/// Why a request stopped producing tokens.
public enum FinishReason: String, Sendable, Equatable {
    /// A stop token (EOS / end of turn) was produced.
    case stop
    /// `maxTokens` or the context length was reached.
    case length
    /// The client went away or the request was cancelled.
    case abort
}

/// What the engine tells the submitter, in order: zero or more `.token`, then exactly one of
/// `.finished` or `.failed`.
public enum TokenEvent: Sendable, Equatable {
    /// One generated token and the text that became complete with it (may be "" inside a
    /// multi-byte character).
    case token(id: Int, text: String)
    /// Text with no token of its own: the tail of an incomplete UTF-8 sequence released at the end.
    case text(String)
    case finished(reason: FinishReason, usage: Usage)
    case failed(message: String)
}

/// Token counts of one request.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
    public var totalTokens: Int { promptTokens + completionTokens }
}
