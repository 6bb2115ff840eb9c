import Foundation
import HTTPCore
import Logging

/// Routes HTTP requests to the OpenAI-compatible endpoints. Knows JSON and HTTP, never tensors.
///
/// The router exists before the model is loaded: until `setReady` it answers `/health` with 503
/// (so a load balancer's readiness probe waits) and every API route with 503 too. After
/// `beginDrain()` it does the same again (`"status": "draining"`) while in-flight requests finish.
/// `/metrics` answers in every state.
public final class OpenAIRouter: @unchecked Sendable {
    let logger: Logger
    let options: APIOptions
    /// The Prometheus text exposition for `/metrics` (rendered by whoever owns the metrics backend).
    let metricsText: @Sendable () -> [UInt8]
    let inFlight = InFlightRequests()
    /// Stored responses (`POST /v1/responses` with `store`), for retrieval and `previous_response_id`.
    let responses: ResponseStore
    private let lock = NSLock()
    private var context: ServingContext?

    public init(logger: Logger, options: APIOptions = APIOptions(), metricsText: @escaping @Sendable () -> [UInt8] = { [] }) {
        self.logger = logger
        self.options = options
        self.metricsText = metricsText
        responses = ResponseStore(capacity: options.storedResponses)
    }

    public convenience init(context: ServingContext, logger: Logger, options: APIOptions = APIOptions()) {
        self.init(logger: logger, options: options)
        setReady(context)
    }

    // MARK: - Drain (see `InFlightRequests`)

    /// From now on `/health` and new API requests answer 503; requests in flight go on.
    public func beginDrain() { inFlight.beginDrain() }

    /// Waits until no request is in flight (true) or the deadline passes (false).
    public func waitUntilIdle(deadline: Date) -> Bool { inFlight.waitUntilIdle(deadline: deadline) }

    /// Ends every request in flight with `finish_reason: "abort"`; returns how many.
    @discardableResult
    public func abortInFlight() -> Int { inFlight.abortAll() }

    /// Requests being answered now.
    public var inFlightCount: Int { inFlight.count }

    /// Starts serving the API with a loaded model.
    public func setReady(_ context: ServingContext) {
        lock.lock()
        self.context = context
        lock.unlock()
    }

    var current: ServingContext? { lock.lock(); defer { lock.unlock() }; return context }

    /// The `HTTPHandler` to give the server.
    public var handler: HTTPHandler {
        { [self] request, writer in self.handle(request, writer) }
    }

