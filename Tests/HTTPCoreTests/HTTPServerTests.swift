import Dispatch
import Foundation
import Logging
import Testing
@testable import HTTPCore

/// Live tests over real sockets on an ephemeral port.
@Suite("HTTPServer over sockets")
struct HTTPServerTests {
    @Test func keepAliveServesThreeRequestsOnOneConnection() throws {
        try withServer { server, port in
            let client = try TestClient(port: port)
            for index in 0..<3 {
                try client.send(post("/echo?i=\(index)", body: "body \(index)"))
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "body \(index)")
                #expect(response.headers["X-Query"] == "i=\(index)")
                #expect(response.headers["Server"] == "moeserve")
                #expect(response.headers["Date"] != nil)
                #expect(response.headers["Connection"] == nil)
            }
            #expect(server.connectionCount == 1)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            // The first response is the slowest; order must still hold.
            try client.send(get("/delay?80") + post("/echo", body: "second") + get("/delay?1"))
            #expect(try client.readResponse().text == "delayed 80")
            #expect(try client.readResponse().text == "second")
            #expect(try client.readResponse().text == "delayed 1")
        }
    }

    @Test func chunkedUploadWithTrailer() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "6\r\nchunk-\r\n")
            usleep(20_000)
            try client.send("8\r\nuploaded\r\n0\r\nX-Checksum: 42\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.text == "chunk-uploaded")
            #expect(response.headers["X-Trailer"] == "42")
        }
    }

    @Test func expectContinueGetsInterimResponseBeforeBody() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            #expect(try client.readLine() == "HTTP/1.1 100 Continue")
            #expect(try client.readLine() == "")
            try client.send("ping")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "ping")
        }
    }

    static let limitBreaches: [Int: String] = [
        413: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n" + String(repeating: "x", count: 500),
        431: "GET / HTTP/1.1\r\nHost: t\r\n" + (0..<30).map { "X-H\($0): v\r\n" }.joined() + "\r\n",
        414: "GET /" + String(repeating: "a", count: 300) + " HTTP/1.1\r\nHost: t\r\n\r\n",
        400: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        505: "GET / HTTP/2.0\r\n\r\n",
    ]

    @Test(arguments: [413, 431, 414, 400, 505])
    func limitsAnswerWithJSONErrorAndClose(status: Int) throws {
        let request = try #require(Self.limitBreaches[status])
        let configuration = HTTPServerConfiguration.test {
            $0.maxBodyBytes = 1000
            $0.maxHeaderCount = 20
            $0.maxRequestLineLength = 256
            $0.errorHeaders = ["Access-Control-Allow-Origin": "https://app.example"]
        }
        try withServer(configuration) { _, port in
            let client = try TestClient(port: port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == status)
            #expect(response.headers["Connection"] == "close")
            // Headers for the server's own refusals (CORS, so a browser can read why).
            #expect(response.headers["Access-Control-Allow-Origin"] == "https://app.example")
            #expect(response.headers["Content-Type"] == "application/json")
            let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            let error = json?["error"] as? [String: Any]
            #expect(error?["type"] as? String == "invalid_request_error")
            #expect((error?["message"] as? String)?.isEmpty == false)
            #expect(client.isClosedByServer())
        }
    }

    @Test func http10ClosesAfterResponseUnlessKeepAlive() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("GET /echo HTTP/1.0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.headers["Connection"] == "close")
            #expect(client.isClosedByServer())

            let kept = try TestClient(port: port)
            for _ in 0..<2 {
                try kept.send("POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
                let again = try kept.readResponse()
                #expect(again.text == "ok")
                #expect(again.headers["Connection"] == "keep-alive")
            }
        }
    }

    @Test func headResponseHasLengthButNoBody() throws {
        try withServer { _, port in
            let client = try TestClient(port: port)
            try client.send("HEAD /nothing HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try client.readResponse(forHEAD: true)
            #expect(response.status == 404)
            #expect(response.headers["Content-Length"] == "9")
            // The connection stays in sync: the next response parses cleanly.
            try client.send(post("/echo", body: "after"))
            #expect(try client.readResponse().text == "after")
        }
    }

    @Test func abandonedWriterAnswers500() throws {
        try withServer(handler: { _, _ in }) { _, port in
            let client = try TestClient(port: port)
            try client.send(get("/"))
            let response = try client.readResponse()
            #expect(response.status == 500)
            #expect(response.text.contains("server_error"))
        }
    }

    @Test func connectionsBeyondTheCapGet503() throws {
        try withServer(.test { $0.maxConnections = 1 }) { server, port in
            let first = try TestClient(port: port)
            try first.send(get("/echo"))
            #expect(try first.readResponse().status == 200)
            // Read without sending: the server answers at accept time and closes.
            let second = try TestClient(port: port)
            let rejected = try second.readResponse()
            #expect(rejected.status == 503)
            #expect(rejected.headers["Connection"] == "close")
            #expect(server.connectionCount == 1)
        }
    }

    @Test func startReportsAddressInUse() throws {
        try withServer { _, port in
            let second = HTTPServer(configuration: .test { $0.port = port }, logger: quietLogger) { _, _ in }
            let error = #expect(throws: HTTPServerError.self) { _ = try second.start() }
            guard case .socket(let call, _, _, let code, _) = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(call == "bind")
            #expect(code == EADDRINUSE)
        }
    }

    @Test(arguments: ["::1", "::", "localhost", "0.0.0.0"])
    func listensOnHostStrings(host: String) throws {
        try withServer(.test { $0.host = host }) { _, port in
            let client = try TestClient(port: port, host: ["0.0.0.0", "::"].contains(host) ? "127.0.0.1" : host)
            try client.send(get("/echo"))
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func accessLogLineCarriesRequestID() throws {
        let records = Locked<[(message: String, metadata: Logger.Metadata)]>([])
        let logger = Logger(label: "test.access") { _ in CapturingLogHandler(records: records) }
        try withServer(logger: logger) { _, port in
            let client = try TestClient(port: port)
            try client.send(post("/echo", body: "12345", extra: "X-Request-Id: abc-123\r\n"))
            let response = try client.readResponse()
            #expect(response.headers["X-Request-Id"] == "abc-123")
        }
        let line = try #require(records.current.first { $0.message == "POST /echo 200" })
        #expect(line.metadata["request_id"] == "abc-123")
        #expect(line.metadata["bytes"] == "5")
        #expect(line.metadata["duration_ms"] != nil)
    }

    @Test func parseErrorLogLineNamesMethodAndPath() throws {
        let records = Locked<[(message: String, metadata: Logger.Metadata)]>([])
        let logger = Logger(label: "test.access") { _ in CapturingLogHandler(records: records) }
        try withServer(logger: logger) { _, port in
            let client = try TestClient(port: port)
            try client.send("POST /v1/x?y=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
            #expect(try client.readResponse().status == 400)
        }
        let line = try #require(records.current.first { $0.metadata["status"] == "400" })
        #expect(line.message == "POST /v1/x 400")
        #expect(line.metadata["method"] == "POST")
        #expect(line.metadata["path"] == "/v1/x")
    }
}
