import Foundation
import Engine

/// The generation controls shared by `/v1/chat/completions` and `/v1/completions`, validated.
public struct SamplingRequest: Sendable, Equatable {
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var seed: Int?
    public var ignoreEOS = false
    public var stop: [String] = []
    public var minP: Double?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var repetitionPenalty: Double?
    /// Token id → bias in [-100, 100].
    public var logitBias: [Int: Double] = [:]
    /// Number of choices to generate (per prompt).
    public var n = 1
    /// nil: no logprobs; k: the chosen token's logprob and k alternatives.
    public var topLogprobs: Int?
    public var user: String?
    /// vLLM's extension: lower runs first under `--policy priority` (0 otherwise).
    public var priority = 0
    /// The JSON the output must be (`response_format`, or vLLM's `guided_json`); nil for free text.
    public var grammar: OutputGrammar?
    /// vLLM's `skip_special_tokens`; nil: the default (skip), or what tool-call parsing needs.
    public var skipSpecialTokens: Bool?
    /// Text after which `grammar` applies (a thinking model's `</think>`); nil: from the start.
    public var grammarAfter: String?
    /// What may come instead of the value where it starts (a think block the model opens, tool calls).
    public var grammarMarkers: [GrammarMarker] = []
    /// vLLM's extensions: `stop_token_ids`, `min_tokens`, `include_stop_str_in_output`, `allowed_token_ids`,
    /// `bad_words` (tokenized per model, in `engineRequests`), `truncate_prompt_tokens` (keep the prompt's last k).
    public var stopTokenIDs: [Int] = []
    public var minTokens = 0
    public var includeStopString = false
    public var allowedTokenIDs: [Int]?
    public var badWords: [String] = []
    public var truncatePromptTokens: Int?
    /// vLLM's `prompt_logprobs`: each prompt token's logprob and rank, and the k most likely tokens at its place.
    public var promptLogprobs: Int?
    /// vLLM's `return_tokens_as_token_ids`: logprobs name tokens as `token_id:<id>` (exact ids, for training
    /// pipelines), not by their text.
    public var returnTokensAsTokenIDs = false

    /// Fields this type reads.
    static let fields: Set<String> = [
        "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "ignore_eos", "stop", "min_p",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "n", "logprobs", "top_logprobs", "user",
        "priority", "response_format", "guided_json", "skip_special_tokens", "stop_token_ids", "min_tokens", "include_stop_str_in_output",
        "allowed_token_ids", "bad_words", "truncate_prompt_tokens", "guided_regex", "guided_choice", "structured_outputs", "prompt_logprobs",
        "return_tokens_as_token_ids", "guided_grammar", "grammar",
    ]

    /// vLLM's request extensions that change the output and that this server does not implement: refused with a
    /// 400 unless they carry their neutral value (a vLLM client's request must not silently mean something else).
    static let vllmExtensions: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [
        "use_beam_search": { $0 == .bool(false) },
        "length_penalty": { $0 == .int(1) || $0 == .double(1) },
        "logits_processors": { _ in false },
        "guided_decoding_backend": { _ in false },
        "guided_whitespace_pattern": { _ in false },
    ]

