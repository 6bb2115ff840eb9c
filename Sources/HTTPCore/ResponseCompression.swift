/// The gzip decision for one response, taken by `HTTPResponseWriter` on the handler's thread so
/// compression never runs on a socket queue.
struct ResponseCompression: Sendable {
    let configuration: HTTPCompressionConfiguration
    /// From the request's `Accept-Encoding`.
    let clientAcceptsGzip: Bool

    /// `nil` when compression is disabled.
    init?(configuration: HTTPCompressionConfiguration, acceptEncoding: String?) {
        guard configuration.enabled else { return nil }
        self.configuration = configuration
        self.clientAcceptsGzip = ContentCoding.acceptsGzip(acceptEncoding)
    }

    /// A fixed-length response: adds `Vary: Accept-Encoding` if it could be compressed, and compresses
    /// it if the client accepts gzip, the body is large enough and gzip makes it smaller.
    func apply(to head: inout HTTPResponseHead, body: inout [UInt8]) {
        guard qualifies(head) else { return }
        ContentCoding.addVary(&head.headers)
        guard clientAcceptsGzip, body.count >= configuration.minimumBodyBytes else { return }
        let compressed = GzipCompressor.compress(body, level: configuration.level)
        guard compressed.count < body.count else { return }
        body = compressed
        head.headers.replaceOrAdd("Content-Encoding", "gzip")
    }

    /// A streamed response: returns a compressor (and marks the head) when the stream is to be gzipped.
    func streamCompressor(for head: inout HTTPResponseHead) -> GzipCompressor? {
        guard qualifies(head) else { return nil }
        ContentCoding.addVary(&head.headers)
        guard clientAcceptsGzip else { return nil }
        head.headers.replaceOrAdd("Content-Encoding", "gzip")
        return GzipCompressor(level: configuration.level)
    }

    private func qualifies(_ head: HTTPResponseHead) -> Bool {
        guard head.status >= 200, head.status != 204, head.status != 206, head.status != 304,
              !head.headers.contains("Content-Encoding"),
              !head.headers.containsToken("no-transform", in: "Cache-Control"),
              let type = head.headers["Content-Type"].map(ContentCoding.mediaType)
        else { return false }
        if type == "text/event-stream" { return configuration.compressEventStreams }
        return ContentCoding.isCompressible(mediaType: type)
    }
}

/// `Accept-Encoding` / `Content-Encoding` / media-type helpers.
enum ContentCoding {
    /// Whether an `Accept-Encoding` value admits gzip: `gzip` or `x-gzip` with q > 0, or else `*` with
    /// q > 0. An absent header gets no compression (the conservative reading of RFC 9110 §12.5.3).
    static func acceptsGzip(_ value: String?) -> Bool {
        guard let value else { return false }
        var gzip: Double?
        var wildcard: Double?
        for item in value.split(separator: ",") {
            var parts = item.split(separator: ";").makeIterator()
            guard let coding = parts.next()?.trimmingOWS().lowercased(), !coding.isEmpty else { continue }
            var quality = 1.0
            while let parameter = parts.next()?.trimmingOWS() {
                guard parameter.count >= 2, HTTPHeaders.namesEqual(parameter.prefix(2), "q=") else { continue }
                quality = Double(parameter.dropFirst(2)).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0
            }
            switch coding {
            case "gzip", "x-gzip": gzip = max(gzip ?? 0, quality)
            case "*": wildcard = quality
            default: break
            }
        }
        return (gzip ?? wildcard ?? 0) > 0
    }

    /// The content codings of a request's `Content-Encoding`, lowercased, `identity` dropped.
    static func requestCodings(_ headers: HTTPHeaders) -> [String] {
        headers.values("Content-Encoding")
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingOWS().lowercased() }
            .filter { !$0.isEmpty && $0 != "identity" }
    }

    /// `type/subtype`, lowercased, without parameters.
    static func mediaType(_ contentType: String) -> String {
        let end = contentType.firstIndex(of: ";") ?? contentType.endIndex
        return contentType[..<end].trimmingOWS().lowercased()
    }

    /// Textual types that gzip well. Images, audio, archives and the like are already compressed.
    static func isCompressible(mediaType type: String) -> Bool {
        type.hasPrefix("text/") || type.hasSuffix("+json") || type.hasSuffix("+xml") || [
            "application/json", "application/javascript", "application/xml", "application/x-ndjson",
            "application/ndjson", "application/jsonl", "application/x-www-form-urlencoded",
        ].contains(type)
    }

    /// Adds `Accept-Encoding` to `Vary` unless it is already listed (or `Vary: *`).
    static func addVary(_ headers: inout HTTPHeaders) {
        guard let existing = headers["Vary"] else {
            headers.add("Vary", "Accept-Encoding")
            return
        }
        if headers.containsToken("Accept-Encoding", in: "Vary") || headers.containsToken("*", in: "Vary") { return }
        headers.replaceOrAdd("Vary", existing + ", Accept-Encoding")
    }
}
