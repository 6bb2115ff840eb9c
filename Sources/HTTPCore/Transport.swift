/// The byte stream under one connection: plain TCP (`SocketTransport`) or TLS (`TLSTransport`).
/// `HTTPConnection` only reads and writes through this, so HTTP logic is the same for both.
///
/// Implementations are confined to the connection's serial queue and need no locking.
///
/// NOTE: For TLS, `read` also drives the handshake, and either call may need the *other* readiness
/// (a handshake reply that does not fit the socket buffer, or a write waiting for the peer's bytes).
/// Such a `.wouldBlock` sets `readNeedsWritable` / `writeNeedsReadable`, and the connection waits for
/// that readiness instead. `fileDescriptor` stays the raw socket: Dispatch sources watch it either way.
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
    /// The last `read` returned `.wouldBlock` until the socket is *writable* (TLS handshake output).
    var readNeedsWritable: Bool { get }
    /// The last `write` returned `.wouldBlock` until the socket is *readable*.
    var writeNeedsReadable: Bool { get }
}

extension Transport {
    var readNeedsWritable: Bool { false }
    var writeNeedsReadable: Bool { false }
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
