import Foundation
@testable import HTTPCore

#if canImport(Glibc)
import Glibc
private let streamType = Int32(SOCK_STREAM.rawValue)
private let noSignal = Int32(MSG_NOSIGNAL)
#elseif canImport(Darwin)
import Darwin
private let streamType = SOCK_STREAM
private let noSignal: Int32 = 0
#endif

/// `send(2)` without SIGPIPE (a test may write after the server has closed).
private func rawSend(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    send(fd, bytes.baseAddress, bytes.count, noSignal)
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// A parsed response as the client saw it.
struct TestResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking BSD-socket HTTP client for live tests: raw bytes out, a minimal response parser in.
/// Reads time out after `timeout` seconds so a broken server fails a test instead of hanging it.
final class TestClient {
    let fd: Int32
    private var pending: [UInt8] = []
    /// Set by `startTLS`: from then on bytes go through TLS.
    private(set) var tls: TestTLSSession?

    init(port: Int, host: String = "127.0.0.1", timeout: Double = 5) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamType
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw TestClientError(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        fd = socket(info.pointee.ai_family, streamType, 0)
        guard fd >= 0 else { throw TestClientError(description: "socket failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            _ = close(fd)
            throw TestClientError(description: "connect failed: errno \(code)")
        }
    }

    deinit {
        tls = nil
        _ = close(fd)
    }

    /// Handshakes TLS on this connection (see `TestTLSSession`).
    func startTLS(alpn: [String] = ["http/1.1"], maxVersion: Int32 = 0) throws {
        let certificate = try TestCertificate.shared.get()
        let session = TestTLSSession(fd: fd, certificate: certificate, alpn: alpn, maxVersion: maxVersion)
        try session.connect()
        tls = session
    }

    /// A client that has completed a TLS handshake with the server on `port`.
    static func tls(port: Int) throws -> TestClient {
        let client = try TestClient(port: port)
        try client.startTLS()
        return client
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { tls?.send($0) ?? rawSend(fd, $0) }
            guard n > 0 else { throw TestClientError(description: "send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Closes politely (FIN), as a client does after `Connection: close`.
    func hangUp() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Closes abruptly with RST (SO_LINGER 0), as a crashed client would.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads more bytes into `pending`; false on EOF, throws on timeout or error.
    @discardableResult
    private func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        if let tls {
            let n = try buffer.withUnsafeMutableBytes { try tls.receive($0) }
            pending += buffer[..<n]
            return n > 0
        }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            pending += buffer[..<n]
            return true
        }
        if n == 0 { return false }
        let code = errno
        if code == ECONNRESET { return false }
        throw TestClientError(description: code == EAGAIN ? "read timed out" : "recv failed: errno \(code)")
    }

    func readLine() throws -> String {
        while true {
            if let lf = pending.firstIndex(of: 10) {
                var line = Array(pending[..<lf])
                pending.removeFirst(lf + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw TestClientError(description: "EOF while reading a line") }
        }
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw TestClientError(description: "EOF while reading \(count) bytes") }
        }
        defer { pending.removeFirst(count) }
        return Array(pending[..<count])
    }

    /// Reads until the server closes the connection.
    func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { pending = [] }
        return pending
    }

    /// Status line and headers.
    func readHead() throws -> (status: Int, headers: HTTPHeaders) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestClientError(description: "bad status line: \(statusLine)")
        }
        var headers = HTTPHeaders()
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError(description: "bad header \(line)") }
            headers.add(String(line[..<colon]), String(line[line.index(after: colon)...].trimmingOWS()))
        }
        return (status, headers)
    }

    /// One chunk of a chunked body; `nil` for the terminating chunk (trailers are skipped).
    func readChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
            throw TestClientError(description: "bad chunk size line: \(sizeLine)")
        }
        if size == 0 {
            while try !readLine().isEmpty {}
            return nil
        }
        let data = try readExactly(size)
        guard try readLine().isEmpty else { throw TestClientError(description: "chunk not followed by CRLF") }
        return data
    }

    /// A whole response, de-chunked. `forHEAD` skips the body.
    func readResponse(forHEAD: Bool = false) throws -> TestResponse {
        var (status, headers) = try readHead()
        while status == 100 { (status, headers) = try readHead() }
        var body: [UInt8] = []
        if forHEAD || status == 204 || status == 304 {
        } else if headers["Transfer-Encoding"]?.lowercased() == "chunked" {
            while let chunk = try readChunk() { body += chunk }
        } else if let length = headers["Content-Length"].flatMap({ Int($0) }) {
            body = try readExactly(length)
        } else {
            body = try readToEnd()
        }
        return TestResponse(status: status, headers: headers, body: body)
    }

    /// Whether the server has closed the connection (EOF or reset) within the read timeout.
    func isClosedByServer() -> Bool {
        do {
            while try fill() { pending = [] }
            return true
        } catch {
            return false
        }
    }
}

/// `GET path` with the headers every HTTP/1.1 request needs.
func get(_ path: String, extra: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: test\r\n\(extra)\r\n"
}

func post(_ path: String, body: String, extra: String = "") -> String {
    "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
}
