import COpenSSL
import Foundation
@testable import HTTPCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A self-signed certificate for `localhost` / 127.0.0.1, made once per test run with the openssl CLI.
struct TestCertificate: Sendable {
    let certificatePath: String
    let keyPath: String

    static let shared: Result<TestCertificate, TestClientError> = Result { () throws(TestClientError) in try generate() }

    var tls: TLSConfiguration {
        TLSConfiguration(certificateChainPath: certificatePath, privateKeyPath: keyPath)
    }

    private static func generate() throws(TestClientError) -> TestCertificate {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("moeserve-tls-test-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try process.run()
        } catch {
            throw TestClientError(description: "cannot run the openssl CLI (\(error)); run scripts/setup, which installs it")
        }
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestClientError(description: process.terminationStatus == 127
                ? "the openssl CLI is not installed; run scripts/setup, which installs it"
                : "openssl req failed (\(process.terminationStatus)): \(output)")
        }
        return TestCertificate(certificatePath: certificate, keyPath: key)
    }
}

/// Client side of a TLS session on a blocking test socket, verifying the server against `TestCertificate`.
final class TestTLSSession {
    private let context: OpaquePointer
    let ssl: OpaquePointer

    /// Prepares a session on `fd`; `connect()` handshakes. `maxVersion` 0 = any; a lower one also lowers
    /// the client's security level so it really offers that version (to prove the *server* refuses it).
    init(fd: Int32, certificate: TestCertificate, alpn: [String] = ["http/1.1"], maxVersion: Int32 = 0) {
        context = SSL_CTX_new(TLS_client_method())!
        moeserve_ssl_ctx_set_default_options(context)
        if maxVersion != 0, maxVersion < TLS1_2_VERSION {
            SSL_CTX_set_security_level(context, 0)
            SSL_CTX_set_cipher_list(context, "DEFAULT:@SECLEVEL=0")
        }
        _ = moeserve_ssl_ctx_set_proto_range(context, 0, maxVersion)
        SSL_CTX_load_verify_locations(context, certificate.certificatePath, nil)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        ssl = SSL_new(context)!
        SSL_set_fd(ssl, fd)
        SSL_set1_host(ssl, "localhost")
        let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
    }

    func connect() throws {
        ERR_clear_error()
        guard SSL_connect(ssl) == 1 else {
            throw TestClientError(description: "TLS handshake failed: \(TLSError.drainQueue())")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// The protocol chosen by ALPN, if any.
    var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `"TLSv1.3"`, `"TLSv1.2"`, ...
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(SSL_write(ssl, bytes.baseAddress, Int32(bytes.count)))
    }

    /// Bytes read, 0 at EOF; throws on a timeout or TLS error.
    func receive(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        if n > 0 { return Int(n) }
        let code = SSL_get_error(ssl, n)
        let saved = errno
        switch code {
        case SSL_ERROR_ZERO_RETURN: return 0
        case SSL_ERROR_SYSCALL where saved == 0 || saved == ECONNRESET: return 0
        case SSL_ERROR_WANT_READ:
            throw TestClientError(description: "read timed out")
        case SSL_ERROR_SYSCALL where saved == EAGAIN:
            throw TestClientError(description: "read timed out")
        default: throw TestClientError(description: "TLS read failed: \(TLSError.drainQueue())")
        }
    }
}
