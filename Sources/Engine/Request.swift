import Foundation

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
    /// Extra ids that end generation besides the model's own stop tokens (vLLM's `stop_token_ids`): unlike the
    /// model's, such a token is part of the output, its text too unless it is a skipped special token.
    public var stopTokenIDs: Set<Int> = []
    /// No stop token, and no stop string, ends the output before this many tokens (vLLM's `min_tokens`).
    public var minTokens = 0
    /// A stop string that ends the output stays in it (vLLM's `include_stop_str_in_output`).
    public var includeStopString = false
    /// Only these tokens may be generated (vLLM's `allowed_token_ids`); nil: any.
    public var allowedTokenIDs: Set<Int>?
    /// Token sequences never generated (vLLM's `bad_words`): a sequence's last token is barred where the output
    /// ends with the ones before it.
    public var badWords: [[Int]] = []
    /// Keep generating through EOS (for benchmarks).
    public var ignoreEOS = false
    /// Texts that end generation when they appear in the output (excluded from it).
    public var stopStrings: [String] = []
    /// Drop tokens whose probability is below `minP` × the top token's (0 = off).
    public var minP: Float = 0
    /// OpenAI penalties on tokens already generated: presence (flat) and frequency (per occurrence).
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// CTRL-style penalty on tokens in the prompt or output (1 = off).
    public var repetitionPenalty: Float = 1
    /// Added to the logits of these token ids.
    public var logitBias: [Int: Float] = [:]
    /// Report the chosen token's log-probability and this many most likely alternatives (nil = off).
    public var logprobs: Int?
    /// JSON the output must be (OpenAI's `response_format`); nil for free text.
    public var grammar: OutputGrammar?
    /// Bytes after which the grammar starts to apply (a thinking model's `</think>`: its reasoning is free text);
    /// nil: from the first token.
    public var grammarAfter: [UInt8]?
    /// What may come instead of the value where it would start (a think block the model opens, a tool call in
    /// its own format); each think-block marker at most once.
    public var grammarMarkers: [GrammarMarker] = []
    /// Leave special tokens' text (chat markup, control tokens) out of the output text, as vLLM and llama.cpp's
    /// server do by default; the tokens still count and carry logprobs.
    public var skipSpecialTokens = true
    /// A thinking model's markers, to count its reasoning tokens (`Usage.reasoningTokens`); nil: not counted.
    public var reasoning: ReasoningMarkers?
    /// Special tokens whose text stays in the output even when the others' is skipped (a thinking model's
    /// `<think>`/`</think>`, which the API reads to split the reasoning off).
    public var keepSpecialTokenIDs: Set<Int> = []

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
    /// Lower runs first under the priority policy; ties go to the earlier arrival.
    public var priority: Int
    /// Separates prefix-cache entries (e.g. per tenant): prompts only share cache with the same salt.
    public var cacheSalt: String?
    /// Log-probabilities of the prompt's tokens (each given the ones before it) with this many alternatives, sent
    /// as one `.promptLogprobs` event before the first token; nil for none. Such a prompt is computed whole,
    /// never taken from the prefix cache (cached positions have no logits).
    public var promptLogprobs: Int?
    /// An embedding request: the prompt runs, nothing is generated, and the prompt's final hidden states pooled this
    /// way come back as one `.embedding` event before `.finished(.stop)`. nil: a generation request.
    public var pooling: Pooling?
    /// This request's place among the engine requests of one API request (its inputs, or its choices). Waiting
    /// requests are taken the first of every API request before the second of any, so a large batch does not hold
    /// up a request that comes after it (each request's own order stays first come, first served).
    public var batchIndex = 0

    public init(id: String, promptTokenIDs: [Int], sampling: SamplingParams, priority: Int = 0, cacheSalt: String? = nil,
                promptLogprobs: Int? = nil, pooling: Pooling? = nil) {
        self.id = id
        self.promptTokenIDs = promptTokenIDs
        self.sampling = sampling
        self.priority = priority
        self.cacheSalt = cacheSalt
        self.promptLogprobs = promptLogprobs
        self.pooling = pooling
    }
}

