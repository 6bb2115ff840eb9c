#if canImport(Glibc)
import Glibc
private let streamSocketType = Int32(SOCK_STREAM.rawValue)
private let sendFlags = Int32(MSG_NOSIGNAL)
#elseif canImport(Darwin)
import Darwin
private let streamSocketType = SOCK_STREAM
private let sendFlags: Int32 = 0 // SIGPIPE is suppressed per socket with SO_NOSIGPIPE.
#endif

/// Outcome of one non-blocking socket call.
enum SocketIOResult: Sendable, Equatable {
    case bytes(Int)
    case wouldBlock
    case eof
    case failed(Int32)
    /// TLS: a protocol failure (bad handshake, bad record), with OpenSSL's reason.
    case tlsFailure(String)
}

/// Thin wrappers over the BSD socket calls the server needs. Descriptors are plain `Int32`s;
/// ownership is tracked by the callers (`HTTPServer` for the listener, `SocketTransport` per connection).
enum Socket {
    enum AcceptResult {
        case accepted(fd: Int32, remoteAddress: String)
        case wouldBlock
        /// A transient failure (the peer aborted before accept): try again.
        case retry
        case failed(Int32)
    }

    /// Creates a non-blocking listening socket on `host:port`; returns it and the bound port.
    /// When a name resolves to both IPv4 and IPv6, IPv4 is chosen; `"::"` listens dual-stack.
    static func makeListener(host: String, port: Int, backlog: Int32) throws -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamSocketType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw HTTPServerError.addressResolution(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var chosen = first
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if entry.pointee.ai_family == AF_INET { chosen = entry; break }
            cursor = entry.pointee.ai_next
        }
        let info = chosen.pointee
        func failure(_ call: String, _ code: Int32 = errno) -> HTTPServerError {
            .socket(call: call, host: host, port: port, errno: code, reason: describeErrno(code))
        }

        let fd = socket(info.ai_family, streamSocketType, 0)
        guard fd >= 0 else { throw failure("socket") }
        do {
            setCloseOnExec(fd)
            guard setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) else { throw failure("setsockopt(SO_REUSEADDR)") }
            if info.ai_family == AF_INET6 {
                _ = setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0)
            }
            guard setNonBlocking(fd) else { throw failure("fcntl(O_NONBLOCK)") }
            guard bind(fd, info.ai_addr, info.ai_addrlen) == 0 else { throw failure("bind") }
            guard listen(fd, backlog) == 0 else { throw failure("listen") }
            guard let bound = localPort(fd) else { throw failure("getsockname") }
            return (fd, bound)
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Accepts one pending connection and makes it non-blocking, close-on-exec, `TCP_NODELAY`.
    static func acceptConnection(on listener: Int32) -> AcceptResult {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
        }
        guard fd >= 0 else {
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EINTR, ECONNABORTED, EPROTO: return .retry
            default: return .failed(code)
            }
        }
        setCloseOnExec(fd)
        _ = setNonBlocking(fd)
        // Streaming sends many small chunks; Nagle would delay each token.
        _ = setOption(fd, Int32(IPPROTO_TCP), Int32(TCP_NODELAY), 1)
        #if canImport(Darwin)
        _ = setOption(fd, SOL_SOCKET, SO_NOSIGPIPE, 1)
        #endif
        return .accepted(fd: fd, remoteAddress: describe(storage))
    }

    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> SocketIOResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            let code = errno
            if code == EINTR { continue }
            return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock : .failed(code)
        }
    }

    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> SocketIOResult {
        while true {
            let n = sendBytes(fd, bytes.baseAddress, bytes.count, sendFlags)
            if n >= 0 { return .bytes(n) }
            let code = errno
            if code == EINTR { continue }
            return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock : .failed(code)
        }
    }

    static func shutdownWrite(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }

    static func describeErrno(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    // MARK: - Helpers

    private static func sendBytes(_ fd: Int32, _ base: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
        #if canImport(Glibc)
        Glibc.send(fd, base, count, flags)
        #else
        Darwin.send(fd, base, count, flags)
        #endif
    }

    @discardableResult
    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    private static func setNonBlocking(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFL, 0)
        return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0
    }

    private static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    private static func localPort(_ fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        return addressAndPort(storage)?.port
    }

    /// `"ip:port"`, or `"[ip]:port"` for IPv6.
    static func describe(_ storage: sockaddr_storage) -> String {
        guard let (address, port, isV6) = addressAndPort(storage).map({ ($0.address, $0.port, $0.isV6) }) else {
            return "unknown"
        }
        return isV6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    private static func addressAndPort(_ storage: sockaddr_storage) -> (address: String, port: Int, isV6: Bool)? {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var address = sin.pointee.sin_addr
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                    return (decodeCString(text), Int(UInt16(bigEndian: sin.pointee.sin_port)), false)
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var address = sin6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return (decodeCString(text), Int(UInt16(bigEndian: sin6.pointee.sin6_port)), true)
                }
            }
        default:
            return nil
        }
    }

    private static func decodeCString(_ text: [CChar]) -> String {
        String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
