import Engine
import Foundation
import HTTPCore
import Logging

/// OpenAI's Responses API: `POST /v1/responses` (whole or as its typed SSE events), `GET` and `DELETE
/// /v1/responses/{id}` for stored responses, and `previous_response_id` to continue a stored conversation. A
/// request runs as a chat completion of one choice: the same template, sampling, grammar and tool-call reading.
struct ResponsesHandler {
    let context: ServingContext
    let logger: Logger
    /// Added to every response (CORS).
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests
    let store: ResponseStore

    func create(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do throws(APIError) {
            var r = try ResponsesRequest.parse(request.body)
            // A server that keeps no responses says so in each one, rather than claiming it stored it.
            r.store = r.store && store.capacity > 0
            logger.ignoring(r.unknownFields)
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)", "instructions": "\(r.instructions ?? "")",
                                                 "input": .array(r.input.map { "\($0.role): \($0.content)" })])
            }
            let id = "resp_" + ResponseAccumulator.hex()
            // Engine ids (in the engine's logs) carry the client's X-Request-Id when it sent one, as chat's do.
            let engineID = request.headers["X-Request-Id"] != nil ? request.completionID(prefix: "resp") : id
            let chat = try engineRequests(r, id: engineID)
            let header = ResponseHeader(id: id, request: r, model: context.model.id)
            let output = ResponseAccumulator(tools: chat.tools, withLogprobs: r.sampling.topLogprobs != nil,
                                             mistralCallIDs: context.prompter.toolCallFormat == .mistral, reasoning: chat.reasoning)
            let run = ChoiceRun(requests: chat.requests, backend: context.backend, tokenBytes: context.prompter.tokenBytes)
            guard run.begin(writer: writer, headers: headers, inFlight: inFlight) else { return }
            var save: (@Sendable (JSONValue) -> Void)?
            if r.store {
                let (store, input, previous) = (self.store, r.input, r.previousResponseID)
                save = { object in store.put(id: id, object: object, previousID: previous, turn: input + [output.message]) }
            }
            let response = ResponseRun(run: run, header: header, output: output, writer: writer, headers: headers, save: save)
            if r.stream { response.stream() } else { response.collect() }
        } catch {
            writer.respondError(error, headers: headers)
        }
    }

    /// The chat request this response runs as: instructions, the stored conversation it continues, its input.
    func engineRequests(_ r: ResponsesRequest, id: String) throws(APIError) -> ChatRun {
        var history: [ChatMessage] = []
        if let previous = r.previousResponseID {
            // A chain's text past this could not fit the context anyway: refused before it is rendered.
            let limit = max(1 << 20, context.model.maxSequenceLength * 64)
            switch store.conversation(upTo: previous, byteLimit: limit) {
            case let .messages(m): history = m
            case .missing:
                throw APIError.notFound("no stored response '\(previous)' (or one it continues) on this server: responses are kept in memory per replica, "
                                        + "and only with 'store' true; send the conversation as 'input' instead",
                                        code: "previous_response_not_found", param: "previous_response_id")
            case .tooLong:
                throw APIError.invalid("the conversation that '\(previous)' continues is longer than \(context.model.sequenceLimitDescription) could hold",
                                       param: "previous_response_id", code: "context_length_exceeded")
            }
        }
        let messages = (r.instructions.map { [ChatMessage(role: "system", content: $0)] } ?? []) + history + r.input
        // A call's output must answer a call of this conversation (OpenAI's rule): an unknown id is a client's mistake.
        var calls = Set<String>()
        for (i, m) in messages.enumerated() {
            calls.formUnion(m.toolCalls.map(\.id))
            if let id = m.toolCallID, !calls.contains(id) {
                let at = i - (messages.count - r.input.count)
                throw APIError.invalid("no function call with call_id '\(id)' comes before its output in this conversation",
                                       param: at >= 0 ? "input" : "previous_response_id", code: "invalid_value")
            }
        }
        var chat = ChatCompletionRequest(model: r.model, messages: messages, sampling: r.sampling, stream: r.stream, includeUsage: false,
                                         tools: r.tools, unknownFields: [])
        chat.templateArguments = r.templateArguments
        return try context.chatEngineRequests(chat, id: id, fields: .responses, reasoning: options.reasoning)
    }

    func retrieve(_ id: String, query: String?, _ writer: HTTPResponseWriter) {
        let stream = ResponseInputItems.queryItems(query).contains { $0.name == "stream" && ($0.value == "true" || $0.value == "1") }
        if stream {
            return writer.respondError(.invalid("streaming a stored response again is not supported; retrieve it whole", param: "stream",
                                                code: "unsupported_parameter"), headers: headers)
        }
        guard let object = store.object(id) else { return writer.respondError(Self.notFound(id), headers: headers) }
        var h = headers
        h.replaceOrAdd("Content-Type", "application/json")
        writer.respond(HTTPResponseHead(status: 200, headers: h), body: object)
    }

    func delete(_ id: String, _ writer: HTTPResponseWriter) {
        guard store.delete(id) else { return writer.respondError(Self.notFound(id), headers: headers) }
        writer.respondJSON(.object([("id", .string(id)), ("object", .string("response")), ("deleted", .bool(true))]), headers: headers)
    }

    func inputItems(_ id: String, query: String?, _ writer: HTTPResponseWriter) {
        guard let turn = store.turn(id) else { return writer.respondError(Self.notFound(id), headers: headers) }
        do {
            writer.respondJSON(try ResponseInputItems.page(ResponseInputItems.items(of: turn, responseID: id), query: query), headers: headers)
        } catch {
            writer.respondError(error, headers: headers)
        }
    }

    /// `POST /v1/responses/{id}/cancel`: only background responses can be cancelled, and this server runs none.
    func cancel(_ id: String, _ writer: HTTPResponseWriter) {
        guard store.object(id) != nil else { return writer.respondError(Self.notFound(id), headers: headers) }
        writer.respondError(.invalid("only responses created with 'background' true can be cancelled, and this server runs none in the background",
                                     code: "invalid_value"), headers: headers)
    }

    static func notFound(_ id: String) -> APIError {
        .notFound("no stored response with id '\(id)' on this server (responses are kept in memory, per replica, when created with 'store' true)",
                  code: "response_not_found")
    }
}

