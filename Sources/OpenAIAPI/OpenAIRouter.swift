import Foundation
import HTTPCore
import Logging

/// Routes HTTP requests to the OpenAI-compatible endpoints. Knows JSON and HTTP, never tensors.
public final class OpenAIRouter: Sendable {
    let context: ServingContext
    let logger: Logger

    public init(context: ServingContext, logger: Logger) {
        self.context = context
        self.logger = logger
    }

    /// The `HTTPHandler` to give the server.
    public var handler: HTTPHandler {
        { [self] request, writer in self.handle(request, writer) }
    }

    public func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        switch (request.method, request.path) {
        case ("POST", "/v1/chat/completions"):
            ChatCompletionHandler(context: context, logger: logger).handle(request, writer)
        case ("GET", "/v1/models"):
            writer.respondJSON(.object([("object", .string("list")), ("data", .array([modelJSON]))]))
        case ("GET", "/v1/models/\(context.model.id)"):
            writer.respondJSON(modelJSON)
        case ("GET", "/health"), ("HEAD", "/health"):
            writer.respondJSON(.object([("status", .string("ok"))]))
        case (_, "/v1/chat/completions"), (_, "/v1/models"), (_, "/health"):
            writer.respondError(.methodNotAllowed(request.method, path: request.path))
        default:
            if request.path.hasPrefix("/v1/models/") {
                let id = String(request.path.dropFirst("/v1/models/".count))
                writer.respondError(.notFound("the model '\(id)' does not exist", code: "model_not_found"))
            } else {
                writer.respondError(.notFound("no route for \(request.method) \(request.path)", code: "not_found"))
            }
        }
    }

    var modelJSON: JSONValue {
        .object([
            ("id", .string(context.model.id)),
            ("object", .string("model")),
            ("created", .int(context.model.created)),
            ("owned_by", .string(context.model.ownedBy)),
            ("max_model_len", .int(context.model.contextLength)),
        ])
    }
}
