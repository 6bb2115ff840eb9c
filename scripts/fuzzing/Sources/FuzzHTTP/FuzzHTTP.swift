@testable import HTTPCore

/// libFuzzer entry point for the HTTP/1.x request parser.
///
/// Input layout: byte 0 picks the split size (low 4 bits) and small or default limits (bit 4); the rest
/// is fed to `HTTPParser`. Beyond "no crash, no sanitizer report" it checks the parser's contract:
/// the events do not depend on how the bytes were split, every `.request` follows its `.head`,
/// bodies respect `maxBodyBytes`, and nothing follows an `.error`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let control = data[0]
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let limits = control & 0x10 == 0
        ? HTTPParserLimits()
        : HTTPParserLimits(maxRequestLineLength: 64, maxHeaderBytes: 256, maxHeaderCount: 8,
                           maxBodyBytes: 128, maxChunkLineLength: 32)
    let whole = events(input, pieceSize: max(input.count, 1), limits: limits)
    let split = events(input, pieceSize: Int(control & 0x0F) + 1, limits: limits)
    precondition(whole == split, "parser events depend on how the input was split")
    checkContract(whole, limits: limits)
    return 0
}

/// Feeds `input` in pieces of `pieceSize`, pulling events after each; stops after the first error.
private func events(_ input: [UInt8], pieceSize: Int, limits: HTTPParserLimits) -> [HTTPParserEvent] {
    var parser = HTTPParser(limits: limits)
    var events: [HTTPParserEvent] = []
    var index = 0
    while index < input.count {
        let end = min(index + pieceSize, input.count)
        parser.feed(input[index..<end])
        index = end
        while let event = parser.next() {
            events.append(event)
            if case .error = event {
                precondition(parser.next() == event, "errors must be terminal")
                return events
            }
        }
    }
    return events
}

private func checkContract(_ events: [HTTPParserEvent], limits: HTTPParserLimits) {
    var open: HTTPRequestHead?
    for event in events {
        switch event {
        case .head(let head):
            precondition(open == nil, "two heads without a request between them")
            open = head
        case .request(let head, let body, _):
            precondition(open == head, "request without its head")
            precondition(body.count <= limits.maxBodyBytes, "body above maxBodyBytes")
            if case .length(let n) = head.framing { precondition(body.count == n, "body length != Content-Length") }
            open = nil
        case .error(let error):
            precondition([400, 405, 413, 414, 417, 431, 501, 505].contains(error.status), "unexpected status")
        }
    }
}

// NOTE: SwiftPM links executables with `--defsym main=<Target>_main` (so tests can link them), which
// hides libFuzzer's own `main`. This entry point hands control to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
) -> Int32

@_cdecl("FuzzHTTP_main")
public func fuzzMain(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { fuzzHTTPParser($0, $1) }
}
