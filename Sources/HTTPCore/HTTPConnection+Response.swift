import Logging

/// Response side of `HTTPConnection`: called on the connection's queue, forwarded there by
/// `HTTPResponseWriter`. Calls carrying a stale `writerID` (the exchange ended or the connection
/// closed) are ignored, releasing any output they had reserved.
extension HTTPConnection {
    func respond(writerID: UInt64, head: HTTPResponseHead, body: [UInt8]) {
        guard var current = exchange, current.writerID == writerID, phase == .responding else { return }
        var headers = head.headers
        headers.remove("Transfer-Encoding")
        let noBody = ResponseEncoding.forbidsBody(status: head.status, method: current.method)
        if (100..<200).contains(head.status) || head.status == 204 {
            headers.remove("Content-Length")
        } else {
            // For HEAD this is the length a GET would have had (RFC 9110 §8.6).
            headers.replaceOrAdd("Content-Length", String(body.count))
        }
        current.closeAfter = !keepsAlive(current, headers)
        addStandardHeaders(&headers, current)
        enqueue(ResponseEncoding.head(status: head.status, headers: headers))
        if !noBody, !body.isEmpty { enqueue(body) }
        current.status = head.status
        current.headSent = true
        current.bodyBytes = noBody ? 0 : body.count
        complete(current)
    }

    func startStreaming(writerID: UInt64, head: HTTPResponseHead) {
        guard var current = exchange, current.writerID == writerID, phase == .responding else { return }
        var headers = head.headers
        headers.remove("Content-Length")
        current.dropsBody = ResponseEncoding.forbidsBody(status: head.status, method: current.method)
        current.chunked = current.version == .http1_1
        if current.chunked {
            headers.replaceOrAdd("Transfer-Encoding", "chunked")
            current.closeAfter = !keepsAlive(current, headers)
        } else {
            // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
            headers.remove("Transfer-Encoding")
            current.closeAfter = true
        }
        addStandardHeaders(&headers, current)
        enqueue(ResponseEncoding.head(status: head.status, headers: headers))
        current.status = head.status
        current.headSent = true
        exchange = current
        flush()
    }

    /// `framed` was reserved in `accounting` by the writer.
    func writeBody(writerID: UInt64, framed: [UInt8], payloadCount: Int) {
        guard var current = exchange, current.writerID == writerID, phase == .responding, !current.dropsBody
        else {
            accounting.release(framed.count)
            return
        }
        enqueueReserved(framed)
        current.bodyBytes += payloadCount
        exchange = current
        flush()
    }

    func finishStreaming(writerID: UInt64) {
        guard let current = exchange, current.writerID == writerID, phase == .responding else { return }
        if current.chunked, !current.dropsBody { enqueue(ResponseEncoding.lastChunk) }
        complete(current)
    }

    /// A writer went over `streamHardLimit`: the client is not reading fast enough; cut it off.
    func cutStream(writerID: UInt64) {
        guard let current = exchange, current.writerID == writerID else { return }
        logger.warning("stream exceeded the unsent-output hard limit; closing connection", metadata: [
            "request_id": "\(current.requestID)", "limit": "\(configuration.streamHardLimit)",
        ])
        close(reason: "stream hard limit")
    }

    /// The handler released its writer without completing the response.
    func writerAbandoned(_ writerID: UInt64) {
        guard let current = exchange, current.writerID == writerID, phase == .responding else { return }
        logger.error("handler released the response writer without completing the response", metadata: [
            "request_id": "\(current.requestID)", "path": "\(current.path)",
        ])
        if current.headSent {
            close(reason: "response abandoned mid-stream")
        } else {
            let body = ResponseEncoding.errorBody(message: "The server did not produce a response", type: "server_error")
            respond(writerID: writerID, head: HTTPResponseHead(
                status: 500, headers: ["Content-Type": "application/json"]
            ), body: body)
        }
    }

