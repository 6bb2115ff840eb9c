import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's OpenSSL context: certificate chain, key, TLS 1.2+, cipher list, ALPN `http/1.1`.
/// Built once in `HTTPServer.start()`; `SSL_CTX` is safe to share once configured.
final class TLSContext: @unchecked Sendable {
    /// TLS 1.2 suites: forward-secret AEAD only (Mozilla "intermediate"). TLS 1.3 suites are OpenSSL's
    /// defaults, which are all AEAD.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    private let context: OpaquePointer

    /// Throws `HTTPServerError.tls` with OpenSSL's reason (unreadable file, key does not match, ...).
    init(_ configuration: TLSConfiguration) throws {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw HTTPServerError.tls("SSL_CTX_new failed: \(TLSError.drainQueue())")
        }
        self.context = context
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw HTTPServerError.tls("\(what): \(TLSError.drainQueue())") }
        }
        try check(moeserve_ssl_ctx_set_proto_range(context, TLS1_2_VERSION, 0) == 1, "cannot require TLS 1.2")
        try check(SSL_CTX_set_cipher_list(context, Self.tls12Ciphers) == 1, "cannot set the cipher list")
        moeserve_ssl_ctx_set_default_options(context)
        moeserve_ssl_ctx_set_nonblocking_modes(context)
        moeserve_ssl_ctx_select_alpn_http11(context)
        try check(
            SSL_CTX_use_certificate_chain_file(context, configuration.certificateChainPath) == 1,
            "cannot load the certificate chain '\(configuration.certificateChainPath)'"
        )
        // No pass phrase prompt: OpenSSL would read one from the terminal and the start would hang on it.
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
        if SSL_CTX_use_PrivateKey_file(context, configuration.privateKeyPath, moeserve_ssl_filetype_pem()) != 1 {
            let path = configuration.privateKeyPath
            let encrypted = (try? String(contentsOfFile: path, encoding: .utf8))?.contains("ENCRYPTED") ?? false
            try check(false, encrypted ? "the private key '\(path)' is encrypted; give an unencrypted one "
                          + "(openssl pkey -in KEY -out PLAIN_KEY), readable by this user only"
                          : "cannot load the private key '\(path)'")
        }
        try check(SSL_CTX_check_private_key(context) == 1, "the private key does not match the certificate")
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A server-side TLS session on an accepted socket, or `nil` if OpenSSL cannot allocate one.
    func makeTransport(fileDescriptor: Int32) -> TLSTransport? {
        guard let ssl = SSL_new(context) else { return nil }
        guard SSL_set_fd(ssl, fileDescriptor) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        return TLSTransport(ssl: ssl, fileDescriptor: fileDescriptor, context: self)
    }
}

/// TLS over a non-blocking socket. OpenSSL reads and writes the socket itself (`SSL_set_fd`); the
/// handshake runs inside the first `read`s. `SSL_ERROR_WANT_READ`/`WANT_WRITE` become `.wouldBlock`, with
/// `readNeedsWritable`/`writeNeedsReadable` telling the connection which readiness to wait for.
final class TLSTransport: Transport {
    let fileDescriptor: Int32
    private let ssl: OpaquePointer
    /// Keeps the `SSL_CTX` alive for as long as this session.
    private let context: TLSContext
    private(set) var readNeedsWritable = false
    private(set) var writeNeedsReadable = false

    fileprivate init(ssl: OpaquePointer, fileDescriptor: Int32, context: TLSContext) {
        self.ssl = ssl
        self.fileDescriptor = fileDescriptor
        self.context = context
    }

    /// Whether the handshake has completed.
    var isEstablished: Bool { SSL_is_init_finished(ssl) == 1 }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> SocketIOResult {
        ERR_clear_error()
        readNeedsWritable = false
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return .bytes(Int(n)) }
        let result = outcome(of: n)
        readNeedsWritable = SSL_get_error(ssl, n) == SSL_ERROR_WANT_WRITE
        return result
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SocketIOResult {
        guard !bytes.isEmpty else { return .bytes(0) }
        ERR_clear_error()
        writeNeedsReadable = false
        // NOTE: a retried SSL_write must not be shorter than the blocked one; the unsent output only
        // grows until bytes are confirmed, and ACCEPT_MOVING_WRITE_BUFFER allows the array to move.
        let n = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if n > 0 { return .bytes(Int(n)) }
        let result = outcome(of: n)
        writeNeedsReadable = SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ
        return result
    }

    /// Sends close_notify (best effort, never waits for the peer's), then FIN.
    func shutdownWrite() {
        ERR_clear_error()
        if isEstablished { _ = SSL_shutdown(ssl) }
        Socket.shutdownWrite(fileDescriptor)
    }

    func close() {
        SSL_free(ssl)
        Socket.closeDescriptor(fileDescriptor)
    }

    /// Maps a failed `SSL_read`/`SSL_write` (return value `n <= 0`).
    private func outcome(of n: Int32) -> SocketIOResult {
        let code = SSL_get_error(ssl, n)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            return .eof
        case SSL_ERROR_SYSCALL:
            let saved = errno
            if ERR_peek_error() != 0 { return .tlsFailure(TLSError.drainQueue()) }
            return saved == 0 ? .eof : .failed(saved)
        default:
            let stage = isEstablished ? "TLS error" : "TLS handshake failed"
            return .tlsFailure("\(stage): \(TLSError.drainQueue())")
        }
    }
}

/// OpenSSL's per-thread error queue as text.
enum TLSError {
    /// The queued errors, oldest first, joined with "; " (the queue is left empty).
    static func drainQueue() -> String {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            messages.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown error" : messages.joined(separator: "; ")
    }
}
