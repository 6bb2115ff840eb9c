import Foundation
import Testing
@testable import Engine

/// Context-free output grammars (GBNF / xgrammar EBNF): the syntax, what the matcher lets through, and agreement
/// with the regular-expression matcher on grammars both can write.
@Suite struct RuleGrammarTests {
    func matcher(_ text: String, _ dialect: GrammarSyntax.Dialect = .xgrammar) throws -> GrammarMatcher {
        GrammarMatcher(CompiledGrammar(.rules(try GrammarSyntax.parse(text, dialect: dialect))))
    }

    func complete(_ m: GrammarMatcher, _ text: String) -> Bool { complete(m, Array(text.utf8)) }
    func complete(_ m: GrammarMatcher, _ bytes: [UInt8]) -> Bool { let s = m.advance(m.start, bytes); return !s.isEmpty && m.canEnd(s) }
    func begun(_ m: GrammarMatcher, _ text: String) -> Bool { begun(m, Array(text.utf8)) }
    func begun(_ m: GrammarMatcher, _ bytes: [UInt8]) -> Bool { !m.advance(m.start, bytes).isEmpty }

    func problem(_ text: String, _ dialect: GrammarSyntax.Dialect = .xgrammar) -> String? {
        do {
            _ = try GrammarSyntax.parse(text, dialect: dialect)
            return nil
        } catch {
            return error.description
        }
    }

