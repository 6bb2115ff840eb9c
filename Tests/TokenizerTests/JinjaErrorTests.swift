import Foundation
import Testing
import Tokenizer

@Suite("Jinja errors carry messages and template positions")
struct JinjaErrorTests {
    private func error(_ source: String, _ context: [String: JinjaValue] = [:],
                       limits: JinjaLimits = JinjaLimits()) -> JinjaError? {
        do {
            _ = try ChatTemplate(source: source, limits: limits, now: { Date() }).render(context)
            return nil
        } catch let error as JinjaError {
            return error
        } catch {
            return nil
        }
    }

    @Test func syntaxErrorHasLineAndColumn() throws {
        let e = try #require(error("line one\nline two {{ 1 + }}"))
        #expect(e.kind == .syntax)
        #expect(e.line == 2)
        #expect(e.column == 17)
        #expect(e.description.contains("line 2"))
    }

    @Test func unknownTagNamesTheTag() throws {
        let e = try #require(error("a\nb\n{% frobnicate %}"))
        #expect(e.line == 3)
        #expect(e.message.contains("frobnicate"))
    }

    @Test func unclosedBlockNamesTheOpener() throws {
        let e = try #require(error("{% for x in y %}\n{% if x %}\nbody"))
        #expect(e.kind == .syntax)
        #expect(e.message.contains("'if'"))
    }

    @Test func raiseExceptionKeepsMessageAndLine() throws {
        let source = "{% for m in messages %}\n{% if m.role == 'bad' %}\n{{ raise_exception('Bad role: ' ~ m.role) }}\n{% endif %}{% endfor %}"
        let e = try #require(error(source, ["messages": [["role": "bad"]]]))
        #expect(e.kind == .raised)
        #expect(e.message == "Bad role: bad")
        #expect(e.line == 3)
    }

    @Test func undefinedAttributeNamesThePath() throws {
        let e = try #require(error("\n\n{{ message.content.text }}", ["message": ["role": "user"]]))
        #expect(e.kind == .runtime)
        #expect(e.line == 3)
        #expect(e.message.contains("message"))
        #expect(e.message.contains("content"))
    }

    @Test func typeErrorHasLine() throws {
        let e = try #require(error("ok\n{{ 'a' + 1 }}"))
        #expect(e.line == 2)
        #expect(e.message.contains("concatenate"))
    }

    @Test func runawayTemplatesHitLimits() throws {
        let range = try #require(error("{% for i in range(1000000) %}{% endfor %}"))
        #expect(range.message.contains("Range too big"))
        var small = JinjaLimits()
        small.maxIterations = 20_000
        let nested = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
        #expect(error(nested, limits: small)?.message.contains("iterations") == true)
        small.maxOutputBytes = 1000
        #expect(error("{{ 'x' * 5000 }}", limits: small)?.message.contains("too large") == true)
        #expect(error("{% for i in range(5000) %}x{% endfor %}", limits: small)?.message.contains("output") == true)
        let recursive = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
        #expect(error(recursive)?.message.contains("nested deeper") == true)
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        #expect(error("{{ \(deep) }}")?.kind == .syntax)
    }

    @Test func hostileSizesFailInsteadOfAllocating() throws {
        #expect(error("{{ 'x'.center(100000000) }}")?.message.contains("too large") == true)
        #expect(error("{{ {'a': 1}|tojson(indent=100000000) }}")?.message.contains("too large") == true)
        #expect(error("{{ '%999999999d' % 1 }}")?.message.contains("too large") == true)
        let doubling = "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"
        #expect(error(doubling)?.message.contains("too large") == true)
        let selfReference = "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"
        #expect(error(selfReference) == nil)
    }

    /// Numbers a template reads from message content (client text) never trap: digit runs past Int's range,
    /// a second sign, negative field indices and rounding past Int's range are errors or jinja2's defaults.
    @Test func clientNumbersNeverTrap() throws {
        func render(_ source: String, _ content: String) throws -> String {
            try ChatTemplate(source: source, now: { Date() }).render(["c": .string(content)])
        }
        #expect(try render("{{ c|int }}", "--9223372036854775808") == "0")     // jinja2: not a number, the default
        #expect(try render("{{ c|int }}", "-9223372036854775808") == "-9223372036854775808")
        #expect(try render("{{ c|int(7) }}", "+-1") == "7")
        #expect(try render("{{ c|int(7, base=16) }}", "-0x-8000000000000000") == "7")
        #expect(try render("{{ c|int(7, base=16) }}", "-0x8000000000000000") == "-9223372036854775808")
        #expect(error("{{ '%99999999999999999999d' % 1 }}")?.message.contains("too large") == true)
        #expect(error("{{ '{:99999999999999999999999}'.format(1) }}")?.message.contains("too large") == true)
        #expect(error("{{ '%.99999999999999999999f' % 1.5 }}")?.message.contains("too large") == true)
        #expect(error("{{ '{-1}'.format(1) }}")?.message.contains("KeyError: '-1'") == true)
        #expect(try render("{{ '{-1}'.format(**{'-1': c}) }}", "kw") == "kw")
        #expect(error("{{ 9223372036854775807|round(-1) }}")?.message.contains("OverflowError") == true)
        #expect(try render("{{ 1234|round(-2) }}", "") == "1200")
    }

    @Test func mutatingMethodsAreRefusedLikeTheSandbox() throws {
        let e = try #require(error("{% set x = [] %}{{ x.append(1) }}"))
        #expect(e.message.contains("unsafe"))
    }
}