    /// Answers a request the server itself refuses (parse error, timeout, bad body coding) and closes
    /// the connection. The log line names the method and path when the request line was read.
    func sendError(status: Int, message: String, request: HTTPRequestHead? = nil, extraHeaders: HTTPHeaders = [:]) {
        let line = request.map { ($0.method, $0.target) } ?? parser.currentRequestLine
        let path = line.map { HTTPRequest.split(target: $0.1).path }
        let body = configuration.errorBody?(path, status, message, "invalid_request_error") ?? ResponseEncoding.errorBody(message: message)
        var headers: HTTPHeaders = [
            "Content-Type": "application/json", "Content-Length": String(body.count), "Connection": "close",
            "Server": "moeserve", "Date": dateHeader.current(),
        ]
        for (name, value) in extraHeaders { headers.add(name, value) }
        for (name, value) in configuration.errorHeaders where !headers.contains(name) { headers.add(name, value) }
        enqueue(ResponseEncoding.head(status: status, headers: headers))
        enqueue(body)
        let method = line?.0 ?? "-", shownPath = path ?? "-"
        let elapsed = requestStartedAt.map { Double($0.duration(to: .now).nanosecondsClamped) / 1e9 } ?? 0
        accessObserver?(method, shownPath, status, elapsed)
        logger.info("\(method) \(shownPath) \(status)", metadata: [
            "method": "\(method)", "path": "\(shownPath)", "status": "\(status)", "error": "\(message)",
            "remote": "\(remoteAddress)",
        ])
        closeAfterFlush()
    }

    func logMisuse(_ message: String) {
        logger.error("HTTPResponseWriter misuse: \(message)")
    }

    /// One access-log line per request.
    func logAccess(_ exchange: Exchange, outcome: String? = nil) {
        let elapsed = exchange.start.duration(to: .now)
        accessObserver?(exchange.method, exchange.path, exchange.status, Double(elapsed.nanosecondsClamped) / 1e9)
        guard logger.logLevel <= .info else { return }
        let milliseconds = Double(elapsed.nanosecondsClamped) / 1_000_000
        var metadata: Logger.Metadata = [
            "method": "\(exchange.method)", "path": "\(exchange.path)", "status": "\(exchange.status)",
            "bytes": "\(exchange.bodyBytes)",
            "duration_ms": "\((milliseconds * 10).rounded() / 10)",
            "request_id": "\(exchange.requestID)", "remote": "\(remoteAddress)",
        ]
        if let outcome { metadata["outcome"] = "\(outcome)" }
        logger.info("\(exchange.method) \(exchange.path) \(exchange.status)", metadata: metadata)
    }

    // MARK: - Private

    private func complete(_ finished: Exchange) {
        logAccess(finished)
        exchange = nil
        if finished.closeAfter || draining {
            closeAfterFlush()
        } else {
            flush()
            if phase == .responding { awaitNextRequest() }
        }
    }

    private func keepsAlive(_ exchange: Exchange, _ responseHeaders: HTTPHeaders) -> Bool {
        exchange.requestKeepAlive && !draining && !responseHeaders.containsToken("close", in: "Connection")
    }

    private func addStandardHeaders(_ headers: inout HTTPHeaders, _ exchange: Exchange) {
        if exchange.closeAfter || draining {
            headers.replaceOrAdd("Connection", "close")
        } else if exchange.version == .http1_0 {
            headers.replaceOrAdd("Connection", "keep-alive")
        }
        if !headers.contains("Server") { headers.add("Server", "moeserve") }
        if !headers.contains("Date") { headers.add("Date", dateHeader.current()) }
        if !headers.contains("X-Request-Id") { headers.add("X-Request-Id", exchange.requestID) }
    }
}

/// Request ids for the access log and the `X-Request-Id` response header.
enum RequestID {
    /// The client's id if it is short printable ASCII, else `nil`.
    static func accept(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count),
              value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        return value
    }

    static func generate() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return "req_" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
