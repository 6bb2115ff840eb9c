/// The byte stream under one connection. `HTTPConnection` only reads and writes through this, so a
/// TLS transport can wrap the socket later without touching HTTP logic.
///
/// Implementations are confined to the connection's serial queue and need no locking.
///
/// NOTE: For TLS (OpenSSL over a memory or socket BIO) `read` will also drive the handshake, and a
/// `write` that needs the peer's bytes first (`SSL_ERROR_WANT_READ`) reports `.wouldBlock`; the
/// connection keeps its read source armed at all times, so that readiness still reaches the transport.
/// `fileDescriptor` stays the raw socket: Dispatch sources watch it for readiness either way.
protocol Transport: AnyObject {
    /// The socket whose readiness drives this transport.
    var fileDescriptor: Int32 { get }
    /// Reads available bytes without blocking.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> SocketIOResult
    /// Writes as many bytes as possible without blocking (`.bytes(n)` may be a partial write).
    func write(_ bytes: UnsafeRawBufferPointer) -> SocketIOResult
    /// Sends FIN after everything written so far (TLS: close_notify first).
    func shutdownWrite()
    /// Releases the descriptor. Called exactly once, after the Dispatch sources are cancelled.
    func close()
}

/// Plain TCP.
final class SocketTransport: Transport {
    let fileDescriptor: Int32

    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> SocketIOResult {
        Socket.receive(fileDescriptor, into: buffer)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> SocketIOResult {
        Socket.send(fileDescriptor, bytes)
    }

    func shutdownWrite() {
        Socket.shutdownWrite(fileDescriptor)
    }

    func close() {
        Socket.closeDescriptor(fileDescriptor)
    }
}
