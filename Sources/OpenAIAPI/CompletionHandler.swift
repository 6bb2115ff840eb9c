import Engine
import Foundation
import HTTPCore
import Logging

/// A validated `POST /v1/completions` body.
struct CompletionRequest: Sendable, Equatable {
    /// Prompts as text or token ids (a batch gives one set of choices per prompt).
    enum Prompt: Sendable, Equatable {
        case text(String)
        case tokens([Int])

        /// As `--log-prompts` logs it.
        var logValue: Logger.MetadataValue {
            switch self {
            case let .text(t): return "\(t)"
            case let .tokens(t): return "\(t)"
            }
        }
    }

    var model: String
    var prompts: [Prompt]
    var sampling: SamplingRequest
    var echo: Bool
    var stream: Bool
    var includeUsage: Bool
    var unknownFields: [String]

    /// Fields that change the result and are not implemented: refused unless neutral (with vLLM's, see
    /// `SamplingRequest.vllmExtensions`).
    static let notYetSupported: KeyValuePairs<String, @Sendable (JSONInput) -> Bool> = [:]

    static let known: Set<String> = Set(["model", "prompt", "echo", "stream", "stream_options", "suffix", "best_of"])
        .union(SamplingRequest.fields).union(notYetSupported.map(\.key)).union(SamplingRequest.vllmExtensions.map(\.key))

    static func parse(_ body: [UInt8]) throws(APIError) -> CompletionRequest {
        let f = try FieldReader(try JSONInput.parse(body))
        guard let model = try f.string("model") else {
            throw APIError.invalid("you must provide a model parameter", param: "model", code: "missing_required_parameter")
        }
        if let suffix = try f.string("suffix"), !suffix.isEmpty {
            throw APIError.invalid("'suffix' (fill-in-the-middle) is not supported by this model", param: "suffix", code: "unsupported_parameter")
        }
        if let bestOf = try f.int("best_of"), bestOf != 1 {
            throw APIError.invalid("'best_of' is not supported by this server", param: "best_of", code: "unsupported_parameter")
        }
        try ChatCompletionRequest.rejectUnsupported(f, notYetSupported)
        try ChatCompletionRequest.rejectUnsupported(f, SamplingRequest.vllmExtensions)
        let (stream, includeUsage) = try ChatCompletionRequest.streamOptions(f)
        let echo = try f.bool("echo") ?? false
        return CompletionRequest(model: model, prompts: try prompts(f), sampling: try SamplingRequest(f, body: OrderedBody(body), logprobsIsCount: true, echo: echo),
                                 echo: echo, stream: stream, includeUsage: includeUsage,
                                 unknownFields: f.fields.keys.filter { !known.contains($0) }.sorted())
    }

    /// `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays.
    static func prompts(_ f: FieldReader) throws(APIError) -> [Prompt] {
        guard let v = f.raw("prompt") else {
            throw APIError.invalid("'prompt' is required", param: "prompt", code: "missing_required_parameter")
        }
        let bad = APIError.invalid("'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays",
                                   param: "prompt", code: "invalid_type")
        switch v {
        case let .string(s): return [.text(s)]
        case let .array(items) where items.isEmpty:
            throw APIError.invalid("'prompt' must not be empty", param: "prompt", code: "invalid_value")
        case let .array(items):
            if case .int = items[0] { return [.tokens(try ids(items, bad))] }
            var out: [Prompt] = []
            for item in items {
                switch item {
                case let .string(s): out.append(.text(s))
                case let .array(inner): out.append(.tokens(try ids(inner, bad)))
                default: throw bad
                }
            }
            guard out.count <= 64 else { throw APIError.invalid("at most 64 prompts per request, got \(out.count)", param: "prompt", code: "invalid_value") }
            return out
        default: throw bad
        }
    }

    static func ids(_ items: [JSONInput], _ bad: APIError) throws(APIError) -> [Int] {
        var out: [Int] = []
        for item in items {
            guard case let .int(i) = item else { throw bad }
            out.append(i)
        }
        return out
    }
}

/// `POST /v1/completions`: raw prompts (no chat template), optional echo.
struct CompletionHandler {
    let context: ServingContext
    let logger: Logger
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let req = try CompletionRequest.parse(request.body)
            logger.ignoring(req.unknownFields)
            try context.check(model: req.model)
            let whole = req.prompts.map { p -> [Int] in
                switch p {
                case let .text(t): return context.prompter.encode(t)
                case let .tokens(t): return t
                }
            }
            // As the model sees them (`truncate_prompt_tokens` keeps the last ones).
            let ids = whole.map(req.sampling.truncated)
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)", "prompts": .array(req.prompts.map(\.logValue))])
            }
            let id = request.completionID(prefix: "cmpl")
            // echo with logprobs: the prompt's tokens get logprobs too (OpenAI's legacy shape; how evaluation
            // harnesses score a text).
            let requests = try req.sampling.engineRequests(id: id, prompts: ids, context: context, promptParam: "prompt",
                                                           promptLogprobs: req.echo ? req.sampling.topLogprobs : nil)
            let echo = req.echo ? req.prompts.indices.map { i -> String in
                // A prompt cut short echoes what the model saw.
                if case let .text(s) = req.prompts[i], whole[i].count == ids[i].count { return s }
                return context.prompter.decode(ids[i])
            } : []
            let shape = TextResponseBuilder(header: CompletionHeader(id: id, model: context.model.id, created: Int(Date().timeIntervalSince1970),
                                                                     fingerprint: context.systemFingerprint),
                                            echo: echo, choicesPerPrompt: req.sampling.n)
            ChoiceRun(requests: requests, backend: context.backend, tokenBytes: req.sampling.logprobTokenBytes(context), choicesPerPrompt: req.sampling.n,
                      promptLogprobs: req.sampling.promptLogprobs)
                .respond(shape: shape, stream: req.stream, includeUsage: req.includeUsage, writer: writer, headers: headers, inFlight: inFlight)
        } catch {
            writer.respondError(error, headers: headers)
        }
    }
}