    /// `logprobsIsCount`: the legacy completions API sends `logprobs: <int>` instead of a boolean.
    /// `echo`: the legacy API with `echo`, where `max_tokens` 0 is allowed (the prompt alone, scored).
    /// `body`: the request as sent, re-read for a schema's key order.
    init(_ f: FieldReader, body: OrderedBody, logprobsIsCount: Bool = false, echo: Bool = false) throws(APIError) {
        let legacyMax = try f.int("max_tokens", in: (echo ? 0 : 1)...Int(Int32.max))
        let completionMax = try f.int("max_completion_tokens", in: 1...Int(Int32.max))
        // The same limit under its old and new name: both may come, but one must not silently override the other.
        if let legacyMax, let completionMax, legacyMax != completionMax {
            throw APIError.invalid("'max_tokens' (\(legacyMax)) and 'max_completion_tokens' (\(completionMax)) disagree; send one of them",
                                   param: "max_completion_tokens", code: "invalid_value")
        }
        maxTokens = completionMax ?? legacyMax
        temperature = try f.number("temperature", in: 0...2)
        topP = try Self.topP(f)
        topK = try f.int("top_k", in: -1...Int(Int32.max))
        seed = try f.int("seed")
        ignoreEOS = try f.bool("ignore_eos") ?? false
        stop = try Self.stopStrings(f)
        minP = try f.number("min_p", in: 0...1)
        presencePenalty = try f.number("presence_penalty", in: -2...2)
        frequencyPenalty = try f.number("frequency_penalty", in: -2...2)
        repetitionPenalty = try Self.repetitionPenalty(f)
        logitBias = try Self.logitBias(f)
        n = try f.int("n", in: 1...16) ?? 1
        // As the sampler sees it: a temperature below Float's range (1e-50) is greedy there.
        if n > 1, Float(temperature ?? 1) == 0 {
            throw APIError.invalid("'n' > 1 needs temperature > 0: greedy choices would all be identical", param: "n", code: "invalid_value")
        }
        if logprobsIsCount, f.raw("top_logprobs") != nil {
            throw APIError.invalid("'top_logprobs' belongs to chat completions; on /v1/completions 'logprobs' is the number of most likely tokens to return",
                                   param: "top_logprobs", code: "unsupported_parameter")
        }
        topLogprobs = logprobsIsCount ? try f.int("logprobs", in: 0...20) : try Self.topLogprobs(f)
        user = try f.string("user")
        priority = try f.int("priority", in: Int(Int32.min)...Int(Int32.max)) ?? 0
        // vLLM's -1 (the whole vocabulary for every prompt token) is not offered: at most 20, as for logprobs.
        promptLogprobs = try f.int("prompt_logprobs", in: 0...20)
        returnTokensAsTokenIDs = try f.bool("return_tokens_as_token_ids") ?? false
        if promptLogprobs != nil, try f.bool("stream") == true {
            throw APIError.invalid("'prompt_logprobs' is not available when 'stream' is true (as in vLLM)", param: "prompt_logprobs", code: "unsupported_parameter")
        }
        grammar = try ResponseFormat.grammar(f, body: body)
        skipSpecialTokens = try f.bool("skip_special_tokens")
        try readVLLMControls(f)
    }

