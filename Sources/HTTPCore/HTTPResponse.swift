#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Status and headers of a response. Framing headers (`Content-Length`, `Transfer-Encoding`,
/// `Connection`) are managed by the server; anything else set here is sent as given.
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: HTTPHeaders

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.headers = headers
    }
}

/// The outcome of `HTTPResponseWriter.write(_:)`.
public enum HTTPWriteResult: Sendable, Equatable {
    /// Queued; the connection's unsent output is below the high-water mark.
    case ok
    /// Queued, but unsent output is above the high-water mark: the producer should slow down.
    case backpressure
    /// Not queued: the peer is gone, the connection was closed, or the response was already finished.
    case closed
}

/// Byte-level encoding of response heads, chunks and the server's own error responses.
enum ResponseEncoding {
    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// The status line and header block, terminated by the empty line.
    static func head(status: Int, headers: HTTPHeaders) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(256)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(32)
        out.append(contentsOf: reasonPhrase(status).utf8)
        out.append(contentsOf: [13, 10])
        for (name, value) in headers {
            appendSanitized(name, to: &out)
            out.append(contentsOf: [58, 32])
            appendSanitized(value, to: &out)
            out.append(contentsOf: [13, 10])
        }
        out.append(contentsOf: [13, 10])
        return out
    }

    /// One chunk of a chunked body: `<hex size>\r\n<data>\r\n`. `data` must not be empty.
    static func chunk(_ data: [UInt8]) -> [UInt8] {
        let size = Array(String(data.count, radix: 16).utf8)
        var out = [UInt8]()
        out.reserveCapacity(size.count + data.count + 4)
        out += size
        out += [13, 10]
        out += data
        out += [13, 10]
        return out
    }

    /// A small OpenAI-shaped JSON error body:
    /// `{"error":{"message":"...","type":"...","param":null,"code":null}}`.
    static func errorBody(message: String, type: String = "invalid_request_error") -> [UInt8] {
        Array(#"{"error":{"message":\#(JSONString.literal(message)),"type":\#(JSONString.literal(type)),"param":null,"code":null}}"#.utf8)
    }

    /// NOTE: CR/LF in a name or value would let a handler (or a reflected client value) inject headers
    /// or split the response; each such byte (and NUL) becomes a space rather than being trusted.
    private static func appendSanitized(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            let unsafe = { (byte: UInt8) in byte == 13 || byte == 10 || byte == 0 }
            guard bytes.contains(where: unsafe) else { return out.append(contentsOf: bytes) }
            for byte in bytes { out.append(unsafe(byte) ? 32 : byte) }
        }
    }

    /// Whether a response with this status to this method carries no body (RFC 9110 §6.4.1).
    static func forbidsBody(status: Int, method: String) -> Bool {
        method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    /// An IMF-fixdate for the `Date` header, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(epochSeconds: Int = Int(time(nil))) -> String {
        var seconds = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
}

/// The `Date` header value, formatted once per second. One per connection (confined to its queue).
struct DateHeaderCache {
    private var second = -1
    private var value = ""

    mutating func current() -> String {
        let now = Int(time(nil))
        if now != second {
            second = now
            value = ResponseEncoding.httpDate(epochSeconds: now)
        }
        return value
    }
}
