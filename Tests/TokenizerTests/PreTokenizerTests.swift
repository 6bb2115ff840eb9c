import Testing
@testable import Tokenizer

@Suite struct PreTokenizerTests {
    enum Pass { case gpt2, individualDigits }

    func pieces(_ text: String, _ passes: [Pass]) -> [String] {
        let steps: [PreTokenizer.Step] = passes.map {
            $0 == .gpt2 ? .byteLevel(addPrefixSpace: false, useRegex: true) : .digits(individual: true)
        }
        return PreTokenizer(steps: steps).split(text).strings
    }

    @Test func gpt2RegexAlternativesInOrder() {
        #expect(pieces("Hello world", [.gpt2]) == ["Hello", " world"])
        #expect(pieces("I'll don't", [.gpt2]) == ["I", "'ll", " don", "'t"])
        // contractions are lowercase-only in GPT-2
        #expect(pieces("I'LL", [.gpt2]) == ["I", "'", "LL"])
        #expect(pieces("a   b", [.gpt2]) == ["a", "  ", " b"])
        #expect(pieces("a\n\nb", [.gpt2]) == ["a", "\n", "\n", "b"])
        #expect(pieces("end   ", [.gpt2]) == ["end", "   "])
        #expect(pieces(" 123abc!!", [.gpt2]) == [" 123", "abc", "!!"])
        #expect(pieces("Äpfel 東京", [.gpt2]) == ["Äpfel", " 東京"])
    }

    @Test func digitsAreIsolatedBeforeTheRegex() {
        #expect(pieces("a 123", [.individualDigits, .gpt2]) == ["a", " ", "1", "2", "3"])
        #expect(pieces("x٣y", [.individualDigits, .gpt2]) == ["x", "٣", "y"])
    }

    @Test func piecesCoverTheText() {
        let text = "  mixed\t\n text, with 42 numbers & emoji 🦙 and  trailing  "
        #expect(pieces(text, [.individualDigits, .gpt2]).joined() == text)
    }

    @Test func unknownPreTokenizerIsAClearError() {
        #expect(throws: TokenizerError.self) { try LlamaCppPreTokenizers.pipeline("no-such-pre") }
    }
}

@Suite struct IncrementalDetokenizerTests {
    @Test func emitsOnlyWholeCharacters() {
        // "é🦙" split into single bytes: nothing may be emitted mid-character.
        let bytes = Array("é🦙x".utf8)
        var d = IncrementalDetokenizer { ids in ids.map { bytes[$0] } }
        var out: [String] = []
        for i in bytes.indices { out.append(d.add(i)) }
        #expect(out == ["", "é", "", "", "", "🦙", "x"])
        #expect(d.flush() == "")
    }

    @Test func incompleteTailIsReplacedAtFlush() {
        let bytes: [UInt8] = [0x61, 0xF0, 0x9F]
        var d = IncrementalDetokenizer { ids in ids.map { bytes[$0] } }
        let text = d.add(0) + d.add(1) + d.add(2) + d.flush()
        #expect(text == String(decoding: bytes, as: UTF8.self))
    }
}