/// One response being generated: collected whole, or streamed as typed events.
struct ResponseRun: Sendable {
    let run: ChoiceRun
    let header: ResponseHeader
    let output: ResponseAccumulator
    let writer: HTTPResponseWriter
    let headers: HTTPHeaders
    /// Keeps the finished response (`store`); nil when not stored.
    let save: (@Sendable (JSONValue) -> Void)?

    static let stopped = (code: "server_error", message: "the server stopped this response while shutting down; retry on another replica")

    func entry(_ id: Int, _ logprobs: TokenLogprobs?) -> TokenLogprobsEntry? {
        logprobs.map { TokenLogprobsEntry(token: id, $0, tokenBytes: run.tokenBytes) }
    }

    /// The finished object; kept when it completed or ran out of tokens.
    func finished(_ reason: FinishReason) -> JSONValue {
        let status = reason == .abort ? "failed" : (reason == .length ? "incomplete" : "completed")
        let object = header.object(status: status, output: output.items, usage: run.usage, error: reason == .abort ? Self.stopped : nil)
        if reason != .abort { save?(object) }
        return object
    }

    func collect() {
        let (run, output, writer, headers) = (self.run, self.output, self.writer, self.headers)
        run.submit { _, event in
            switch event {
            case let .token(id, text, logprobs): _ = output.add(text, logprob: entry(id, logprobs))
            case let .text(text): _ = output.add(text, logprob: nil)
            case .promptLogprobs, .embedding: break
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                _ = output.finish(reason)
                if run.finish(0, usage: usage) { writer.respondJSON(finished(reason), headers: headers) }
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                writer.respondError(.server(message), headers: headers)
            }
        }
    }

    func stream() {
        let sse = SSEWriter(writer)
        let (run, output, writer, header) = (self.run, self.output, self.writer, self.header)
        let sequence = EventSequence(sse)
        sse.start(extraHeaders: headers)
        let initial = header.object(status: "in_progress", output: [], usage: nil)
        sequence.send(.object([("type", .string("response.created")), ("response", initial)]))
        sequence.send(.object([("type", .string("response.in_progress")), ("response", initial)]))
        run.submit { _, event in
            switch event {
            case let .token(id, text, logprobs):
                if sequence.send(output.add(text, logprob: entry(id, logprobs))) == .closed { run.abortAll() }
            case let .text(text):
                sequence.send(output.add(text, logprob: nil))
            case .promptLogprobs, .embedding: break
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                sequence.send(output.finish(reason))
                guard run.finish(0, usage: usage) else { return }
                let type = reason == .abort ? "response.failed" : (reason == .length ? "response.incomplete" : "response.completed")
                sequence.send(.object([("type", .string(type)), ("response", finished(reason))]))
                sse.finish()
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                let failed = header.object(status: "failed", output: output.items, usage: nil, error: ("server_error", message))
                sequence.send(.object([("type", .string("response.failed")), ("response", failed)]))
                sse.finish()
            }
        }
    }
}

/// Sends each of a stream's events under its type's SSE `event:` name, numbered (`sequence_number`, from 0) unless the
/// API numbers none (Anthropic's).
final class EventSequence: @unchecked Sendable {
    private let sse: SSEWriter
    private let numbered: Bool
    private let lock = NSLock()
    private var next = 0

    init(_ sse: SSEWriter, numbered: Bool = true) {
        self.sse = sse
        self.numbered = numbered
    }

    @discardableResult
    func send(_ events: [JSONValue]) -> HTTPWriteResult {
        var result = HTTPWriteResult.ok
        for e in events where send(e) == .closed { result = .closed }
        return result
    }

    @discardableResult
    func send(_ event: JSONValue) -> HTTPWriteResult {
        guard case let .object(fields) = event, case let .string(type)? = fields.first?.1 else {
            assertionFailure("a stream event must start with its type")
            return .ok
        }
        guard numbered else { return sse.send(data: event.serialized(), event: type) }
        let n = lock.withLock { defer { next += 1 }; return next }
        return sse.send(data: JSONValue.object(fields + [("sequence_number", .int(n))]).serialized(), event: type)
    }
}
