import Foundation
import Testing
@testable import Tokenizer

@Suite struct RegexTests {
    func m(_ pattern: String, _ text: String) throws -> [String] { try TokenizerRegex(pattern).matches(in: text) }

    @Test func alternationIsLeftmostFirst() throws {
        #expect(try m("a|ab", "ab") == ["a"])
        #expect(try m("ab|a", "ab") == ["ab"])
        #expect(try m(#"'s|'t| ?\p{L}+"#, "it's a test") == ["it", "'s", " a", " test"])
    }

    @Test func quantifiersAndIntervals() throws {
        #expect(try m(#"\p{N}{1,3}"#, "1234567") == ["123", "456", "7"])
        #expect(try m("a{2}", "aaaaa") == ["aa", "aa"])
        #expect(try m("a{2,}", "aaaaa b aa") == ["aaaaa", "aa"])
        #expect(try m("a+?", "aaa") == ["a", "a", "a"])
        #expect(try m("x{,2}y", "xxxy") == ["xxy"])
        #expect(try m("a{x", "a{x") == ["a{x"])  // a literal brace
    }

    @Test func lookaheadAndAnchors() throws {
        #expect(try m(#"\s+(?!\S)"#, "a   b") == ["  "])
        #expect(try m(#"\s+$"#, "a  \nb  ") == ["  ", "  "])  // `$` is end of line (Ruby syntax)
        #expect(try m(#"^\w"#, "ab\ncd") == ["a", "c"])
        #expect(try m(#"\Aa"#, "aa") == ["a"])
        #expect(try m("x(?=y)", "xyxz") == ["x"])
    }

    @Test func caseInsensitiveGroups() throws {
        #expect(try m("(?i:'s|'ll)", "'S 'Ll 's") == ["'S", "'Ll", "'s"])
        #expect(try m("(?i:[a-c]+)", "xABCabcx") == ["ABCabc"])
        #expect(try m("(?i)k", "K\u{212A}k") == ["K", "\u{212A}", "k"])
        #expect(try m("(?i:'s)", "'\u{17F}") == ["'\u{17F}"])  // long s folds to s, as in Oniguruma
    }

    @Test func classes() throws {
        #expect(try m(#"[^\s\p{L}\p{N}]+"#, "ab!?  12;:") == ["!?", ";:"])
        #expect(try m(#"[\p{L}\p{M}]+"#, "e\u{301}x 1") == ["e\u{301}x"])
        #expect(try m("[一-龥]+", "abc東京def") == ["東京"])
        #expect(try m(#"[\-a]+"#, "-a-b") == ["-a-"])
        #expect(try m("[a-]+", "a-b") == ["a-"])
        #expect(try m("[]a]+", "]a]b") == ["]a]"])
        #expect(try m(#"[\x{1F600}-\x{1F64F}]"#, "a😀b") == ["😀"])
        #expect(try m(#"\P{L}+"#, "ab12cd") == ["12"])
        #expect(try m(#"\p{^L}+"#, "ab12cd") == ["12"])
        #expect(try m(".", "a\nb") == ["a", "b"])
    }

    @Test func unsupportedSyntaxIsAnError() {
        for p in ["(?<=a)b", "(?<!a)b", #"\1"#, "a++", "(?>a)", "[a&&b]", #"\p{Greek}"#, "(a", "a)", "*a", "[a-", #"\b"#, "(a*)*"] {
            #expect(throws: TokenizerError.self, "\(p)") { try TokenizerRegex(p) }
        }
    }

    /// The hand-written scanners give exactly the regex's pieces.
    @Test(arguments: [PatternScanner.gpt2Pattern, PatternScanner.llama3Pattern, PatternScanner.qwen2Pattern])
    func scannersAgreeWithTheRegex(pattern: String) throws {
        let regex = try TokenizerRegex(pattern)
        let scanner = try #require(PatternScanner(pattern: pattern))
        var rng = SplitMix(seed: 7)
        let alphabet = Array("aZ'sStTlLdD ḱ1٣½²\t\n\r  \u{3000}!?.,;-_東京🦙👍🏽e\u{301}\u{17F}\u{212A}")
        let random = (0..<300).map { _ in String((0..<Int(rng.next() % 12)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }) }
        for text in DiffFixture.strings + random {
            let bytes = Array(text.utf8)
            var pieces: [Range<Int>] = []
            bytes.withUnsafeBufferPointer { scanner.split($0, 0..<bytes.count, into: &pieces) }
            let scanned = pieces.map { String(decoding: bytes[$0], as: UTF8.self) }
            #expect(scanned == regex.matches(in: text), "\(text.debugDescription)")
        }
    }
}

/// Deterministic PRNG for generated test inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct BPEMergeTests {
    /// Plain BPE: repeatedly merge the lowest-ranked adjacent pair, leftmost on ties.
    func naive(_ ids: [Int32], _ merges: [UInt64: UInt64]) -> [Int32] {
        var s = ids
        while s.count > 1 {
            var best: (rank: UInt64, pos: Int, id: Int32)? = nil
            for p in 0..<(s.count - 1) {
                if let m = merges[UInt64(UInt32(s[p])) << 32 | UInt64(UInt32(s[p + 1]))], best == nil || m >> 32 < best!.rank {
                    best = (m >> 32, p, Int32(truncatingIfNeeded: m))
                }
            }
            guard let b = best else { break }
            s[b.pos] = b.id
            s.remove(at: b.pos + 1)
        }
        return s
    }

    /// With one merge per result token (true of byte-level vocabularies), the heap loop equals plain BPE.
    @Test func heapMergeEqualsPlainBPE() {
        var rng = SplitMix(seed: 11)
        var merges: [UInt64: UInt64] = [:]
        var next: UInt64 = 8
        for rank in 0..<200 {
            let a = rng.next() % next, b = rng.next() % next
            let key = a << 32 | b
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | next; next += 1 }
        }
        let table = MergeTable(merges)
        for _ in 0..<2000 {
            let word = (0..<Int(rng.next() % 40 + 1)).map { _ in Int32(rng.next() % 8) }
            let symbols = word.map { BPEMerge.Symbol(id: $0, length: 1) }
            let heap = word.count > 1 ? BPEMerge.mergeAll(symbols, table).map(\.id) : word
            #expect(heap == naive(word, merges), "\(word)")
        }
    }
}
