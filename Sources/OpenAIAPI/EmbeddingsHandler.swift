import Engine
import Foundation
import HTTPCore
import Logging

/// A validated `POST /v1/embeddings` body.
struct EmbeddingRequest: Sendable, Equatable {
    enum Encoding: String, Sendable { case float, base64 }

    var model: String
    var inputs: [CompletionRequest.Prompt]
    /// Whether `input` was a list of inputs (errors then name `input[i]`), not one string or one token-id list.
    var batched: Bool
    var encoding: Encoding
    /// Keep the first this many values (then normalise): OpenAI's `dimensions`.
    var dimensions: Int?
    /// vLLM's `truncate_prompt_tokens`: keep each input's last k tokens; `-1` keeps as many as the model takes.
    var truncatePromptTokens: Int?
    /// vLLM's `add_special_tokens`: the tokenizer's own special tokens around a text input (default true).
    var addSpecialTokens: Bool
    /// vLLM's `normalize`: unit-length vectors (default true, as OpenAI's are).
    var normalize: Bool
    var priority: Int
    var unknownFields: [String]

    /// OpenAI's limit on inputs per request.
    static let maxInputs = 2048

    static let known: Set<String> = ["model", "input", "encoding_format", "dimensions", "user", "truncate_prompt_tokens",
                                     "add_special_tokens", "normalize", "priority"]

    static func parse(_ body: [UInt8]) throws(APIError) -> EmbeddingRequest {
        let f = try FieldReader(try JSONInput.parse(body))
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        let encodingName = try f.string("encoding_format") ?? "float"
        guard let encoding = Encoding(rawValue: encodingName) else {
            throw APIError.invalid("'encoding_format' must be 'float' or 'base64', got '\(encodingName)'", param: "encoding_format", code: "invalid_value")
        }
        _ = try f.string("user")
        let truncate = try f.int("truncate_prompt_tokens", in: -1...Int(Int32.max))
        if truncate == 0 {
            throw APIError.invalid("'truncate_prompt_tokens' must be at least 1 (or -1 for the model's context)", param: "truncate_prompt_tokens",
                                   code: "invalid_value")
        }
        let (inputs, batched) = try inputs(f)
        return EmbeddingRequest(model: model, inputs: inputs, batched: batched, encoding: encoding, dimensions: try f.int("dimensions", in: 1...Int(Int32.max)),
                                truncatePromptTokens: truncate, addSpecialTokens: try f.bool("add_special_tokens") ?? true,
                                normalize: try f.bool("normalize") ?? true, priority: try f.int("priority", in: Int(Int32.min)...Int(Int32.max)) ?? 0,
                                unknownFields: f.fields.keys.filter { !known.contains($0) }.sorted())
    }

    /// `input`: a string, an array of strings, an array of token ids, or an array of token-id arrays (not strings and
    /// arrays mixed, as OpenAI's schema has it); none empty. Also whether it was a list of inputs.
    static func inputs(_ f: FieldReader) throws(APIError) -> (inputs: [CompletionRequest.Prompt], batched: Bool) {
        guard let v = f.raw("input") else {
            throw APIError.invalid("'input' is required", param: "input", code: "missing_required_parameter")
        }
        let bad = APIError.invalid("'input' must be a string, an array of strings, an array of token ids, or an array of token-id arrays",
                                   param: "input", code: "invalid_type")
        var out: [CompletionRequest.Prompt] = [], batched = false
        switch v {
        case let .string(s): out = [.text(s)]
        case let .array(items) where items.isEmpty:
            throw APIError.invalid("'input' must not be an empty array", param: "input", code: "invalid_value")
        case let .array(items):
            if case .int = items[0] {
                out = [.tokens(try CompletionRequest.ids(items, bad))]
            } else {
                batched = true
                let strings = items[0].typeName == "string"
                for item in items {
                    switch item {
                    case let .string(s) where strings: out.append(.text(s))
                    case let .array(inner) where !strings: out.append(.tokens(try CompletionRequest.ids(inner, bad)))
                    default: throw bad
                    }
                }
            }
        default: throw bad
        }
        guard out.count <= maxInputs else {
            throw APIError.invalid("at most \(maxInputs) inputs per request, got \(out.count)", param: "input", code: "invalid_value")
        }
        for (i, p) in out.enumerated() {
            let empty: Bool
            switch p {
            case let .text(s): empty = s.isEmpty
            case let .tokens(t): empty = t.isEmpty
            }
            if empty {
                let at = batched ? "input[\(i)]" : "input"
                throw APIError.invalid("'\(at)' is empty; every input must have text or tokens", param: at, code: "invalid_value")
            }
        }
        return (out, batched)
    }

