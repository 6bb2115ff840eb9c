/// Hyper-parameters of a dense Llama-family model (Llama 2/3, SmolLM, Qwen2 without biases yet).
public struct LlamaConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float

    public init(hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int, intermediateSize: Int,
                vocabularySize: Int, contextLength: Int, ropeTheta: Float, rmsNormEps: Float) {
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
    }

    /// Reads `<arch>.*` keys of a GGUF file (llama.cpp's names) and checks they are consistent.
    public init(gguf: GGUFFile) throws {
        let arch = try gguf.require("general.architecture", gguf.string)
        guard arch == "llama" else { throw CheckpointError.unsupported("architecture '\(arch)' in GGUF (supported: llama)") }
        func int(_ k: String) throws -> Int { try gguf.require("\(arch).\(k)", gguf.int) }
        hiddenSize = try int("embedding_length")
        layers = try int("block_count")
        heads = try int("attention.head_count")
        kvHeads = gguf.int("\(arch).attention.head_count_kv") ?? heads
        intermediateSize = try int("feed_forward_length")
        contextLength = try int("context_length")
        ropeTheta = Float(gguf.double("\(arch).rope.freq_base") ?? 10_000)
        rmsNormEps = Float(try gguf.require("\(arch).attention.layer_norm_rms_epsilon", gguf.double))
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, hiddenSize % heads == 0 else {
            throw CheckpointError.invalid("\(heads) heads / \(kvHeads) kv heads do not divide hidden size \(hiddenSize)")
        }
        headDim = gguf.int("\(arch).attention.key_length") ?? hiddenSize / heads
        let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
        vocabularySize = gguf.int("\(arch).vocab_size") ?? tokens ?? 0
        guard layers > 0, vocabularySize > 0, contextLength > 0, headDim % 2 == 0 else {
            throw CheckpointError.invalid("implausible llama hyper-parameters (layers \(layers), vocab \(vocabularySize), context \(contextLength), head dim \(headDim))")
        }
    }
}