/// How an embedding is made from a prompt's final hidden states (sentence-transformers' pooling modes).
public enum Pooling: String, Sendable, Equatable, CaseIterable {
    /// The last token's state (decoder embedding models: Qwen3-Embedding, gte-Qwen2, E5-Mistral). Such a prompt may
    /// take its earlier positions from the prefix cache.
    case last
    /// The mean over every token's state. Each position's state is needed, so the prompt is computed whole.
    case mean
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

/// What the engine tells the submitter, in order: `.promptLogprobs` once when the request asked for them,
/// zero or more `.token`, then exactly one of `.finished` or `.failed`. An embedding request gets `.embedding` and
/// then `.finished`, or `.failed`.
public enum TokenEvent: Sendable, Equatable {
    /// The log-probabilities of prompt tokens 1..<n, each given the tokens before it (the first has none).
    case promptLogprobs([TokenLogprobs])
    /// One generated token and the text that became complete with it (may be "" inside a
    /// multi-byte character).
    case token(id: Int, text: String, logprobs: TokenLogprobs? = nil)
    /// Text with no token of its own: the tail of an incomplete UTF-8 sequence released at the end.
    case text(String)
    /// An embedding request's pooled final hidden state (`EngineRequest.pooling`), not normalised.
    case embedding([Float])
    case finished(reason: FinishReason, usage: Usage)
    case failed(message: String)

    /// How the messages of failures the request's own constraints cause begin (the API answers them as the
    /// client's error, not the server's).
    public static let constraintFailures = ["no token of the model's vocabulary can continue", "the response format cannot be followed"]
}

/// Log-probabilities (natural log, from the model's raw distribution) of a sampled token and of the
/// most likely tokens at that step.
public struct TokenLogprobs: Sendable, Equatable {
    public var logprob: Float
    /// Most likely first; ties by id.
    public var top: [Candidate]
    /// The token's rank in the distribution, from 1 (vLLM's `rank`: one more than the tokens strictly more likely);
    /// nil when not computed.
    public var rank: Int?

    public struct Candidate: Sendable, Equatable {
        public var id: Int
        public var logprob: Float
        public init(id: Int, logprob: Float) {
            self.id = id
            self.logprob = logprob
        }
    }

    public init(logprob: Float, top: [Candidate], rank: Int? = nil) {
        self.logprob = logprob
        self.top = top
        self.rank = rank
    }

    /// log-softmax of `logits` at `token`, plus the `k` best.
    public static func compute(logits: [Float], token: Int, k: Int) -> TokenLogprobs {
        let m = logits.max() ?? 0
        let chosen = logits[token]
        // One pass: the normaliser, and the tokens more likely than the chosen one (its rank).
        var total: Double = 0
        var above = 0
        for l in logits {
            total += Foundation.exp(Double(l - m))
            if l > chosen { above += 1 }
        }
        let logZ = Float(Foundation.log(total)) + m
        // Partial selection: a small sorted list instead of sorting the whole vocabulary.
        let top = k > 0 ? Sampler.best(logits, count: k).map { Candidate(id: $0, logprob: logits[$0] - logZ) } : []
        return TokenLogprobs(logprob: chosen - logZ, top: top, rank: above + 1)
    }
}

/// Token counts of one request.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens whose keys/values came from the prefix cache.
    public var cachedPromptTokens: Int
    /// Timings on the simulated device, when the model runs on one (nil otherwise).
    public var simulated: SimulatedTimings?
    /// Completion tokens read inside a thinking model's reasoning; nil when the request did not count them.
    public var reasoningTokens: Int?
    /// What ended a `.stop` finish, when it was the request's own stop string or stop token (vLLM's `stop_reason`,
    /// Anthropic's `stop_sequence`); nil for the model's end of turn, a finished value, or any other finish.
    public var stop: StopCause?
    public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int = 0, simulated: SimulatedTimings? = nil,
                reasoningTokens: Int? = nil, stop: StopCause? = nil) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.simulated = simulated
        self.reasoningTokens = reasoningTokens
        self.stop = stop
    }
    public var totalTokens: Int { promptTokens + completionTokens }
}

/// A request's own stop condition that ended its output.
public enum StopCause: Sendable, Equatable {
    /// One of its stop strings, as the request gave it.
    case string(String)
    /// One of its `stop_token_ids`.
    case token(Int)
}

/// One request's latencies in simulated device time (seconds): the device time of every engine step
/// from its arrival to its first token (TTFT), the mean between its later tokens (TPOT; nil with fewer
/// than two tokens), and arrival to finish. Idle time between steps does not count: the simulated
/// clock advances only while the device computes.
public struct SimulatedTimings: Sendable, Equatable {
    public var timeToFirstToken: Double?
    public var timePerOutputToken: Double?
    public var total: Double

    public init(timeToFirstToken: Double?, timePerOutputToken: Double?, total: Double) {
        self.timeToFirstToken = timeToFirstToken
        self.timePerOutputToken = timePerOutputToken
        self.total = total
    }
}