    static let arithmetic = #"""
        root ::= expr ("=" expr)*
        expr ::= term ([-+*/] term)*
        term ::= num | "(" expr ")"
        num  ::= [0-9]+
        """#

    @Test func recursiveGrammarsAreFollowed() throws {
        let m = try matcher(Self.arithmetic)
        for ok in ["1+2", "(3*4)-5=7", "2=2=2", "((((1))))", "12/(3-4)*56"] { #expect(complete(m, ok), "\(ok)") }
        for bad in ["1+", "(1", "1++2", "()", "1=", "1 + 2", ""] { #expect(!complete(m, bad), "\(bad)") }
        for prefix in ["((((", "1+(2*", "3="] { #expect(begun(m, prefix) && !complete(m, prefix), "\(prefix)") }
        for dead in ["a", ")", "1)", "(+"] { #expect(!begun(m, dead), "\(dead)") }
        // A number may always grow, so nothing forces the end.
        #expect(!m.mustEnd(m.advance(m.start, Array("1".utf8))))
    }

    @Test func rulesSpanLinesAndCarryComments() throws {
        let m = try matcher("""
            # a greeting
            root ::= greeting
                     " " name   # then a name
            greeting ::= "hi" |
                         "hello"
            name ::= [A-Z] [a-z]*
            """)
        for ok in ["hi Ann", "hello Bo", "hi X"] { #expect(complete(m, ok), "\(ok)") }
        for bad in ["hi ann", "hey Ann", "hi", "hello  Bo"] { #expect(!complete(m, bad), "\(bad)") }
        // GBNF's one rule per line reads the same.
        let g = try matcher("root ::= \"a\" b\nb ::= \"b\" | \"c\"\n", .gbnf)
        #expect(complete(g, "ab") && complete(g, "ac") && !complete(g, "a"))
    }

    @Test func repetitionsCountTheirTurns() throws {
        let m = try matcher(#"root ::= "ab"{2,3} "!"?"#)
        for ok in ["abab", "ababab", "ababab!", "abab!"] { #expect(complete(m, ok), "\(ok)") }
        for bad in ["ab", "abababab", "!", "abab!!"] { #expect(!complete(m, bad), "\(bad)") }
        #expect(m.mustEnd(m.advance(m.start, Array("ababab!".utf8))))
        let exact = try matcher(#"root ::= [0-9]{4} "-" [0-9]{2,}"#)
        #expect(complete(exact, "2026-12") && complete(exact, "2026-123") && !complete(exact, "202-12") && !complete(exact, "2026-1"))
        #expect(!begun(exact, "20261"))
        let zero = try matcher(#"root ::= "a"{0} "b""#)
        #expect(complete(zero, "b") && !begun(zero, "a"))
    }

    /// Items that may match nothing, repeated: no endless settling, and the counts still hold for what is written.
    @Test func emptyTurnsNeitherLoopNorCount() throws {
        let star = try matcher(#"root ::= ("a"?)* "b""#)
        for ok in ["b", "ab", "aaab"] { #expect(complete(star, ok), "\(ok)") }
        let nested = try matcher(#"""
            root ::= x* "!"
            x ::= "" | "y" | z
            z ::= ("" | "")+
            """#)
        for ok in ["!", "y!", "yyy!"] { #expect(complete(nested, ok), "\(ok)") }
        #expect(!complete(nested, "y"))
        let bounded = try matcher(#"root ::= ("a"?){2,4} "b""#)
        for ok in ["b", "ab", "aaaab"] { #expect(complete(bounded, ok), "\(ok)") }
        #expect(!begun(bounded, "aaaaa"))
    }

    @Test func classesReadUTF8AndRefuseDeadEnds() throws {
        let cyrillic = try matcher("root ::= [а-я]+")
        #expect(complete(cyrillic, "привет") && !complete(cyrillic, "hello"))
        #expect(begun(cyrillic, [0xD0]) && !begun(cyrillic, [0xC3]))   // é's lead byte can only become U+00C0–U+00FF
        let negated = try matcher("root ::= [^a\\n]")
        #expect(complete(negated, "é") && complete(negated, "😀") && !complete(negated, "a") && !complete(negated, "\n"))
        let any = try matcher("root ::= .*")
        #expect(complete(any, "line\nbreak 😀") && complete(any, ""))
        for bad: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80], [0xED, 0xA0], [0xF4, 0x90], [0x80], [0xF5]] { #expect(!begun(any, bad), "\(bad)") }
        let escaped = try matcher(#"root ::= [\-\]\\x-z] "\u00e9\t\"""#)
        for ok in ["-é\t\"", "]é\t\"", "\\é\t\"", "yé\t\""] { #expect(complete(escaped, ok), "\(ok)") }
        #expect(!begun(escaped, "a"))
    }

    @Test func hexEscapesFollowTheirDialect() throws {
        // GBNF (llama.cpp): \x takes two digits; xgrammar's takes all that follow.
        #expect(complete(try matcher(#"root ::= "\x41B""#, .gbnf), "AB"))
        #expect(complete(try matcher(#"root ::= "\x41B""#, .xgrammar), "\u{41B}"))
        #expect(complete(try matcher(#"root ::= "\U0001F600""#), "😀"))
        #expect(complete(try matcher(#"root ::= "\x000000041""#, .xgrammar), "A"))
        // A GBNF name has no dots: `pre.*` is a rule and any characters after it.
        let dots = try matcher("root ::= pre.*\npre ::= \"x\"", .gbnf)
        #expect(complete(dots, "x") && complete(dots, "xyz"))
    }

    @Test func badGrammarsSayWhatAndWhere() throws {
        let cases: [(String, String)] = [
            ("root ::= a\n", "rule 'a' is not defined (line 1, column 10)"),
            ("start ::= \"a\"", "no rule 'root'"),
            ("root ::= \"a\"\nroot ::= \"b\"", "defined twice (line 2, column 1)"),
            (#"root ::= root "a" | "a""#, "left recursion"),
            ("root ::= x\nx ::= \"\"? x \"a\" | \"b\"", "left recursion"),
            (#"root ::= "a" root"#, "no finite text"),
            (#"root ::= "a"{,3}"#, "least count"),
            (#"root ::= "a"{3,2}"#, "out of order"),
            (#"root ::= [\d]"#, "'\\d' is not supported"),
            (#"root ::= "a"++"#, "two repetition operators"),
            ("start: \"a\"", "Lark"),
            (#"root ::= "abc"#, "not closed"),
            ("root ::= []", "empty character class"),
            ("root ::= [z-a]", "out of order"),
            (#"root ::= "\q""#, "unknown escape"),
            (#"root ::= "\uD800""#, "not a character"),
            ("", "empty"),
            ("root ::= (\"a\"", "expected ')'"),
            ("root ::= undefined{0}", "rule 'undefined' is not defined"),
            ("root ::= \"a\" |\nx ::= \"b\"", "is empty"),
            ("root ::=\n", "body is empty"),
            ("root ::= @", "unexpected '@' (line 1, column 10)"),
        ]
        for (text, expected) in cases {
            let why = problem(text)
            #expect(why?.contains(expected) == true, "\(text): \(why ?? "accepted")")
        }
        // An alternative that can never finish is dropped, not refused: the rest still works.
        let pruned = try matcher(#"root ::= "a" | "b" loop"# + "\nloop ::= \"c\" loop")
        #expect(complete(pruned, "a") && !begun(pruned, "b"))
    }

    /// Ambiguity costs frames, not parses: the textbook expression grammar, nested, keeps a handful of parses (a
    /// parse per way to read the text would be 4^depth), and so does a fifteen-level precedence grammar.
    @Test func ambiguousGrammarsStaySmall() throws {
        let textbook = try matcher(#"""
            root ::= expr
            expr ::= term "+" expr | term
            term ::= factor "*" term | factor
            factor ::= "(" expr ")" | [0-9]
            """#)
        let deep = String(repeating: "(", count: 40) + "1" + String(repeating: ")", count: 40)
        #expect(complete(textbook, "(((((1)))))") && complete(textbook, deep) && complete(textbook, "(1+2)*3+((4))"))
        #expect(!complete(textbook, "((1)") && !begun(textbook, "(1))"))
        var state = textbook.start
        for b in Array(deep.utf8) {
            state = textbook.step(state, b)
            #expect(state.count <= 8, "\(state.count) parses")
        }
        var levels = "root ::= e1\n"
        for k in 1..<15 { levels += "e\(k) ::= e\(k + 1) \"\(Array("|^&<>+-*/%!~@$")[k - 1])\" e\(k) | e\(k + 1)\n" }
        levels += "e15 ::= \"(\" e1 \")\" | [0-9]\n"
        let precedence = try matcher(levels)
        #expect(precedence.start.count <= 4)
        #expect(complete(precedence, "((1|2)^3&(4))") && !complete(precedence, "(1|2"))
    }

    /// Right recursion and repetitions in last place keep no frame per level, and long chains of empty rules,
    /// tail calls or many literal alternatives are followed without recursion or a cap on parses.
    @Test func longInputsAndBigGrammarsAreFollowed() throws {
        let tail = try matcher(#"root ::= "a" root?"#)
        #expect(complete(tail, String(repeating: "a", count: 500)))
        let list = try matcher(#"root ::= item ("," root)?"# + "\nitem ::= [0-9]+")
        #expect(complete(list, (0..<300).map(String.init).joined(separator: ",")))
        let empties = try matcher("root ::= " + String(repeating: "e ", count: 1_000) + "\"x\"\ne ::= \"\"")
        #expect(complete(empties, "x") && !begun(empties, "y"))
        // Past the work one byte may take, refused when read (it once overflowed the settling's call stack).
        #expect(problem("root ::= " + String(repeating: "e ", count: 30_000) + "\"x\"\ne ::= \"\"")?.contains("too large") == true)
        let chain = try matcher("root ::= r0\n" + (0..<1_000).map { "r\($0) ::= r\($0 + 1)" }.joined(separator: "\n") + "\nr1000 ::= \"z\"")
        #expect(complete(chain, "z"))
        let skus = (1...2_000).map { String(format: "\"SKU-%04d\"", $0) }.joined(separator: " | ")
        let sku = try matcher("root ::= " + skus)
        #expect(complete(sku, "SKU-1999") && complete(sku, "SKU-0001") && !complete(sku, "SKU-2001"))
        // Too many ways to start at once is refused when the grammar is read, not discovered while sampling.
        #expect(problem("root ::= " + String(repeating: ".? ", count: 20_000) + "\"x\"")?.contains("ways to read the text") == true)
    }

    /// Past a repetition's least count fewer turns do all that more can: an empty turn or an ambiguous count
    /// adds no parse and no stack node, so huge counts and word-boundary ambiguity stay cheap.
    @Test func surplusTurnsAreDropped() throws {
        let letters = String(repeating: "abcdefghij", count: 100)
        for rules in [#"root ::= ([a-z]?){0,40000}"#, #"root ::= ([a-z] ""{0,60000})+"#, #"root ::= (" "? [a-z]+){1,2000}"#] {
            let m = try matcher(rules)
            var state = m.start
            for b in Array(letters.utf8) {
                state = m.step(state, b)
                #expect(state.count <= 4, "\(rules): \(state.count) parses")
                if state.isEmpty { break }
            }
            #expect(m.canEnd(state), "\(rules)")
            // A bounded count is kept (one node per turn taken), never one per way to split the text.
            let nodes = m.stacks!.withTable { $0.nodes.count }
            #expect(nodes <= letters.utf8.count + 8, "\(rules): \(nodes) stack nodes")
        }
        // Literal alternatives below the root count like those at it: too many at one point is refused when read.
        let nested = (1...2_000).map { String(format: "\"SKU-%04d\"", $0) }.joined(separator: " | ")
        #expect(complete(try matcher("root ::= \"[\" item \"]\"\nitem ::= " + nested), "[SKU-1234]"))
        let tooMany = (1...5_000).map { String(format: "\"SKU-%04d\"", $0) }.joined(separator: " | ")
        for rules in ["root ::= \"[\" item \"]\"\nitem ::= " + tooMany, "root ::= " + tooMany, "root ::= prefix item\nprefix ::= \"ID: \"\nitem ::= " + tooMany] {
            #expect(problem(rules)?.contains("ways to read the text") == true)
        }
        // Many callers of a rule with many alternatives cost callers + alternatives, not their product.
        let names = (1...2_000).map { String(format: "\"n%04d\"", $0) }.joined(separator: " | ")
        let verbs = (1...60).map { "person \" v\($0) \" food" }.joined(separator: " | ")
        let people = try matcher("root ::= " + verbs + "\nperson ::= " + names + "\nfood ::= \"tea\" | \"rice\"")
        #expect(complete(people, "n1234 v42 tea") && !complete(people, "n1234 v61 tea") && !begun(people, "n2001"))
    }

    /// Regular grammars written both ways: the rule matcher and the pattern DFA agree on every string over the
    /// alphabet up to six characters, whole and as prefixes.
    @Test func agreesWithTheRegexMatcherOnRegularGrammars() throws {
        let pairs: [(String, String)] = [
            (#"root ::= [a-c]{2,4} "x"?"#, "[a-c]{2,4}x?"),
            (#"root ::= ("ab" | "a")* "b""#, "(ab|a)*b"),
            (#"root ::= ("a" | "b" "c"+)+ | "x" [^x]"#, "(a|bc+)+|x[^x]"),
            ("root ::= a b?\na ::= [ab]+ (\"c\" a)?\nb ::= \"x\"{1,2}", "[ab]+(c[ab]+)*(xx?)?"),
        ]
        let alphabet: [UInt8] = Array("abcx".utf8)
        var strings: [[UInt8]] = [[]]
        var frontier: [[UInt8]] = [[]]
        for _ in 0..<6 {
            frontier = frontier.flatMap { s in alphabet.map { s + [$0] } }
            strings += frontier
        }
        for (rules, regex) in pairs {
            let g = try matcher(rules)
            let r = GrammarMatcher(CompiledGrammar(.rawText(try PatternDFA.compile("^(?:" + regex + ")$"))))
            var disagreements = 0
            for s in strings where complete(g, s) != complete(r, s) || begun(g, s) != begun(r, s) {
                disagreements += 1
                if disagreements <= 3 { Issue.record("\(rules) vs /\(regex)/ on '\(String(decoding: s, as: UTF8.self))'") }
            }
            #expect(disagreements == 0)
        }
    }

    /// Through a request's structured-output state: the mask admits exactly the tokens that continue the grammar,
    /// and the stop token once the text may end.
    @Test func maskFollowsTheGrammar() throws {
        let pieces = ["1", "2", "+", "12", "+1", "(", ")", "a", "1)", "=", " "]
        let stop = pieces.count
        let vocabulary = StructuredVocabulary(bytes: pieces.map { Array($0.utf8) } + [[]])
        var out = StructuredOutput(grammar: .rules(try GrammarSyntax.parse(Self.arithmetic, dialect: .xgrammar)), vocabulary: vocabulary,
                                   stopTokenIDs: [stop])
        func allowed() -> Set<String> {
            let mask = out.mask(count: stop + 1)
            return Set(mask.indices.filter { mask[$0] }.map { $0 == stop ? "<stop>" : pieces[$0] })
        }
        #expect(allowed() == ["1", "2", "12", "("])
        out.advance(0)
        #expect(allowed() == ["1", "2", "12", "+", "+1", "=", "<stop>"])
        for id in [2, 5, 3] { out.advance(id) }   // "+", "(", "12": 1+(12
        #expect(allowed() == ["1", "2", "12", "+", "+1", ")", "1)"])
    }
}
