/// Server-Sent Events framing over a streamed response (`text/event-stream`).
///
/// Each event is written as one chunk. Multi-line data becomes several `data:` lines, so a client's
/// EventSource parser reassembles it with `\n` between lines.
public struct SSEWriter: Sendable {
    public let writer: HTTPResponseWriter

    public init(_ writer: HTTPResponseWriter) {
        self.writer = writer
    }

    /// Starts a 200 response with `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
    /// `X-Accel-Buffering: no` (so buffering proxies pass events through). `extraHeaders` are added
    /// and may override these.
    public func start(extraHeaders: HTTPHeaders = .init()) {
        var headers: HTTPHeaders = [
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        ]
        for (name, value) in extraHeaders { headers.replaceOrAdd(name, value) }
        writer.startStreaming(HTTPResponseHead(status: 200, headers: headers))
    }

    /// Sends one event: an optional `event:` line, one `data:` line per line of `data`, a blank line.
    @discardableResult
    public func send(data: String, event: String? = nil) -> HTTPWriteResult {
        writer.write(Array(Self.encode(data: data, event: event).utf8))
    }

    /// Sends a comment line (`: text`), e.g. as a keep-alive ping; clients ignore it.
    public func sendComment(_ text: String) {
        var frame = ""
        for line in Self.lines(text) { frame += ":" + (line.isEmpty ? "" : " " + line) + "\n" }
        writer.write(Array((frame + "\n").utf8))
    }

    /// Ends the stream.
    public func finish() {
        writer.finish()
    }

    static func encode(data: String, event: String?) -> String {
        var frame = ""
        if let event {
            frame += "event: " + event.filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" } + "\n"
        }
        for line in lines(data) { frame += "data: " + line + "\n" }
        return frame + "\n"
    }

    /// Splits on CRLF, CR or LF, as the SSE parser does.
    static func lines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
    }
}
