import Foundation
import Tokenizer

// TokenizerBench --tokenizer DIR --corpus FILE [--seconds S]
//
// Loads DIR/tokenizer.json (+ tokenizer_config.json), reads FILE (documents separated by the byte 0x1E),
// encodes every document (special-token text parsed, no BOS) on one thread, round after round until S
// seconds have passed (at least 3 rounds), and prints one JSON line: the best round's MB/s, the token
// count and a checksum of all ids (to compare with the reference), and the load time.

func argument(_ name: String, default value: String? = nil) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    guard let value else { FileHandle.standardError.write(Data("missing \(name)\n".utf8)); exit(2) }
    return value
}

let directory = URL(fileURLWithPath: argument("--tokenizer"))
let corpus = try Data(contentsOf: URL(fileURLWithPath: argument("--corpus")))
let minSeconds = Double(argument("--seconds", default: "5"))!
let documents = corpus.split(separator: 0x1E, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
let bytes = documents.reduce(0) { $0 + $1.utf8.count }

let clock = ContinuousClock()
let loadStart = clock.now
let tokenizer = try BPETokenizer(definition: TokenizerDefinition(directory: directory))
let loadSeconds = (clock.now - loadStart) / .seconds(1)

var best = Double.infinity
var tokens = 0
var checksum: UInt64 = 0
var rounds = 0
let benchStart = clock.now
while rounds < 3 || (clock.now - benchStart) / .seconds(1) < minSeconds {
    let start = clock.now
    var count = 0
    var sum: UInt64 = 0
    for doc in documents {
        let ids = tokenizer.encode(doc, parseSpecial: true)
        count += ids.count
        for id in ids { sum = sum &* 1_000_003 &+ UInt64(id) }
    }
    best = min(best, (clock.now - start) / .seconds(1))
    tokens = count
    checksum = sum
    rounds += 1
}

let result: [String: Any] = [
    "mb_per_s": Double(bytes) / 1e6 / best, "seconds": best, "bytes": bytes, "tokens": tokens,
    "checksum": String(checksum), "load_seconds": loadSeconds, "rounds": rounds,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
