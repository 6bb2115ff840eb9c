import Engine
import Logging
import Foundation

/// What the API needs from the engine: submit token ids, receive events, cancel.
public protocol GenerationBackend: Sendable {
    func submit(_ request: EngineRequest, onEvent: @escaping @Sendable (TokenEvent) -> Void)
    func abort(_ id: String)
}

extension EngineLoop: GenerationBackend {}

/// Turns chat messages into prompt token ids (chat template + tokenizer).
public protocol ChatPrompting: Sendable {
    func promptTokens(for messages: [ChatMessage]) throws -> [Int]
    /// With the tools the template describes to the model (each `{"type": "function", "function": {…}}`).
    func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?) throws -> [Int]
    /// With extra template variables too (`chat_template_kwargs`).
    func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> [Int]
    /// Whether the template writes reasoning in `<think>…</think>` blocks.
    var thinksInTags: Bool { get }
    /// The ids of `<think>` and `</think>` when each is one token (their text is kept when special tokens' is not).
    var thinkTokenIDs: Set<Int> { get }
    /// The prompt, and whether the generation prompt the template adds (not the conversation's own text) leaves the
    /// output inside a think block.
    func thinkingPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart)
    /// The prompt that continues the final assistant message (its text is the start of the answer), and where the
    /// output starts then.
    func continuationPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart)
    /// How the model writes tool calls, if its template shows a format this server reads (`tool_choice: auto`).
    var toolCallFormat: ToolCallFormat? { get }
    /// The raw bytes of one token (for logprobs' `token` and `bytes`).
    func tokenBytes(_ id: Int) -> [UInt8]
    /// Plain text to ids (special-token text parsed), as a completion prompt.
    func encode(_ text: String) -> [Int]
    /// Text to ids as it would appear inside an output: no BOS added.
    func encodeFragment(_ text: String) -> [Int]
    /// Text to ids with the tokenizer's own special tokens around them (its post-processor: Hugging Face's
    /// `add_special_tokens=True`), as an embedding model reads its input.
    func encodeWithSpecialTokens(_ text: String) -> [Int]
    /// Ids to text (invalid UTF-8 replaced).
    func decode(_ ids: [Int]) -> String
}

extension ChatPrompting {
    public func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?) throws -> [Int] { try promptTokens(for: messages) }
    public func promptTokens(for messages: [ChatMessage], tools: [OrderedJSON]?, variables: [String: OrderedJSON]) throws -> [Int] {
        try promptTokens(for: messages, tools: tools)
    }
    public var toolCallFormat: ToolCallFormat? { nil }
    public func encodeFragment(_ text: String) -> [Int] { encode(text) }
    public func encodeWithSpecialTokens(_ text: String) -> [Int] { encode(text) }

    /// A bad word's token sequences, as vLLM finds them: the word (leading whitespace cut), and with a space before it
    /// when that makes a different first token and as many tokens (a word at the start and in the middle of text).
    func badWordSequences(_ word: String) -> [[Int]] {
        let bare = String(word.drop { $0.isWhitespace })
        let plain = encodeFragment(bare), spaced = encodeFragment(" " + bare)
        var out = [plain]
        if !spaced.isEmpty, spaced.first != plain.first, spaced.count == plain.count { out.append(spaced) }
        return out.filter { !$0.isEmpty }
    }
    public var thinksInTags: Bool { false }
    public var thinkTokenIDs: Set<Int> { [] }
    public func thinkingPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?,
                               variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart) {
        (try promptTokens(for: messages, tools: tools, variables: variables), .mayOpen)
    }
    public func continuationPrompt(for messages: [ChatMessage], tools: [OrderedJSON]?,
                                   variables: [String: OrderedJSON]) throws -> (tokens: [Int], start: ReasoningStart) {
        throw ContinuationError.unsupported
    }
}

/// The model as the API presents it.
public struct ServedModel: Sendable {
    /// The id clients send as `model`.
    public var id: String
    public var created: Int
    public var ownedBy: String
    /// The model's own context (`max_position_embeddings`, GGUF `context_length`).
    public var contextLength: Int
    public var vocabularySize: Int
    /// The longest sequence the engine's KV cache can hold (`--kv-cache-memory`).
    public var kvCapacityTokens: Int
    /// Width of the model's hidden state: the length of its embeddings.
    public var hiddenSize: Int
    /// How `/v1/embeddings` pools a prompt's final hidden states; nil when it cannot pool as the checkpoint declares
    /// (`poolingRefusal` says why, and `/v1/embeddings` answers that).
    public var pooling: Pooling?
    public var poolingRefusal: String?
    /// Whether the model can generate: an embedding model's checkpoint may ship no output head.
    public var generates: Bool

    public init(id: String, created: Int = Int(Date().timeIntervalSince1970), ownedBy: String = "moeserve", contextLength: Int,
                vocabularySize: Int = Int.max, kvCapacityTokens: Int = Int.max, hiddenSize: Int = 0, pooling: Pooling? = .last,
                poolingRefusal: String? = nil, generates: Bool = true) {
        self.id = id
        self.created = created
        self.ownedBy = ownedBy
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.kvCapacityTokens = kvCapacityTokens
        self.hiddenSize = hiddenSize
        self.pooling = pooling
        self.poolingRefusal = poolingRefusal
        self.generates = generates
    }

    /// The longest sequence (prompt plus generated tokens) a request may ask for: the model's context, or less
    /// when the KV cache holds less. Served as `max_model_len`.
    public var maxSequenceLength: Int { min(contextLength, kvCapacityTokens) }

    /// What limits `maxSequenceLength`, for error messages.
    var sequenceLimitDescription: String {
        kvCapacityTokens < contextLength
            ? "the KV cache's \(kvCapacityTokens) tokens (the model's context is \(contextLength); --kv-cache-memory sets the cache)"
            : "the model's context of \(contextLength) tokens"
    }
}

/// Everything the routes need, wired once in `main`.
public struct ServingContext: Sendable {
    public var model: ServedModel
    public var backend: any GenerationBackend
    public var prompter: any ChatPrompting
    public var systemFingerprint: String
    /// Whether the engine orders requests by their `priority` (`--policy priority`); without it a non-zero
    /// `priority` is refused rather than ignored.
    public var priorityScheduling: Bool

    public init(model: ServedModel, backend: any GenerationBackend, prompter: any ChatPrompting, systemFingerprint: String = "moeserve-0.1",
                priorityScheduling: Bool = false) {
        self.model = model
        self.backend = backend
        self.prompter = prompter
        self.systemFingerprint = systemFingerprint
        self.priorityScheduling = priorityScheduling
    }
}

extension ServingContext {
    /// A request's `model` must be the one served.
    func check(model name: String) throws(APIError) {
        guard name == model.id else {
            throw APIError.notFound("the model '\(name)' does not exist; this server serves '\(model.id)'", code: "model_not_found", param: "model")
        }
    }

    /// A request's `priority` means something only under the priority policy; otherwise a non-zero one is refused.
    func check(priority: Int) throws(APIError) {
        if priority != 0, !priorityScheduling {
            throw APIError.invalid("'priority' needs the priority scheduling policy (--policy priority); this server schedules first come, first served",
                                   param: "priority", code: "unsupported_parameter")
        }
    }
}

extension Logger {
    /// Fields a request sent that this server does not read (logged, not refused: clients send vendor extensions).
    func ignoring(_ unknownFields: [String]) {
        guard !unknownFields.isEmpty else { return }
        info("ignoring unknown request fields", metadata: ["fields": "\(unknownFields.joined(separator: ","))"])
    }
}
