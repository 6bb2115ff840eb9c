import Engine
import Foundation
import HTTPCore
import Logging

/// `POST /v1/chat/completions`: validate, build the prompt, submit one engine request per choice,
/// answer whole or as SSE.
struct ChatCompletionHandler {
    let context: ServingContext
    let logger: Logger
    /// Added to every response (CORS).
    let headers: HTTPHeaders
    let options: APIOptions
    let inFlight: InFlightRequests

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        do {
            let chat = try ChatCompletionRequest.parse(request.body)
            if !chat.unknownFields.isEmpty {
                logger.info("ignoring unknown request fields", metadata: ["fields": "\(chat.unknownFields.joined(separator: ","))"])
            }
            if options.logPrompts {
                logger.info("prompt", metadata: ["request_id": "\(request.requestID)",
                                                 "messages": .array(chat.messages.map { "\($0.role): \($0.content)" })])
            }
            let id = request.completionID(prefix: "chatcmpl")
            let requests = try makeEngineRequests(chat, id: id)
            let shape = ChatResponseBuilder(header: CompletionHeader(id: id, model: context.model.id, created: Int(Date().timeIntervalSince1970),
                                                                     fingerprint: context.systemFingerprint))
            ChoiceRun(requests: requests, backend: context.backend, tokenBytes: context.prompter.tokenBytes, choicesPerPrompt: chat.sampling.n)
                .respond(shape: shape, stream: chat.stream, includeUsage: chat.includeUsage, writer: writer, headers: headers, inFlight: inFlight)
        } catch let e as APIError {
            writer.respondError(e, headers: headers)
        } catch {
            writer.respondError(.server("\(error)"), headers: headers)
        }
    }

    func makeEngineRequests(_ chat: ChatCompletionRequest, id: String) throws -> [EngineRequest] {
        guard chat.model == context.model.id else {
            throw APIError.notFound("the model '\(chat.model)' does not exist; this server serves '\(context.model.id)'", code: "model_not_found", param: "model")
        }
        let prompt: [Int]
        do {
            prompt = try context.prompter.promptTokens(for: chat.messages)
        } catch {
            throw APIError.invalid("the chat template could not render these messages: \(error)", param: "messages", code: "template_error")
        }
        return try chat.sampling.engineRequests(id: id, prompts: [prompt], context: context, promptParam: "messages")
    }
}

