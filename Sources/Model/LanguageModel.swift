import Device

/// Which positions of a sequence chunk need logits (the output head is the largest matmul;
/// sampling needs only the last row, reference tests want every row).
public enum LogitRows: Sendable, Equatable {
    case none
    case last
    case all
}

/// One sequence's share of a forward pass: its new tokens, where they start, and where its cache lives.
public struct SequenceChunk: Sendable, Equatable {
    /// Tokens to run, at positions startPosition..<startPosition + tokens.count.
    public var tokens: [Int]
    public var startPosition: Int
    /// The sequence's cache blocks; must cover every position up to the chunk's last.
    public var blockTable: [Int]
    public var logits: LogitRows
    /// With a per-layer-type cache (`KVCacheLayout.groups`): the sequence's blocks in each group, indexed
    /// by entry (a group with `tokensPerEntry` r holds entry e of tokens e·r ..< (e+1)·r); −1 marks blocks
    /// released because they fell out of the group's window. Empty otherwise.
    public var groupBlockTables: [[Int]]
    /// Every token comes after the prompt: a decode step, or one verifying drafts. A model whose kernels differ by
    /// chunk length (DeepSeek's latent attention: absorbed for a token, naive for a prompt) runs such a chunk as it
    /// runs a single token, so verifying drafts changes no number.
    public var generated: Bool
    /// Every token is a prompt token: such a chunk runs as a prompt whatever its length (a chunked prompt's last
    /// token alone too), so how a prompt is split into steps changes no number either.
    public var prompt: Bool

    public init(tokens: [Int], startPosition: Int, blockTable: [Int], logits: LogitRows, groupBlockTables: [[Int]] = [],
                generated: Bool = false, prompt: Bool = false) {
        self.tokens = tokens
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.logits = logits
        self.groupBlockTables = groupBlockTables
        self.generated = generated
        self.prompt = prompt
    }

    public var positions: Range<Int> { startPosition..<(startPosition + tokens.count) }
}

/// What a forward pass returns for the rows its chunks select (`SequenceChunk.logits`).
public enum ForwardOutput: Sendable, Equatable {
    /// The output head's logits: `[rows, vocab]`.
    case logits
    /// The final hidden states, after the model's last norm (what Hugging Face calls `last_hidden_state`, and what
    /// embedding models pool): `[rows, hiddenSize]`. The output head does not run.
    case hidden
}

/// Everything one model step runs: chunks of several sequences, flattened into one pass.
public struct ForwardBatch: Sendable, Equatable {
    public var chunks: [SequenceChunk]
    public var output: ForwardOutput
    public init(_ chunks: [SequenceChunk], output: ForwardOutput = .logits) {
        self.chunks = chunks
        self.output = output
    }
    public var tokenCount: Int { chunks.reduce(0) { $0 + $1.tokens.count } }
}

/// What one token occupies in the cache of one layer.
public struct KVCacheLayout: Sendable, Equatable {
    public var layers: Int
    /// Floats per token per layer (GQA: 2·G·D; MLA: kv_lora_rank + rope dim).
    public var width: Int
    /// Columns the attention reads together (GQA: one KV head's D), so the cache keeps each such field of
    /// every slot together (KVBlockStorage); nil: the whole entry.
    public var fieldWidth: Int?
    /// How each layer's state grows with the sequence, for models whose layers differ (DeepSeek-V4);
    /// empty when every layer keeps `width` floats per token for the whole sequence.
    public var layerSpecs: [KVLayerSpec]
    /// The per-layer-type cache the model can also run on (`forward(_:groupCaches:)`): one block store
    /// per group. Empty for models that only run on the uniform layout.
    public var groups: [KVCacheGroup]
    public init(layers: Int, width: Int, fieldWidth: Int? = nil, layerSpecs: [KVLayerSpec] = [], groups: [KVCacheGroup] = []) {
        self.layers = layers
        self.width = width
        self.fieldWidth = fieldWidth
        self.layerSpecs = layerSpecs
        self.groups = groups
    }
}

/// Cache state with its own blocks in a per-layer-type cache: `layers` storage layers of `width` floats
/// per entry, one entry per `tokensPerEntry` tokens (entry e covers tokens e·r ..< (e+1)·r and is written
/// when token (e+1)·r − 1 runs). With `windowTokens`, once c tokens are computed the entries of tokens
/// before c − `windowTokens` are never read again, so their blocks can go back to the pool.
public struct KVCacheGroup: Sendable, Equatable {
    public var name: String
    public var layers: Int
    public var width: Int
    public var tokensPerEntry: Int
    public var windowTokens: Int?
    /// KVCacheLayout.fieldWidth for this group's storage (nil: one field).
    public var fieldWidth: Int?