    /// vLLM's `stop_token_ids`, `min_tokens`, `include_stop_str_in_output`, `allowed_token_ids`, `bad_words` and
    /// `truncate_prompt_tokens`, checked as far as they can be without the model.
    mutating func readVLLMControls(_ f: FieldReader) throws(APIError) {
        stopTokenIDs = try Self.tokenIDs(f, "stop_token_ids", max: 64) ?? []
        minTokens = try f.int("min_tokens", in: 0...Int(Int32.max)) ?? 0
        if let maxTokens, minTokens > maxTokens {
            let name = f.raw("max_completion_tokens") != nil ? "max_completion_tokens" : "max_tokens"
            throw APIError.invalid("'min_tokens' (\(minTokens)) is more than \(name) (\(maxTokens))", param: "min_tokens", code: "invalid_value")
        }
        includeStopString = try f.bool("include_stop_str_in_output") ?? false
        allowedTokenIDs = try Self.tokenIDs(f, "allowed_token_ids", max: 1 << 20)
        if allowedTokenIDs?.isEmpty == true {
            throw APIError.invalid("'allowed_token_ids' must name at least one token", param: "allowed_token_ids", code: "invalid_value")
        }
        if let v = f.raw("bad_words") {
            guard case let .array(items) = v, items.count <= 64 else { throw f.typeError("bad_words", "an array of at most 64 strings", v) }
            for (i, item) in items.enumerated() {
                guard case let .string(w) = item, !w.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    throw APIError.invalid("'bad_words[\(i)]' must be a non-empty string", param: "bad_words[\(i)]", code: "invalid_value")
                }
                badWords.append(w)
            }
        }
        // vLLM's -1: the model's whole context, i.e. no cut.
        truncatePromptTokens = try f.int("truncate_prompt_tokens", in: -1...Int(Int32.max))
        if truncatePromptTokens == 0 {
            throw APIError.invalid("'truncate_prompt_tokens' must be at least 1 (or -1 for the model's context)", param: "truncate_prompt_tokens", code: "invalid_value")
        }
        if truncatePromptTokens == -1 { truncatePromptTokens = nil }
    }

    /// An array of at most `max` token ids (non-negative integers; the vocabulary's bound is checked per model).
    static func tokenIDs(_ f: FieldReader, _ key: String, max: Int) throws(APIError) -> [Int]? {
        guard let v = f.raw(key) else { return nil }
        guard case let .array(items) = v, items.count <= max else { throw f.typeError(key, "an array of at most \(max) token ids", v) }
        var out: [Int] = []
        for (i, item) in items.enumerated() {
            guard case let .int(id) = item, id >= 0 else {
                throw APIError.invalid("'\(key)[\(i)]' must be a token id (a non-negative integer)", param: "\(key)[\(i)]", code: "invalid_value")
            }
            out.append(id)
        }
        return out
    }

    /// The prompt as the model sees it: its last `truncate_prompt_tokens` tokens.
    func truncated(_ prompt: [Int]) -> [Int] {
        guard let k = truncatePromptTokens, prompt.count > k else { return prompt }
        return Array(prompt.suffix(k))
    }

    static func topP(_ f: FieldReader) throws(APIError) -> Double? {
        guard let p = try f.number("top_p", in: 0...1) else { return nil }
        guard p > 0 else { throw APIError.invalid("'top_p' must be greater than 0", param: "top_p", code: "invalid_value") }
        return p
    }

    /// `stop`: a string or an array of up to 16 non-empty strings.
    static func stopStrings(_ f: FieldReader) throws(APIError) -> [String] {
        guard let v = f.raw("stop") else { return [] }
        var out: [String] = []
        switch v {
        case let .string(s): out = [s]
        case let .array(items):
            for item in items {
                guard case let .string(s) = item else { throw f.typeError("stop", "a string or an array of strings", item) }
                out.append(s)
            }
        default: throw f.typeError("stop", "a string or an array of strings", v)
        }
        guard out.count <= 16 else { throw APIError.invalid("'stop' may hold at most 16 strings, got \(out.count)", param: "stop", code: "invalid_value") }
        guard !out.contains("") else { throw APIError.invalid("'stop' strings must not be empty", param: "stop", code: "invalid_value") }
        return out
    }

    static func repetitionPenalty(_ f: FieldReader) throws(APIError) -> Double? {
        guard let p = try f.number("repetition_penalty", in: 0...10) else { return nil }
        guard p > 0 else { throw APIError.invalid("'repetition_penalty' must be greater than 0", param: "repetition_penalty", code: "invalid_value") }
        return p
    }

    /// `logit_bias`: an object from token ids (as strings) to biases in [-100, 100].
    static func logitBias(_ f: FieldReader) throws(APIError) -> [Int: Double] {
        guard let v = f.raw("logit_bias") else { return [:] }
        let inner = try FieldReader(v, prefix: "logit_bias")
        var out: [Int: Double] = [:]
        for key in inner.fields.keys {
            // Canonical decimal ids only: "05", "+5" or "-0" would alias token 5 or 0, and which bias wins would be arbitrary.
            guard let id = Int(key), id >= 0, String(id) == key else {
                throw APIError.invalid("'logit_bias' keys must be token ids in decimal, got '\(key)'", param: "logit_bias", code: "invalid_value")
            }
            guard let bias = try inner.number(key, in: -100...100) else {
                throw APIError.invalid("'logit_bias.\(key)' must be a number, not null", param: "logit_bias.\(key)", code: "invalid_type")
            }
            out[id] = bias
        }
        return out
    }

    /// `logprobs` (bool) and `top_logprobs` (0...20, only with logprobs).
    static func topLogprobs(_ f: FieldReader) throws(APIError) -> Int? {
        let on = try f.bool("logprobs") ?? false
        let k = try f.int("top_logprobs", in: 0...20)
        if k != nil && !on {
            throw APIError.invalid("'top_logprobs' requires 'logprobs' to be true", param: "top_logprobs", code: "invalid_value")
        }
        return on ? (k ?? 0) : nil
    }

    /// One engine request per (prompt, choice), after the context checks. Ids: `id#<nonce>` for a single one, else
    /// `id#<nonce>-<index>` with index = prompt · n + choice. The nonce keeps engine ids unique when `id` is not: a
    /// completion id carries the client's `X-Request-Id`, which two requests may share (a client's fixed header, a
    /// retry while the first attempt still runs), and the engine keys KV blocks and aborts by request id.
    func engineRequests(id: String, prompts: [[Int]], context: ServingContext, promptParam: String, maxTokensParam: String = "max_tokens",
                        promptLogprobs: Int? = nil) throws(APIError) -> [EngineRequest] {
        guard context.model.generates else {
            throw APIError.invalid("the model '\(context.model.id)' has no output head (its checkpoint ships no lm_head.weight), so it cannot "
                                   + "generate text: it serves /v1/embeddings only", param: "model", code: "model_not_supported")
        }
        let key = "\(id)#\(EngineRequestNonce.next())"
        let ctx = context.model.maxSequenceLength, limit = context.model.sequenceLimitDescription
        try context.check(priority: priority)
        let vocabulary = context.model.vocabularySize
        if let bad = logitBias.keys.first(where: { $0 >= vocabulary }) {
            throw APIError.invalid("'logit_bias' names token \(bad), but the vocabulary has \(vocabulary) tokens", param: "logit_bias", code: "invalid_value")
        }
        for (key, ids) in [("stop_token_ids", stopTokenIDs), ("allowed_token_ids", allowedTokenIDs ?? [])] {
            if let i = ids.firstIndex(where: { $0 >= vocabulary }) {
                throw APIError.invalid("'\(key)[\(i)]' is token \(ids[i]), but the vocabulary has \(vocabulary) tokens", param: "\(key)[\(i)]", code: "invalid_value")
            }
        }
        let badWordTokens = badWords.flatMap { context.prompter.badWordSequences($0) }
        var out: [EngineRequest] = []
        let total = prompts.count * n
        for (p, whole) in prompts.enumerated() {
            let prompt = truncated(whole)
            guard !prompt.isEmpty else { throw APIError.invalid("the prompt is empty", param: promptParam, code: "invalid_value") }
            guard prompt.count < ctx else {
                throw APIError.invalid("the prompt has \(prompt.count) tokens, which does not fit \(limit)", param: promptParam, code: "context_length_exceeded")
            }
            let maxTokens = self.maxTokens ?? (ctx - prompt.count)
            guard prompt.count + maxTokens <= ctx else {
                throw APIError.invalid("the prompt (\(prompt.count) tokens) plus \(maxTokensParam) (\(maxTokens)) exceeds \(limit)", param: maxTokensParam,
                                       code: "context_length_exceeded")
            }
            if let bad = prompt.first(where: { $0 < 0 || $0 >= context.model.vocabularySize }) {
                throw APIError.invalid("token id \(bad) is outside the vocabulary of \(context.model.vocabularySize)", param: promptParam, code: "invalid_value")
            }
            for i in 0..<n {
                var s = params(maxTokens: maxTokens)
                s.badWords = badWordTokens
                // Distinct but reproducible streams per choice.
                s.seed = seed.map { UInt64(bitPattern: Int64($0)) &+ UInt64(i) }
                // The prompt's logprobs for an echo and for prompt_logprobs alike: the larger count, each output taking its own.
                let k = [promptLogprobs, self.promptLogprobs].compactMap { $0 }.max()
                var request = EngineRequest(id: total == 1 ? key : "\(key)-\(p * n + i)", promptTokenIDs: prompt, sampling: s, priority: priority,
                                            promptLogprobs: k)
                request.batchIndex = p * n + i
                out.append(request)
            }
        }
        return out
    }

    /// How logprobs name a token: its bytes, or (`return_tokens_as_token_ids`) `token_id:<id>`, as vLLM writes it.
    func logprobTokenBytes(_ context: ServingContext) -> @Sendable (Int) -> [UInt8] {
        if returnTokensAsTokenIDs { return { id in Array("token_id:\(id)".utf8) } }
        let prompter = context.prompter
        return { id in prompter.tokenBytes(id) }
    }

    func params(maxTokens: Int) -> SamplingParams {
        var s = SamplingParams()
        s.temperature = Float(temperature ?? 1)
        s.topP = Float(topP ?? 1)
        s.topK = max(0, topK ?? 0)
        s.maxTokens = maxTokens
        s.ignoreEOS = ignoreEOS
        s.stopStrings = stop
        s.minP = Float(minP ?? 0)
        s.presencePenalty = Float(presencePenalty ?? 0)
        s.frequencyPenalty = Float(frequencyPenalty ?? 0)
        s.repetitionPenalty = Float(repetitionPenalty ?? 1)
        s.logitBias = logitBias.mapValues { Float($0) }
        s.logprobs = topLogprobs
        s.grammar = grammar
        s.grammarAfter = grammarAfter.map { Array($0.utf8) }
        s.grammarMarkers = grammarMarkers
        s.stopTokenIDs = Set(stopTokenIDs)
        s.minTokens = minTokens
        s.includeStopString = includeStopString
        s.allowedTokenIDs = allowedTokenIDs.map(Set.init)
        s.skipSpecialTokens = skipSpecialTokens ?? true
        return s
    }
}

/// A per-process counter that makes engine request ids unique.
enum EngineRequestNonce {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var last = 0

    static func next() -> Int { lock.withLock { last += 1; return last } }
}
