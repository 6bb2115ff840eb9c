import Foundation
import Testing
@testable import OpenAIAPI

/// The request-body parser: RFC 8259 strictly, and nothing a client sent silently dropped or changed.
@Suite struct JSONParserTests {
    func parse(_ text: String) throws(JSONParser.Failure) -> JSONInput { try JSONParser.parse(Array(text.utf8)) }
    func parse(bytes: [UInt8]) throws(JSONParser.Failure) -> JSONInput { try JSONParser.parse(bytes) }

    func rejects(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let v = try JSONParser.parse(bytes)
            Issue.record("accepted \(String(decoding: bytes, as: UTF8.self)) as \(v)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    func rejects(_ text: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        rejects(Array(text.utf8), fragment, sourceLocation: sourceLocation)
    }

    @Test func parsesEveryKindOfValue() throws {
        let v = try parse(#" { "a" : [1, -0, 2.5, -1e-3, 1E2, true, false, null, "x"], "b": {}, "c": [] , "d": 9223372036854775807 } "#)
        #expect(v == .object(["a": .array([.int(1), .int(0), .double(2.5), .double(-0.001), .double(100), .bool(true), .bool(false), .null, .string("x")]),
                              "b": .object([:]), "c": .array([]), "d": .int(Int.max)]))
        #expect(try parse("92233720368547758070") == .double(9.223372036854775807e19))   // past Int: a number, not an error
        #expect(try parse("-9223372036854775808") == .int(Int.min))
        #expect(try parse("1e-400") == .double(0))
        #expect(try parse(#""plain""#) == .string("plain"))
    }

    @Test func decodesEscapesAndUTF8() throws {
        #expect(try parse(#""\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \u20AC \ud83d\ude00""#) == .string("\" \\ / \u{8} \u{C} \n \r \t \u{0} é € 😀"))
        #expect(try parse(#""é€😀\#u{FEFF}\#u{2028}""#) == .string("é€😀\u{FEFF}\u{2028}"))   // U+FEFF kept (Foundation drops it)
        #expect(try parse(bytes: [0xEF, 0xBB, 0xBF] + Array(#"{"a":1}"#.utf8)) == .object(["a": .int(1)]))   // a UTF-8 BOM
    }

    @Test func refusesWhatRFC8259Refuses() {
        rejects(#"{"a":1,}"#, "expected a string key")
        rejects("[1,]", "unexpected character ']'")
        rejects("[1 2]", "expected ',' or ']'")
        rejects(#"{"a" 1}"#, "expected ':'")
        rejects("{'a':1}", "expected a string key")
        rejects("01", "leading zero")
        rejects("1.", "digits after '.'")
        rejects("1e", "exponent")
        rejects("-", "needs a digit")
        rejects("+1", "unexpected character '+'")
        rejects("NaN", "unexpected character 'N'")
        rejects("Infinity", "unexpected character 'I'")
        rejects("-Infinity", "needs a digit")
        rejects("1e400", "out of range")
        rejects("tru", "unexpected character 't'")
        rejects("nul", "unexpected character 'n'")
        rejects("[1] x", "after the JSON value")
        rejects("/* c */ 1", "unexpected character '/'")
        rejects(#""abc"#, "unterminated string")
        rejects("\"a\tb\"", "control character (0x9)")
        rejects(#""\x""#, #"invalid escape '\x'"#)
        rejects(#""\u12""#, "4 hex digits")
        rejects(#""\ud800""#, "without its low surrogate")
        rejects(#""\ud800\u0041""#, "followed by")
        rejects(#""\udc00""#, "without a high one")
        rejects("", "unexpected end")
        rejects("[", "unexpected end")
        rejects(#"{"a":1"#, "unexpected end")
    }

    @Test func refusesBytesThatAreNotUTF8() {
        let quote = UInt8(ascii: "\"")
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] {
            rejects([quote] + bad + [quote], "not valid UTF-8")
        }
        rejects(Array(#"{"a":1}"#.data(using: .utf16)!), "unexpected character")
        rejects(Array(#"{"a":1}"#.data(using: .utf16LittleEndian)!), "expected a string key")
    }

    /// The first of two equal keys used to win silently; most clients and gateways keep the last.
    @Test func refusesDuplicateKeys() {
        rejects(#"{"max_tokens":3,"max_tokens":1}"#, "'max_tokens' appears twice")
        rejects(#"{"a":{"b":1,"b":1}}"#, "'b' appears twice")
        rejects(#"{"é":1,"\u00e9":2}"#, "appears twice")
    }

    @Test func limitsTheDepth() throws {
        let limit = JSONParser.maxDepth
        _ = try parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        rejects(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1), "nested more than \(limit)")
        rejects(String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1), "nested more than")
        // Depth is per path, not per document: many siblings at the limit are fine.
        let sibling = String(repeating: "[", count: limit - 1) + String(repeating: "]", count: limit - 1)
        _ = try parse("[" + Array(repeating: sibling, count: 200).joined(separator: ",") + "]")
    }

    /// Mutated documents (bytes flipped, inserted, deleted, repeated) never trap: each either fails at an offset
    /// inside the body, or parses to a value that our writer writes back and the parser reads the same.
    @Test func mutatedDocumentsFailCleanlyOrRoundTrip() {
        func written(_ v: JSONInput) -> JSONValue {
            switch v {
            case .null: return .null
            case let .bool(b): return .bool(b)
            case let .int(i): return .int(i)
            case let .double(d): return .double(d)
            case let .string(s): return .string(s)
            case let .array(a): return .array(a.map(written))
            case let .object(o): return .object(o.sorted { $0.key < $1.key }.map { ($0.key, written($0.value)) })
            }
        }
        let seeds = [#"{"model":"m","messages":[{"role":"user","content":"h\u00e9 \ud83d\ude00 \n"}],"max_tokens":5,"x":[1.5e3,-0,true,null]}"#,
                     #"[[[{"a":{"b":[]}}]],"\"\\\/\b\f\r\t",123456789012345678901234,-1E-7]"#, "\"é€😀\""]
            .map { Array($0.utf8) }
        let alphabet = Array(#"{}[],:"\/-+.0123456789eEtrufalsn u"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]
        var rng = SystemRandomNumberGenerator()
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where at < bytes.count: bytes[at] = alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                case 2 where at < bytes.count: bytes.remove(at: at)
                default:
                    let end = min(bytes.count, at + Int.random(in: 1...8, using: &rng))
                    bytes.insert(contentsOf: Array(bytes[at..<end]), at: at)
                }
            }
            do {
                let v = try JSONParser.parse(bytes)
                parsed += 1
                let again = try JSONParser.parse(written(v).bytes)
                #expect(again == v, "\(String(decoding: bytes, as: UTF8.self))")
            } catch {
                #expect((0...bytes.count).contains(error.offset), "\(error.message) at \(error.offset) of \(bytes.count)")
            }
        }
        #expect(parsed > 0)
    }

    /// Random documents written by our own writer (`JSONValue`) and by Foundation parse back to the same values.
    @Test func randomDocumentsRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        func string() -> String {
            let pool: [Unicode.Scalar] = ["a", "\"", "\\", "/", "\n", "\u{1}", "\u{1F}", "é", "€", "😀", "\u{2028}", " ", "\u{7F}"]
            return String(String.UnicodeScalarView((0..<Int.random(in: 0...6, using: &rng)).map { _ in pool.randomElement(using: &rng)! }))
        }
        func value(_ depth: Int) -> (JSONValue, JSONInput) {
            switch Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &rng) {
            case 0: return (.null, .null)
            case 1: let b = Bool.random(using: &rng); return (.bool(b), .bool(b))
            case 2: let i = Int.random(in: Int.min...Int.max, using: &rng); return (.int(i), .int(i))
            case 3:
                let d = Double(Int.random(in: -8_000_000...8_000_000, using: &rng)) / 8   // short exact decimals
                return d == d.rounded() ? (.int(Int(d)), .int(Int(d))) : (.double(d), .double(d))
            case 4: let s = string(); return (.string(s), .string(s))
            case 5:
                let items = (0..<Int.random(in: 0...4, using: &rng)).map { _ in value(depth + 1) }
                return (.array(items.map(\.0)), .array(items.map(\.1)))
            default:
                var seen = Set<String>(), pairs: [(String, JSONValue)] = [], object: [String: JSONInput] = [:]
                for _ in 0..<Int.random(in: 0...4, using: &rng) {
                    let k = string()
                    guard seen.insert(k).inserted else { continue }
                    let (w, r) = value(depth + 1)
                    pairs.append((k, w))
                    object[k] = r
                }
                return (.object(pairs), .object(object))
            }
        }
        for _ in 0..<300 {
            let (written, expected) = value(0)
            let text = written.serialized()
            #expect(try parse(text) == expected, "\(text)")
            let foundation = try JSONSerialization.data(withJSONObject: expected.anyValue, options: [.fragmentsAllowed])
            #expect(try parse(bytes: Array(foundation)) == expected, "\(String(decoding: foundation, as: UTF8.self))")
        }
    }
}
