import Foundation
import HTTPCore

/// Access rules of the API: bearer keys, CORS, and whether prompts may be logged.
public struct APIOptions: Sendable {
    /// Accepted `Authorization: Bearer` keys; empty means no authentication.
    public var apiKeys: [String]
    /// `Access-Control-Allow-Origin` value; nil means CORS is off.
    public var corsOrigin: String?
    /// Log prompt text (messages, prompts) at info level. Off by default: prompts are user data.
    public var logPrompts: Bool
    /// How many Responses API responses are kept in memory for retrieval and `previous_response_id` (0: none).
    public var storedResponses: Int
    /// Whether a thinking model's reasoning is split off its answer (`reasoning_content`).
    public var reasoning: ReasoningParsing

    public init(apiKeys: [String] = [], corsOrigin: String? = nil, logPrompts: Bool = false, storedResponses: Int = 1000,
                reasoning: ReasoningParsing = .auto) {
        self.apiKeys = apiKeys.filter { !$0.isEmpty }
        self.corsOrigin = corsOrigin
        self.logPrompts = logPrompts
        self.storedResponses = storedResponses
        self.reasoning = reasoning
    }

    /// Paths reachable without a key (probes and scrapes).
    static let openPaths: Set<String> = ["/health", "/metrics"]

    /// nil when the request may proceed, else the 401 to send.
    func authorize(_ request: HTTPRequest) -> APIError? {
        guard !apiKeys.isEmpty, !Self.openPaths.contains(request.path), request.method != "OPTIONS" else { return nil }
        let header = request.headers["Authorization"] ?? ""
        let prefix = "Bearer "
        let given: [UInt8]
        if header.count > prefix.count, header.lowercased().hasPrefix(prefix.lowercased()) {
            given = Array(header.utf8.dropFirst(prefix.utf8.count))
        } else if let key = request.headers["X-Api-Key"], !key.isEmpty, header.isEmpty {
            // Anthropic's SDKs send the key as `x-api-key`.
            given = Array(key.utf8)
        } else {
            return APIError(status: 401, message: "missing API key: send 'Authorization: Bearer YOUR_KEY' (or 'x-api-key: YOUR_KEY')", type: "invalid_request_error",
                            code: "invalid_api_key")
        }
        // Compare against every key without stopping early, so timing says nothing about which key or prefix matched.
        var ok = false
        for key in apiKeys { ok = Self.constantTimeEqual(given, Array(key.utf8)) || ok }
        return ok ? nil : APIError(status: 401, message: "incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key")
    }

    /// Equality whose running time depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }

    /// The preflight's answer: `corsHeaders`, allowing the request headers the browser asks for (the OpenAI JS
    /// SDK sends `X-Stainless-*` headers with every request; a fixed list made browsers refuse it). Only header
    /// names (RFC 9110 tokens) are echoed; the origin stays the configured one.
    func preflightHeaders(requested: String?) -> HTTPHeaders {
        var h = corsHeaders
        guard let requested else { return h }
        let names = requested.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let isToken = { (name: String) in
            !name.isEmpty && name.utf8.count <= 256 && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0)) }
        }
        guard !names.isEmpty, names.count <= 64, names.allSatisfy(isToken) else { return h }
        let base = ["Authorization", "Content-Type", "X-Request-Id", "X-Api-Key"]
        let extra = names.filter { n in !base.contains { $0.caseInsensitiveCompare(n) == .orderedSame } }
        h.replaceOrAdd("Access-Control-Allow-Headers", (base + extra).joined(separator: ", "))
        return h
    }

    /// Headers added to every response when CORS is on.
    public var corsHeaders: HTTPHeaders {
        guard let corsOrigin else { return HTTPHeaders() }
        var h = HTTPHeaders()
        h.add("Access-Control-Allow-Origin", corsOrigin)
        h.add("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
        h.add("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, X-Api-Key")
        h.add("Access-Control-Expose-Headers", "X-Request-Id")
        h.add("Access-Control-Max-Age", "600")
        if corsOrigin != "*" { h.add("Vary", "Origin") }
        return h
    }
}
