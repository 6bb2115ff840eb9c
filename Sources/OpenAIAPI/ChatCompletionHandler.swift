import Engine
import Foundation
import HTTPCore
import Logging

/// `POST /v1/chat/completions`: validate, build the prompt, submit, answer whole or as SSE.
struct ChatCompletionHandler {
    let context: ServingContext
    let logger: Logger

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let chat = try ChatCompletionRequest.parse(request.body)
            if !chat.unknownFields.isEmpty {
                logger.info("ignoring unknown request fields", metadata: ["fields": "\(chat.unknownFields.joined(separator: ","))"])
            }
            let engineRequest = try makeEngineRequest(chat)
            let response = ChatResponseBuilder(id: engineRequest.id, model: context.model.id, created: Int(Date().timeIntervalSince1970),
                                               fingerprint: context.systemFingerprint)
            if chat.stream {
                stream(engineRequest, chat: chat, response: response, writer: writer)
            } else {
                complete(engineRequest, response: response, writer: writer)
            }
        } catch let e as APIError {
            writer.respondError(e)
        } catch {
            writer.respondError(.server("\(error)"))
        }
    }

    func makeEngineRequest(_ chat: ChatCompletionRequest) throws -> EngineRequest {
        guard chat.model == context.model.id else {
            throw APIError.notFound("the model '\(chat.model)' does not exist; this server serves '\(context.model.id)'", code: "model_not_found", param: "model")
        }
        let prompt: [Int]
        do {
            prompt = try context.prompter.promptTokens(for: chat.messages)
        } catch {
            throw APIError.invalid("the chat template could not render these messages: \(error)", param: "messages", code: "template_error")
        }
        let ctx = context.model.contextLength
        guard prompt.count < ctx else {
            throw APIError.invalid("the prompt has \(prompt.count) tokens, which does not fit the model's context of \(ctx) tokens", param: "messages", code: "context_length_exceeded")
        }
        let maxTokens = chat.maxTokens ?? (ctx - prompt.count)
        guard prompt.count + maxTokens <= ctx else {
            throw APIError.invalid("the prompt (\(prompt.count) tokens) plus max_tokens (\(maxTokens)) exceeds the model's context of \(ctx) tokens", param: "max_tokens", code: "context_length_exceeded")
        }
        var sampling = SamplingParams()
        sampling.temperature = Float(chat.temperature ?? 1)
        sampling.topP = Float(chat.topP ?? 1)
        sampling.topK = max(0, chat.topK ?? 0)
        sampling.seed = chat.seed.map { UInt64(bitPattern: Int64($0)) }
        sampling.maxTokens = maxTokens
        sampling.ignoreEOS = chat.ignoreEOS
        return EngineRequest(id: "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), promptTokenIDs: prompt, sampling: sampling)
    }

    func complete(_ req: EngineRequest, response: ChatResponseBuilder, writer: HTTPResponseWriter) {
        let text = TextAccumulator()
        let backend = context.backend
        writer.onClose { backend.abort(req.id) }
        backend.submit(req) { event in
            switch event {
            case let .token(_, t), let .text(t):
                text.append(t)
            case let .finished(reason, usage):
                guard reason != .abort else { return }
                writer.respondJSON(response.completion(text: text.value, finishReason: reason, usage: usage))
            case let .failed(message):
                writer.respondError(.server(message))
            }
        }
    }

    func stream(_ req: EngineRequest, chat: ChatCompletionRequest, response: ChatResponseBuilder, writer: HTTPResponseWriter) {
        let sse = SSEWriter(writer)
        let backend = context.backend
        writer.onClose { backend.abort(req.id) }
        sse.start()
        _ = sse.send(data: response.chunk(delta: .object([("role", .string("assistant")), ("content", .string(""))]), finishReason: nil).serialized())
        backend.submit(req) { event in
            switch event {
            case let .token(_, t), let .text(t):
                guard !t.isEmpty else { return }
                if sse.send(data: response.chunk(delta: .object([("content", .string(t))]), finishReason: nil).serialized()) == .closed {
                    backend.abort(req.id)
                }
            case let .finished(reason, usage):
                guard reason != .abort else { sse.finish(); return }
                _ = sse.send(data: response.chunk(delta: .object([]), finishReason: reason).serialized())
                if chat.includeUsage { _ = sse.send(data: response.usageChunk(usage).serialized()) }
                _ = sse.send(data: "[DONE]")
                sse.finish()
            case let .failed(message):
                _ = sse.send(data: APIError.server(message).json.serialized(), event: "error")
                _ = sse.send(data: "[DONE]")
                sse.finish()
            }
        }
    }
}

/// Collects streamed text for a non-streaming answer (events arrive on the engine thread).
final class TextAccumulator: @unchecked Sendable {
    private var parts: [String] = []
    private let lock = NSLock()
    func append(_ s: String) { lock.lock(); parts.append(s); lock.unlock() }
    var value: String { lock.lock(); defer { lock.unlock() }; return parts.joined() }
}
