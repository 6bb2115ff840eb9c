import COpenSSL
import Foundation
import Logging
import Testing
@testable import HTTPCore

/// Live TLS tests with a certificate generated at run time (`openssl req -x509`).
@Suite("HTTPServer over TLS")
struct HTTPTLSTests {
    static func tlsConfiguration() throws -> HTTPServerConfiguration {
        let certificate = try TestCertificate.shared.get()
        return .test { $0.tls = certificate.tls }
    }

    @Test func roundTripWithALPNAndKeepAlive() throws {
        try withServer(try Self.tlsConfiguration()) { server, port in
            let client = try TestClient.tls(port: port)
            let session = try #require(client.tls)
            #expect(session.negotiatedProtocol == "http/1.1")
            #expect(["TLSv1.2", "TLSv1.3"].contains(session.protocolVersion))
            for index in 0..<3 {
                try client.send(post("/echo", body: "secret \(index)"))
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "secret \(index)")
            }
            try client.send(get("/stream"))
            let streamed = try client.readResponse()
            #expect(streamed.text == "part0;part1;part2;")
            #expect(server.connectionCount == 1)
        }
    }

    @Test func tls12IsAcceptedAndOlderVersionsAreRefused() throws {
        try withServer(try Self.tlsConfiguration()) { _, port in
            let tls12 = try TestClient(port: port)
            try tls12.startTLS(maxVersion: TLS1_2_VERSION)
            #expect(tls12.tls?.protocolVersion == "TLSv1.2")
            try tls12.send(get("/echo"))
            #expect(try tls12.readResponse().status == 200)

            let tls11 = try TestClient(port: port)
            #expect(throws: TestClientError.self) { try tls11.startTLS(maxVersion: TLS1_1_VERSION) }
        }
    }

    @Test func clientWithoutHTTP11InALPNStillConnects() throws {
        try withServer(try Self.tlsConfiguration()) { _, port in
            let client = try TestClient(port: port)
            try client.startTLS(alpn: ["h2"])
            #expect(client.tls?.negotiatedProtocol == nil)
            try client.send(get("/echo"))
            #expect(try client.readResponse().status == 200)
        }
    }

    static let badHandshakes: [String: [UInt8]] = [
        "plain HTTP": Array(get("/echo").utf8),
        // A TLS record holding a ClientHello whose body is four bytes of junk.
        "garbage ClientHello": [0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF],
    ]

    @Test(arguments: ["plain HTTP", "garbage ClientHello"])
    func failedHandshakeClosesOnlyThatConnection(kind: String) throws {
        let payload = try #require(Self.badHandshakes[kind])
        let records = Locked<[(message: String, metadata: Logger.Metadata)]>([])
        var logger = Logger(label: "test.tls") { _ in CapturingLogHandler(records: records) }
        logger.logLevel = .debug
        try withServer(try Self.tlsConfiguration(), logger: logger) { server, port in
            let established = try TestClient.tls(port: port)
            let bad = try TestClient(port: port)
            try bad.send(payload)
            #expect(bad.isClosedByServer())
            #expect(eventually { server.connectionCount == 1 })
            try established.send(get("/echo?still=alive"))
            #expect(try established.readResponse().headers["X-Query"] == "still=alive")
            let fresh = try TestClient.tls(port: port)
            try fresh.send(get("/echo"))
            #expect(try fresh.readResponse().status == 200)
        }
        let failure = records.current.first { $0.message.hasPrefix("TLS failure") }
        #expect(failure?.metadata["error"].map { "\($0)".contains("TLS handshake failed") } == true)
    }

    @Test func silentTLSClientIsCutByTheHeaderTimeout() throws {
        var configuration = try Self.tlsConfiguration()
        configuration.headerTimeout = .milliseconds(200)
        try withServer(configuration) { server, port in
            let silent = try TestClient(port: port)
            #expect(silent.isClosedByServer())
            #expect(eventually { server.connectionCount == 0 })
        }
    }

    /// An encrypted key fails the start with a message that says so, and never prompts for a pass phrase
    /// (OpenSSL's default reads one from the terminal, where the start would hang).
    @Test func encryptedKeyFailsStartWithoutAPrompt() throws {
        let certificate = try TestCertificate.shared.get()
        let encrypted = FileManager.default.temporaryDirectory.appendingPathComponent("moeserve-enc-key-\(getpid()).pem").path
        defer { try? FileManager.default.removeItem(atPath: encrypted) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "pkey", "-in", certificate.keyPath, "-aes256", "-passout", "pass:secret", "-out", encrypted]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let configuration = HTTPServerConfiguration.test {
            $0.tls = TLSConfiguration(certificateChainPath: certificate.certificatePath, privateKeyPath: encrypted)
        }
        let server = HTTPServer(configuration: configuration, logger: quietLogger) { _, _ in }
        let error = #expect(throws: HTTPServerError.self) { _ = try server.start() }
        guard case .tls(let reason) = error else {
            Issue.record("expected a TLS error, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("is encrypted"))
    }

    @Test func missingCertificateFailsStart() throws {
        let configuration = HTTPServerConfiguration.test {
            $0.tls = TLSConfiguration(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
        }
        let server = HTTPServer(configuration: configuration, logger: quietLogger) { _, _ in }
        let error = #expect(throws: HTTPServerError.self) { _ = try server.start() }
        guard case .tls(let reason) = error else {
            Issue.record("expected a TLS error, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("/nonexistent/cert.pem"))
    }
}
