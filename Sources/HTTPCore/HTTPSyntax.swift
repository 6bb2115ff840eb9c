/// RFC 9110 / 9112 grammar helpers and the semantic checks on a complete request head.
enum HTTPSyntax {
    /// `tchar` (RFC 9110 §5.6.2): the bytes allowed in methods and field names.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }

    /// `nil`: not an HTTP-version at all (400). `.some(nil)`: well-formed but unsupported (505). A later minor
    /// version of HTTP/1 is read as 1.1 (RFC 9112 §2.3: the highest minor version of the major one implemented).
    static func parseVersion<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> HTTPVersion?? {
        let text = Array(bytes)
        guard text.count == 8, text.starts(with: "HTTP/".utf8), text[6] == UInt8(ascii: "."),
              (48...57).contains(text[5]), (48...57).contains(text[7])
        else { return nil }
        switch (text[5], text[7]) {
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): return .some(.http1_0)
        case (UInt8(ascii: "1"), _): return .some(.http1_1)
        default: return .some(nil)
        }
    }

    /// Determines body framing, persistence and expectations; rejects ambiguous framing.
    static func validateHead(
        method: String, target: String, version: HTTPVersion, headers: HTTPHeaders, maxBodyBytes: Int
    ) -> Result<HTTPRequestHead, HTTPParseError> {
        func error(_ status: Int, _ message: String) -> Result<HTTPRequestHead, HTTPParseError> {
            .failure(HTTPParseError(status: status, message: message))
        }
        let hosts = headers.values("Host")
        if hosts.count > 1 { return error(400, "Multiple Host headers") }
        if version == .http1_1, hosts.isEmpty { return error(400, "Missing Host header") }

        let transferEncodings = headers.values("Transfer-Encoding")
        let contentLengths = headers.values("Content-Length")
        var framing = BodyFraming.none
        if !transferEncodings.isEmpty {
            if !contentLengths.isEmpty {
                return error(400, "Content-Length and Transfer-Encoding must not be combined")
            }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingOWS().lowercased() }
                .filter { !$0.isEmpty }
            if let unsupported = codings.first(where: { $0 != "chunked" }) {
                return error(501, "Transfer-Encoding '\(unsupported)' is not supported")
            }
            guard codings.count == 1 else { return error(400, "Invalid Transfer-Encoding") }
            framing = .chunked
        } else if !contentLengths.isEmpty {
            switch parseContentLength(contentLengths) {
            case .none: return error(400, "Invalid Content-Length")
            case .some(let length) where length > maxBodyBytes: return error(413, "Request body is too large")
            case .some(let length): framing = .length(length)
            }
        }

        let close = headers.containsToken("close", in: "Connection")
        var keepAlive = switch version {
        case .http1_1: !close
        case .http1_0: !close && headers.containsToken("keep-alive", in: "Connection")
        }
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing; close after it.
        if version == .http1_0, framing == .chunked { keepAlive = false }

        var expectsContinue = false
        if let expect = headers["Expect"] {
            guard HTTPHeaders.namesEqual(expect.trimmingOWS(), "100-continue") else {
                return error(417, "Unsupported expectation '\(expect)'")
            }
            // RFC 9110 §10.1.1: ignore the expectation from HTTP/1.0 clients and when there is no body.
            expectsContinue = version == .http1_1 && framing != .none && framing != .length(0)
        }
        return .success(HTTPRequestHead(
            method: method, target: target, version: version, headers: headers,
            framing: framing, keepAlive: keepAlive, expectsContinue: expectsContinue
        ))
    }

    /// One value for all `Content-Length` fields and list items, or `nil` if any is malformed or they differ.
    static func parseContentLength(_ values: [String]) -> Int? {
        var result: Int?
        for value in values {
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = item.trimmingOWS()
                guard !digits.isEmpty, digits.utf8.count <= 18,
                      digits.utf8.allSatisfy({ (48...57).contains($0) }),
                      let length = Int(digits)
                else { return nil }
                if let result, result != length { return nil }
                result = length
            }
        }
        return result
    }
}
