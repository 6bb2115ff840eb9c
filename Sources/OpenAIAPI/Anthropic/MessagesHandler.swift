import Engine
import Foundation
import HTTPCore
import Logging

/// Anthropic's Messages API: `POST /v1/messages` (whole, or as its typed SSE events) and
/// `POST /v1/messages/count_tokens`, so Anthropic's SDKs and the tools built on them can use the served model. A
/// message runs as a chat completion of one choice: the same template, sampling, grammar and tool-call reading.
/// Errors come in Anthropic's shape.
struct MessagesHandler {
    let context: ServingContext
    let logger: Logger
    /// Added to every response (CORS).
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests

    func create(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        let headers = headers.withRequestID(request)
        do throws(APIError) {
            let m = try MessagesRequest.parse(request.body)
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)",
                                                 "messages": .array(m.chat.messages.map { "\($0.role): \($0.content)" })])
            }
            let id = "msg_" + ToolCallID.hex().prefix(24)
            // Engine ids (in the engine's logs) carry the client's X-Request-Id when it sent one, as chat's do.
            let engineID = request.headers["X-Request-Id"] != nil ? request.completionID(prefix: "msg") : id
            let chat = try context.chatEngineRequests(m.chat, id: engineID, fields: .anthropic, reasoning: options.reasoning)
            let output = MessageAccumulator(tools: chat.tools, reasoning: chat.reasoning, mistralCallIDs: context.prompter.toolCallFormat == .mistral,
                                            omitThinking: m.omitThinking)
            let run = ChoiceRun(requests: chat.requests, backend: context.backend, tokenBytes: context.prompter.tokenBytes)
            guard run.begin(writer: writer, headers: headers, inFlight: inFlight, refuse: { writer.respondAnthropicError($0, headers: headers) }) else { return }
            let message = MessageRun(run: run, header: MessageHeader(id: id, model: context.model.id), output: output, writer: writer,
                                     headers: headers)
            if m.chat.stream { message.stream() } else { message.collect() }
        } catch {
            writer.respondAnthropicError(error, headers: headers)
        }
    }

    /// `{"input_tokens": n}`: the prompt the same request would run (system, messages, tools), counted.
    func countTokens(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        let headers = headers.withRequestID(request)
        do throws(APIError) {
            let m = try MessagesRequest.parse(request.body, counting: true)
            try context.check(model: m.chat.model)
            let prompt = try context.chatPrompt(m.chat, fields: .anthropic, parsing: options.reasoning)
            writer.respondJSON(.object([("input_tokens", .int(prompt.tokens.count))]), headers: headers)
        } catch {
            writer.respondAnthropicError(error, headers: headers)
        }
    }
}

/// One message being generated: collected whole, or streamed as Anthropic's events.
struct MessageRun: Sendable {
    let run: ChoiceRun
    let header: MessageHeader
    let output: MessageAccumulator
    let writer: HTTPResponseWriter
    let headers: HTTPHeaders

    static let stopped = APIError.unavailable("the server stopped this message while shutting down; retry on another replica")

    func collect() {
        let (run, output, writer, headers, header) = (self.run, self.output, self.writer, self.headers, self.header)
        run.submit { _, event in
            switch event {
            case let .token(_, text, _), let .text(text): _ = output.add(text)
            case .promptLogprobs, .embedding: break
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                _ = output.finish(reason)
                guard run.finish(0, usage: usage) else { return }
                guard reason != .abort else { return writer.respondAnthropicError(Self.stopped, headers: headers) }
                let stop = MessageHeader.stop(reason, usage: usage, calls: output.calls)
                writer.respondJSON(header.object(content: output.blocks, stop: stop, usage: MessageHeader.usage(run.usage)), headers: headers)
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                writer.respondAnthropicError(.engineFailure(message), headers: headers)
            }
        }
    }

    func stream() {
        let sse = SSEWriter(writer)
        let (run, output, writer, header) = (self.run, self.output, self.writer, self.header)
        // Anthropic's events are not numbered.
        let events = EventSequence(sse, numbered: false)
        let send = { @Sendable (e: [JSONValue]) in events.send(e) }
        sse.start(extraHeaders: headers)
        let prompt = run.requests[0].promptTokenIDs.count
        let initial = MessageHeader.usage(Usage(promptTokens: prompt, completionTokens: 0))
        _ = send([.object([("type", .string("message_start")), ("message", header.object(content: [], stop: nil, usage: initial))]),
                  .object([("type", .string("ping"))])])
        run.submit { _, event in
            switch event {
            case let .token(_, text, _), let .text(text):
                if send(output.add(text)) == .closed { run.abortAll() }
            case .promptLogprobs, .embedding: break
            case let .finished(reason, usage):
                guard reason != .abort || !writer.isClosed else { return }
                _ = send(output.finish(reason))
                guard run.finish(0, usage: usage) else { return }
                if reason == .abort {
                    // The error event is the error body itself.
                    _ = send([Self.stopped.anthropicJSON])
                    return sse.finish()
                }
                let stop = MessageHeader.stop(reason, usage: usage, calls: output.calls)
                let delta: JSONValue = .object([("stop_reason", .string(stop.reason)), ("stop_sequence", stop.sequence.map { .string($0) } ?? .null)])
                _ = send([.object([("type", .string("message_delta")), ("delta", delta), ("usage", MessageHeader.usage(run.usage))]),
                          .object([("type", .string("message_stop"))])])
                sse.finish()
            case let .failed(message):
                guard run.fail() else { return }
                run.abortAll()
                _ = send([APIError.engineFailure(message).anthropicJSON])
                sse.finish()
            }
        }
    }
}

extension HTTPHeaders {
    /// With the request's id also as `request-id`, the header Anthropic's SDKs read (`message._request_id`, errors'
    /// `request_id`).
    func withRequestID(_ request: HTTPRequest) -> HTTPHeaders {
        var h = self
        if !request.requestID.isEmpty { h.replaceOrAdd("request-id", request.requestID) }
        return h
    }
}

extension HTTPResponseWriter {
    func respondAnthropicError(_ error: APIError, headers: HTTPHeaders = HTTPHeaders()) {
        respondJSON(error.anthropicJSON, status: error.status, headers: headers)
    }
}