    /// The engine requests, one per input: token ids checked against the vocabulary and the sequence limit.
    func engineRequests(id: String, context: ServingContext) throws(APIError) -> [EngineRequest] {
        guard let pooling = context.model.pooling else {
            throw APIError.invalid(context.model.poolingRefusal ?? "this server does not serve embeddings for this model", param: "model",
                                   code: "unsupported_model")
        }
        let prompter = context.prompter
        try context.check(priority: priority)
        if let d = dimensions, d > context.model.hiddenSize {
            throw APIError.invalid("'dimensions' is \(d), but this model's embeddings have \(context.model.hiddenSize)", param: "dimensions",
                                   code: "invalid_value")
        }
        let limit = context.model.maxSequenceLength
        let key = "\(id)#\(EngineRequestNonce.next())"
        var out: [EngineRequest] = []
        for (i, input) in inputs.enumerated() {
            let param = batched ? "input[\(i)]" : "input"
            var ids: [Int]
            switch input {
            case let .text(s): ids = addSpecialTokens ? prompter.encodeWithSpecialTokens(s) : prompter.encodeFragment(s)
            case let .tokens(t):
                if let bad = t.first(where: { $0 < 0 || $0 >= context.model.vocabularySize }) {
                    throw APIError.invalid("token id \(bad) in '\(param)' is outside the vocabulary of \(context.model.vocabularySize)", param: param,
                                           code: "invalid_value")
                }
                ids = t
            }
            if let k = truncatePromptTokens { ids = Array(ids.suffix(k == -1 ? limit : k)) }
            guard !ids.isEmpty else { throw APIError.invalid("'\(param)' has no tokens", param: param, code: "invalid_value") }
            guard ids.count <= limit else {
                if let k = truncatePromptTokens {
                    throw APIError.invalid("'truncate_prompt_tokens' is \(k), more than fits \(context.model.sequenceLimitDescription); send at most "
                                           + "\(limit), or -1 for as many as fit", param: "truncate_prompt_tokens", code: "context_length_exceeded")
                }
                throw APIError.invalid("'\(param)' has \(ids.count) tokens, which does not fit \(context.model.sequenceLimitDescription); shorten it or "
                                       + "send truncate_prompt_tokens (-1 keeps the last tokens that fit)", param: param, code: "context_length_exceeded")
            }
            var request = EngineRequest(id: inputs.count == 1 ? key : "\(key)-\(i)", promptTokenIDs: ids, sampling: SamplingParams(maxTokens: 0),
                                        priority: priority, pooling: pooling)
            request.batchIndex = i
            out.append(request)
        }
        return out
    }

    /// A pooled hidden state as the client asked for it: cut to `dimensions`, then made unit-length.
    func shaped(_ pooled: [Float]) -> [Float] {
        var v = dimensions.map { Array(pooled.prefix($0)) } ?? pooled
        if normalize {
            let norm = Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            if norm > 0 { for i in v.indices { v[i] /= norm } }
        }
        return v
    }

    /// One vector as JSON: numbers, or base64 of its little-endian float32 bytes.
    func json(_ v: [Float]) -> JSONValue {
        switch encoding {
        case .float: return .array(v.map { .float($0) })
        case .base64:
            var bytes = [UInt8]()
            bytes.reserveCapacity(v.count * 4)
            for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            return .string(Data(bytes).base64EncodedString())
        }
    }
}

/// `POST /v1/embeddings`: each input's final hidden states, pooled as the model was trained to (`ServedModel.pooling`).
struct EmbeddingsHandler {
    let context: ServingContext
    let logger: Logger
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let req = try EmbeddingRequest.parse(request.body)
            logger.ignoring(req.unknownFields)
            try context.check(model: req.model)
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)", "inputs": .array(req.inputs.map(\.logValue))])
            }
            let requests = try req.engineRequests(id: request.completionID(prefix: "embd"), context: context)
            let run = ChoiceRun(requests: requests, backend: context.backend, tokenBytes: context.prompter.tokenBytes)
            guard run.begin(writer: writer, headers: headers, inFlight: inFlight) else { return }
            collect(run, req, writer)
        } catch {
            writer.respondError(error, headers: headers)
        }
    }

    /// Gathers every input's vector, then answers once (OpenAI's list shape); a failure answers the first error.
    private func collect(_ run: ChoiceRun, _ req: EmbeddingRequest, _ writer: HTTPResponseWriter) {
        let vectors = EmbeddingVectors(count: run.requests.count)
        let (model, headers) = (context.model.id, self.headers)
        run.submit { i, event in
            switch event {
            case let .embedding(pooled): vectors.set(i, req.shaped(pooled))
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                guard run.finish(i, usage: usage) else { return }
                // Ended before its prompt ran (the drain deadline): there is no vector to give.
                guard let all = vectors.all else {
                    writer.respondError(.unavailable("the server is shutting down; retry on another replica"), headers: headers)
                    return
                }
                let u = run.usage
                var usage: [(String, JSONValue)] = [("prompt_tokens", .int(u.promptTokens)), ("total_tokens", .int(u.promptTokens))]
                if case let .object(fields) = CompletionHeader.usageJSON(u), let sim = fields.first(where: { $0.0 == "simulated" }) { usage.append(sim) }
                writer.respondJSON(.object([
                    ("object", .string("list")),
                    ("data", .array(all.enumerated().map { j, v in
                        .object([("object", .string("embedding")), ("index", .int(j)), ("embedding", req.json(v))])
                    })),
                    ("model", .string(model)),
                    ("usage", .object(usage)),
                ]), headers: headers)
            case let .failed(message):
                if run.fail() {
                    run.abortAll()
                    writer.respondError(.engineFailure(message), headers: headers)
                }
            case .token, .text, .promptLogprobs: break
            }
        }
    }
}

/// Each input's finished vector, filled in on the engine thread.
final class EmbeddingVectors: @unchecked Sendable {
    private let lock = NSLock()
    private var vectors: [[Float]?]

    init(count: Int) { vectors = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ v: [Float]) { lock.withLock { vectors[i] = v } }

    /// Every vector, or nil while one is missing.
    var all: [[Float]]? {
        lock.withLock {
            let present = vectors.compactMap { $0 }
            return present.count == vectors.count ? present : nil
        }
    }
}
