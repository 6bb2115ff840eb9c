@testable import Engine
import Foundation
import Testing
@testable import OpenAIAPI

/// vLLM's guided_regex, guided_choice and structured_outputs: raw-text grammars over the whole output.
@Suite struct GuidedDecodingTests {
    func grammar(_ fields: String) throws -> OutputGrammar? {
        try ChatCompletionRequest.parse(Array((#"{"model":"m","messages":[{"role":"user","content":"x"}],"# + fields + "}").utf8)).sampling.grammar
    }

    func matcher(_ fields: String) throws -> GrammarMatcher { GrammarMatcher(CompiledGrammar(try #require(try grammar(fields)))) }

    func complete(_ m: GrammarMatcher, _ text: String) -> Bool { complete(m, Array(text.utf8)) }
    func complete(_ m: GrammarMatcher, _ bytes: [UInt8]) -> Bool { let s = m.advance(m.start, bytes); return !s.isEmpty && m.canEnd(s) }
    func begun(_ m: GrammarMatcher, _ bytes: [UInt8]) -> Bool { !m.advance(m.start, bytes).isEmpty }

    @Test func choicesAreWrittenExactly() throws {
        for fields in [#""guided_choice":["yes","no","a.b (c)*","café"]"#, #""structured_outputs":{"choice":["yes","no","a.b (c)*","café"]}"#] {
            let m = try matcher(fields)
            for ok in ["yes", "no", "a.b (c)*", "café"] { #expect(complete(m, ok), "\(fields): \(ok)") }
            for bad in ["ye", "yes ", " yes", "aXb (c)*", "a.b (c)", "\"yes\""] { #expect(!complete(m, bad), "\(fields): \(bad)") }
            // A whole choice that nothing extends ends the output.
            #expect(m.mustEnd(m.advance(m.start, Array("no".utf8))))
        }
    }

    @Test func regexesMatchTheWholeOutput() throws {
        for fields in [#""guided_regex":"\\d{3}-[a-z]+""#, #""guided_regex":"^\\d{3}-[a-z]+$""#, #""structured_outputs":{"regex":"\\d{3}-[a-z]+"}"#] {
            let m = try matcher(fields)
            #expect(complete(m, "123-ab") && !complete(m, "123-") && !begun(m, Array("12-".utf8)) && !begun(m, Array("x".utf8)), "\(fields)")
            #expect(!m.mustEnd(m.advance(m.start, Array("123-ab".utf8))))   // more letters may follow
        }
        // An escaped dollar at the end is a character, not an anchor.
        #expect(complete(try matcher(#""guided_regex":"a\\$""#), "a$"))
        // Raw text is well-formed UTF-8: no overlong forms, no surrogates.
        let any = try matcher(#""guided_regex":".*""#)
        #expect(complete(any, [0xC3, 0xA9]) && complete(any, Array("😀 ok\t".utf8)) && !complete(any, Array("a\n".utf8)))   // `.` is not a newline
        for bad: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80], [0xED, 0xA0], [0xF4, 0x90], [0x80], [0xF5]] { #expect(!begun(any, bad), "\(bad)") }
    }

    /// What the class escapes write matches under both ECMAScript and Python's `re` (how guided_regex users and
    /// Python's jsonschema read a pattern).
    @Test func classEscapesWriteWhatBothDialectsAgreeOn() throws {
        func takes(_ regex: String, _ text: String) throws -> Bool { complete(try matcher(#""guided_regex":"# + Self.quoted(regex)), text) }
        #expect(try takes("\\s", " ") && !(try takes("\\s", "\u{FEFF}")))   // no BOM: not a space to Python
        #expect(try takes("\\S", "x") && !(try takes("\\S", "\u{85}")) && !(try takes("\\S", "\u{FEFF}")))
        #expect(try takes("\\D", "é") && !(try takes("\\D", "٣")))   // an Arabic-Indic digit is \d to Python
        #expect(try takes("\\W", "!") && !(try takes("\\W", "é")))   // a letter is \w to Python
        // Negated classes keep out what either dialect puts in the escape.
        #expect(try takes("[^\\d]", "x") && !(try takes("[^\\d]", "5")) && !(try takes("[^\\d]", "٣")))
        #expect(try takes("[^\\s]", "x") && !(try takes("[^\\s]", "\u{FEFF}")) && !(try takes("[^\\s]", "\u{85}")))
        #expect(try takes("[^\\w]", "!") && !(try takes("[^\\w]", "é")) && (try takes("[^\\D]", "7")) && !(try takes("[^\\D]", "٣")))
        // {,n}: a repeat to Python, text to ECMAScript: refused with the fix.
        do {
            _ = try grammar(#""guided_regex":"a{,3}""#)
            Issue.record("accepted a{,3}")
        } catch let e as APIError { #expect(e.message.contains("{0,n}")) }
        #expect(try takes("a\\{,3}", "a{,3}"))
    }

    @Test func errorsPointIntoTheClientsPattern() throws {
        // Where the ')' was due, just past the end; an escape that means nothing, at its letter.
        for (regex, at) in [("(", 2), ("^(", 3), ("ab\\q", 4)] {
            do {
                _ = try grammar(#""guided_regex":"# + Self.quoted(regex))
                Issue.record("accepted \(regex)")
            } catch let e as APIError { #expect(e.message.hasSuffix("(at character \(at))"), "\(regex): \(e.message)") }
        }
    }

    /// A string as JSON text.
    static func quoted(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed), as: UTF8.self)
    }

    /// A thousand long labels are a trie, not a DFA.
    @Test func manyLongChoices() throws {
        let labels = (0..<1024).map { i in "label-\(i)-" + String(repeating: "x", count: 100) }
        let body = #""guided_choice":["# + labels.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let m = try matcher(body)
        #expect(complete(m, labels[777]) && !complete(m, "label-77"))
    }

    @Test func structuredOutputsTakeJSONToo() throws {
        let schema = try matcher(#""structured_outputs":{"json":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}"#)
        #expect(complete(schema, #"{"a": 1}"#) && !complete(schema, #"{}"#))
        let object = try matcher(#""structured_outputs":{"json_object":true}"#)
        #expect(complete(object, #"{"x": [1]}"#) && !complete(object, "[1]"))
        #expect(complete(try matcher(#""structured_outputs":{"json":"{\"type\":\"string\"}"}"#), #""s""#))
    }

    @Test func badRequestsNameTheField() throws {
        let cases: [(String, String)] = [
            (#""guided_choice":[]"#, "guided_choice"), (#""guided_choice":["a",""]"#, "guided_choice[1]"), (#""guided_choice":"a""#, "guided_choice"),
            (#""guided_regex":"(?=a)""#, "guided_regex"), (#""guided_regex":5"#, "guided_regex"),
            (#""guided_choice":["a"],"response_format":{"type":"json_object"}"#, "guided_choice"),
            (#""guided_regex":"a","guided_choice":["a"]"#, "guided_choice"),
            (#""structured_outputs":{"regex":"a","choice":["a"]}"#, "structured_outputs"),
            (#""structured_outputs":{"grammar":"root ::= a"}"#, "structured_outputs.grammar"),
            (#""guided_grammar":"root ::= root \"a\"""#, "guided_grammar"), (#""guided_grammar":["root"]"#, "guided_grammar"),
            (#""grammar":"root ::= [\\d]""#, "grammar"), (#""guided_grammar":"""#, "guided_grammar"),
            (#""guided_grammar":"root ::= \"a\"","guided_regex":"a""#, "guided_grammar"),
            (#""structured_outputs":{"grammar":"root ::= \"a\"","regex":"a"}"#, "structured_outputs"),
            (#""structured_outputs":{"json_object":false}"#, "structured_outputs.json_object"),
            (#""structured_outputs":{"regex":"("}"#, "structured_outputs.regex"),
        ]
        for (fields, param) in cases {
            do {
                _ = try grammar(fields)
                Issue.record("accepted \(fields)")
            } catch let e as APIError {
                #expect(e.status == 400 && e.param == param, "\(fields): \(e.param ?? "nil") \(e.message)")
            }
        }
    }
    /// Context-free grammars: vLLM's `guided_grammar` and `structured_outputs.grammar` (xgrammar's EBNF) and
    /// llama.cpp's `grammar` (GBNF, where an empty string means none).
    @Test func grammarsConstrainTheWholeOutput() throws {
        let rules = #"root ::= item (\",\" item)*\nitem ::= [a-z]+ | \"(\" root \")\""#
        for fields in [#""guided_grammar":""# + rules + "\"", #""structured_outputs":{"grammar":""# + rules + "\"}", #""grammar":""# + rules + "\""] {
            let m = try matcher(fields)
            #expect(complete(m, "ab,(c,(d)),e") && !complete(m, "ab,") && !begun(m, Array("ab,)".utf8)), "\(fields)")
        }
        // The dialects differ in \x: two hex digits for llama.cpp, all that follow for xgrammar.
        #expect(complete(try matcher(#""grammar":"root ::= \"\\x41B\"""#), "AB"))
        #expect(complete(try matcher(#""guided_grammar":"root ::= \"\\x41B\"""#), "\u{41B}"))
        #expect(try grammar(#""grammar":"""#) == nil)
    }
}