    public init(name: String, layers: Int, width: Int, tokensPerEntry: Int = 1, windowTokens: Int? = nil, fieldWidth: Int? = nil) {
        precondition(layers > 0 && width > 0 && tokensPerEntry > 0)
        self.name = name
        self.layers = layers
        self.width = width
        self.fieldWidth = fieldWidth
        self.tokensPerEntry = tokensPerEntry
        self.windowTokens = windowTokens
    }

    /// Bytes of one entry across the group's layers, stored as `element`.
    public func bytesPerEntry(_ element: KVElement = .f32) -> Int { layers * width * element.bytes }
}

/// How one layer's cache grows with the sequence, in a cache that gives each layer type its own blocks
/// (`KVCacheLayout.groups`); in the uniform layout every layer gets `KVCacheLayout.width` floats per token.
public enum KVLayerSpec: Sendable, Equatable {
    /// `width` floats per token, all kept.
    case full(width: Int)
    /// `width` floats per token; only the last `window` tokens are ever read.
    case slidingWindow(window: Int, width: Int)
    /// A sliding window of `windowWidth` floats per token, plus `entryWidth` floats per `rate` tokens
    /// (compressed entries, indexer keys), plus `pendingWidth` floats per token for the tokens of the
    /// windows not yet compressed (at most 2·`rate` of them).
    case compressed(window: Int, windowWidth: Int, rate: Int, entryWidth: Int, pendingWidth: Int)

    /// Floats this layer holds for a sequence of `tokens` tokens in a per-layer-type cache.
    public func floats(tokens: Int) -> Int {
        switch self {
        case let .full(width): return tokens * width
        case let .slidingWindow(window, width): return min(tokens, window) * width
        case let .compressed(window, windowWidth, rate, entryWidth, pendingWidth):
            return min(tokens, window) * windowWidth + tokens / rate * entryWidth + min(tokens, 2 * rate) * pendingWidth
        }
    }
}

/// A causal language model the engine can run: token chunks in, logits out, state in paged KV memory.
public protocol LanguageModel: AnyObject, Sendable {
    var vocabularySize: Int { get }
    /// Width of the hidden state (`ForwardOutput.hidden` rows).
    var hiddenSize: Int { get }
    /// Whether the model has an output head, so it gives logits (`ForwardOutput.logits`) and can generate. An embedding
    /// model's checkpoint may ship none.
    var hasOutputHead: Bool { get }
    /// Longest sequence (prompt + generated) the model supports.
    var contextLength: Int { get }
    var device: any Device { get }
    var cacheLayout: KVCacheLayout { get }
    /// Runs every chunk (writing their keys/values into `cache`) and returns the rows asked for, chunk by chunk
    /// in order: logits `[rows, vocab]`, or final hidden states `[rows, hiddenSize]` (`ForwardBatch.output`).
    func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix
    /// The same over a per-layer-type cache: `groupCaches[g]` stores `cacheLayout.groups[g]` and each
    /// chunk's `groupBlockTables[g]` addresses it. Only models that declare groups get this call.
    func forward(_ batch: ForwardBatch, groupCaches: [KVBlockStorage]) -> Matrix
    /// DeepSeek's multi-token-prediction layer, when the checkpoint has one (`MultiTokenPredictor`).
    var multiTokenPredictor: MultiTokenPredictor? { get }
    /// `forward`, also giving the final hidden state (after the last norm) of every row of every chunk `[T, hiddenSize]`:
    /// what the multi-token-prediction layer drafts from. Only models with a `multiTokenPredictor` get this call.
    func forwardKeepingHidden(_ batch: ForwardBatch, cache: KVBlockStorage) -> (output: Matrix, hidden: Matrix)
}

extension LanguageModel {
    public var hasOutputHead: Bool { true }
    public var multiTokenPredictor: MultiTokenPredictor? { nil }

    public func forwardKeepingHidden(_ batch: ForwardBatch, cache: KVBlockStorage) -> (output: Matrix, hidden: Matrix) {
        preconditionFailure("\(type(of: self)) has no multi-token-prediction layer")
    }

    public func forward(_ batch: ForwardBatch, groupCaches: [KVBlockStorage]) -> Matrix {
        preconditionFailure("\(type(of: self)) declares no cache groups; run it with forward(_:cache:)")
    }
}
