import HTTPCore
import Engine

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// 400 for a request that breaks the API's rules.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func notFound(_ message: String, code: String? = nil, param: String? = nil) -> APIError {
        APIError(status: 404, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func methodNotAllowed(_ method: String, path: String) -> APIError {
        APIError(status: 405, message: "method \(method) is not allowed on \(path)", type: "invalid_request_error", code: "method_not_allowed")
    }

    public static func notImplemented(_ message: String) -> APIError {
        APIError(status: 501, message: message, type: "invalid_request_error", code: "method_not_implemented")
    }

    /// An engine's failure: the request's own constraints leaving no way on (a format with allowed_token_ids or
    /// bad_words that bar every continuation) are the request's error; anything else is the server's.
    public static func engineFailure(_ message: String) -> APIError {
        if TokenEvent.constraintFailures.contains(where: message.hasPrefix) {
            return APIError(status: 400, message: message, type: "invalid_request_error", code: "unsatisfiable_constraints")
        }
        return .server(message)
    }

    public static func server(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error")
    }

    public static func unavailable(_ message: String) -> APIError {
        APIError(status: 503, message: message, type: "server_error", code: "service_unavailable")
    }

    public var json: JSONValue {
        .object([("error", .object([
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null),
            ("code", code.map(JSONValue.string) ?? .null),
        ]))])
    }

    public var description: String { "\(status) \(type): \(message)" }
}

extension HTTPResponseWriter {
    /// Sends `value` as an `application/json` response.
    func respondJSON(_ value: JSONValue, status: Int = 200, headers extra: HTTPHeaders = HTTPHeaders()) {
        var headers = extra
        headers.replaceOrAdd("Content-Type", "application/json")
        respond(HTTPResponseHead(status: status, headers: headers), body: value.bytes)
    }

    func respondError(_ error: APIError, headers: HTTPHeaders = HTTPHeaders()) {
        respondJSON(error.json, status: error.status, headers: headers)
    }
}