    public func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) {
        let cors = options.corsHeaders
        if request.method == "OPTIONS", options.corsOrigin != nil {
            let preflight = options.preflightHeaders(requested: request.headers["Access-Control-Request-Headers"])
            writer.respond(HTTPResponseHead(status: 204, headers: preflight), body: [])
            return
        }
        // RFC 9110 §9.1: a method the server does not know at all (methods are case-sensitive: `get` is not GET)
        // is a 501; a known one a route does not take is a 405 with `Allow`.
        // Anthropic's routes answer errors in Anthropic's shape, which its SDKs read.
        let anthropic = Self.isAnthropicRoute(request.path)
        let respondError = { (error: APIError, headers: HTTPHeaders) in
            if anthropic { writer.respondAnthropicError(error, headers: headers) } else { writer.respondError(error, headers: headers) }
        }
        guard Self.knownMethods.contains(request.method) else {
            respondError(.notImplemented("the method \(request.method) is not implemented by this server"), cors)
            return
        }
        if let denied = options.authorize(request) {
            var h = cors
            h.add("WWW-Authenticate", "Bearer")
            respondError(denied, h)
            return
        }
        if request.method == "GET" || request.method == "HEAD", request.path == "/metrics" {
            var h = cors
            h.replaceOrAdd("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            writer.respond(HTTPResponseHead(status: 200, headers: h), body: metricsText())
            return
        }
        let draining = inFlight.isDraining
        guard let context = current, !draining else {
            let status: JSONValue = .object([("status", .string(draining ? "draining" : "loading"))])
            if request.path == "/health" {
                var h = cors
                h.replaceOrAdd("Retry-After", "1")
                writer.respondJSON(status, status: 503, headers: h)
            } else {
                let message = draining ? "the server is shutting down; retry on another replica" : "the model is still loading; retry shortly"
                var h = cors
                h.replaceOrAdd("Retry-After", "1")
                respondError(.unavailable(message), h)
            }
            return
        }
        route(request, writer, context, cors)
    }

    private func route(_ request: HTTPRequest, _ writer: HTTPResponseWriter, _ context: ServingContext, _ cors: HTTPHeaders) {
        let id = context.model.id
        // HEAD wherever GET (RFC 9110 §9.1); HTTPCore sends GET's head without the body.
        let method = request.method == "HEAD" ? "GET" : request.method
        switch (method, request.path) {
        case ("POST", "/v1/chat/completions"):
            ChatCompletionHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight).handle(request, writer)
        case ("POST", "/v1/completions"):
            CompletionHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight).handle(request, writer)
        case ("POST", "/v1/responses"):
            ResponsesHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight, store: responses).create(request, writer)
        case (_, let path) where path.hasPrefix("/v1/responses/"):
            routeStoredResponse(request, method: method, writer, context, cors)
        case ("POST", "/v1/messages"):
            MessagesHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight).create(request, writer)
        case ("POST", "/v1/messages/count_tokens"):
            MessagesHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight).countTokens(request, writer)
        case (_, let path) where path.hasPrefix("/v1/messages"):
            let error: APIError = Self.allowedMethods[path] != nil ? .methodNotAllowed(request.method, path: path)
                                                                  : .notFound("no route for \(request.method) \(path)", code: "not_found")
            var h = cors
            if let allow = Self.allowedMethods[path] { h.replaceOrAdd("Allow", allow) }
            writer.respondAnthropicError(error, headers: h)
        case ("POST", "/v1/embeddings"):
            EmbeddingsHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight).handle(request, writer)
        case ("POST", "/tokenize"):
            TokenizeHandler(context: context, headers: cors).tokenize(request, writer)
        case ("POST", "/detokenize"):
            TokenizeHandler(context: context, headers: cors).detokenize(request, writer)
        case ("GET", "/v1/models") where request.headers["Anthropic-Version"] != nil:
            // Anthropic's SDKs (`client.models.list()`) send their API version: their list shape.
            let model = anthropicModelJSON(context)
            writer.respondJSON(.object([("data", .array([model])), ("has_more", .bool(false)), ("first_id", .string(id)), ("last_id", .string(id))]),
                               headers: cors.withRequestID(request))
        case ("GET", "/v1/models/\(id)") where request.headers["Anthropic-Version"] != nil:
            writer.respondJSON(anthropicModelJSON(context), headers: cors.withRequestID(request))
        case ("GET", "/v1/models"):
            writer.respondJSON(.object([("object", .string("list")), ("data", .array([modelJSON(context)]))]), headers: cors)
        case ("GET", "/v1/models/\(id)"):
            writer.respondJSON(modelJSON(context), headers: cors)
        case ("GET", "/health"):
            writer.respondJSON(.object([("status", .string("ok"))]), headers: cors)
        case ("GET", "/openapi.json"):
            var h = cors
            h.replaceOrAdd("Content-Type", "application/json")
            writer.respond(HTTPResponseHead(status: 200, headers: h), body: OpenAPIDocument.bytes)
        case (_, let path) where Self.allowedMethods[path] != nil:
            var h = cors
            h.replaceOrAdd("Allow", Self.allowedMethods[path]!)
            writer.respondError(.methodNotAllowed(request.method, path: path), headers: h)
        case (_, "/v1/models/\(id)"):
            var h = cors
            h.replaceOrAdd("Allow", "GET, HEAD")
            writer.respondError(.methodNotAllowed(request.method, path: request.path), headers: h)
        default:
            if request.path.hasPrefix("/v1/models/") {
                let missing = String(request.path.dropFirst("/v1/models/".count))
                let error = APIError.notFound("the model '\(missing)' does not exist", code: "model_not_found")
                if request.headers["Anthropic-Version"] != nil {
                    writer.respondAnthropicError(error, headers: cors.withRequestID(request))
                } else {
                    writer.respondError(error, headers: cors)
                }
            } else {
                writer.respondError(.notFound("no route for \(request.method) \(request.path)", code: "not_found"), headers: cors)
            }
        }
    }

    /// `/v1/responses/{id}` (GET, DELETE), `/v1/responses/{id}/input_items` (GET) and `/v1/responses/{id}/cancel` (POST).
    private func routeStoredResponse(_ request: HTTPRequest, method: String, _ writer: HTTPResponseWriter, _ context: ServingContext,
                                     _ cors: HTTPHeaders) {
        let handler = ResponsesHandler(context: context, logger: logger, headers: cors, options: options, inFlight: inFlight, store: responses)
        let rest = request.path.dropFirst("/v1/responses/".count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (method, rest.count, rest.last) {
        case (_, 1, "input_tokens"?), (_, 1, "compact"?):
            writer.respondError(.notFound("this server does not offer /v1/responses/\(rest[0]); count a prompt's tokens with POST /tokenize",
                                          code: "not_found"), headers: cors)
        case ("GET", 1, _): handler.retrieve(rest[0], query: request.query, writer)
        case ("DELETE", 1, _): handler.delete(rest[0], writer)
        case ("POST", 2, "cancel"): handler.cancel(rest[0], writer)
        case ("GET", 2, "input_items"): handler.inputItems(rest[0], query: request.query, writer)
        case (_, 1, _), (_, 2, "cancel"), (_, 2, "input_items"):
            var h = cors
            h.replaceOrAdd("Allow", rest.count == 1 ? "GET, HEAD, DELETE" : rest[1] == "cancel" ? "POST" : "GET, HEAD")
            writer.respondError(.methodNotAllowed(request.method, path: request.path), headers: h)
        default:
            writer.respondError(.notFound("no route for \(request.method) \(request.path)", code: "not_found"), headers: cors)
        }
    }

    /// Whether `path` is one of Anthropic's routes (whose clients read Anthropic's error shape).
    public static func isAnthropicRoute(_ path: String) -> Bool { path == "/v1/messages" || path.hasPrefix("/v1/messages/") }

    /// The methods of RFC 9110 and PATCH (RFC 5789).
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]

    /// The `Allow` header of each fixed route (RFC 9110: a 405 must carry it).
    static let allowedMethods: [String: String] = [
        "/v1/chat/completions": "POST", "/v1/completions": "POST", "/v1/responses": "POST", "/v1/embeddings": "POST", "/tokenize": "POST", "/detokenize": "POST",
        "/v1/messages": "POST", "/v1/messages/count_tokens": "POST",
        "/v1/models": "GET, HEAD", "/health": "GET, HEAD", "/metrics": "GET, HEAD", "/openapi.json": "GET, HEAD",
    ]

    /// Anthropic's `ModelInfo`: the served model, active, with its context as both limits.
    func anthropicModelJSON(_ context: ServingContext) -> JSONValue {
        let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(context.model.created)))
        return .object([
            ("type", .string("model")), ("id", .string(context.model.id)), ("display_name", .string(context.model.id)), ("created_at", .string(created)),
            ("lifecycle", .string("active")), ("max_input_tokens", .int(context.model.maxSequenceLength)), ("max_tokens", .int(context.model.maxSequenceLength)),
        ])
    }

    func modelJSON(_ context: ServingContext) -> JSONValue {
        .object([
            ("id", .string(context.model.id)),
            ("object", .string("model")),
            ("created", .int(context.model.created)),
            ("owned_by", .string(context.model.ownedBy)),
            ("max_model_len", .int(context.model.maxSequenceLength)),
        ])
    }
}

extension HTTPRequest {
    /// The completion id: derived from the client's `X-Request-Id` when it sent one.
    func completionID(prefix: String) -> String {
        if headers["X-Request-Id"] != nil, !requestID.isEmpty { return "\(prefix)-\(requestID)" }
        return "\(prefix)-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}
