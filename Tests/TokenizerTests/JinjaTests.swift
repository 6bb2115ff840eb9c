import Foundation
import Testing
import Tokenizer

/// One small template from `unit_cases.json` with jinja2's output (or `error: true`).
struct JinjaUnitCase: Sendable, CustomTestStringConvertible {
    var name: String
    var template: String
    var context: [String: JinjaValue]
    var options: JinjaOptions
    var expected: String?
    var referenceError: String?

    var testDescription: String { name }

    static let all: [JinjaUnitCase] = JinjaFixtures.load("unit_cases.json").map { object in
        var options = JinjaOptions.huggingFace
        if case .object(let o)? = object["options"] {
            options.trimBlocks = o["trim_blocks"] == .bool(true)
            options.lstripBlocks = o["lstrip_blocks"] == .bool(true)
        }
        return JinjaUnitCase(
            name: JinjaFixtures.string(object, "name") ?? "?",
            template: JinjaFixtures.string(object, "template") ?? "",
            context: JinjaFixtures.dictionary(object["context"]),
            options: options,
            expected: JinjaFixtures.bool(object, "error") ? nil : JinjaFixtures.string(object, "expected"),
            referenceError: JinjaFixtures.string(object, "error_message"))
    }
}

@Suite("Jinja unit cases vs Python jinja2")
struct JinjaUnitTests {
    @Test("fixtures are present")
    func fixturesLoaded() {
        #expect(JinjaUnitCase.all.count >= 80, "missing \(JinjaFixtures.directory.path)/unit_cases.json?")
    }

    @Test("renders byte-for-byte like jinja2", arguments: JinjaUnitCase.all)
    func unitCase(_ testCase: JinjaUnitCase) {
        let result = Result {
            try JinjaTemplate(source: testCase.template, options: testCase.options, now: { JinjaFixtures.fixedNow })
                .render(testCase.context)
        }
        switch (testCase.expected, result) {
        case (let expected?, .success(let actual)):
            #expect(actual == expected, "\(testCase.name): \(JinjaFixtures.mismatch(expected: expected, actual: actual))")
        case (let expected?, .failure(let error)):
            Issue.record("\(testCase.name): expected \(String(reflecting: expected)), threw \(error)")
        case (nil, .success(let actual)):
            Issue.record("\(testCase.name): jinja2 fails (\(testCase.referenceError ?? "")) but rendered \(String(reflecting: actual))")
        case (nil, .failure(let error)):
            #expect(error is JinjaError, "\(testCase.name): threw a non-Jinja error \(error)")
        }
    }
}

@Suite("Jinja values")
struct JinjaValueTests {
    @Test func literalsAndTruthiness() {
        let value: JinjaValue = ["a": 1, "b": [true, nil, 2.5, "x"]]
        #expect(value.pythonRepr == "{'a': 1, 'b': [True, None, 2.5, 'x']}")
        #expect(JinjaValue.array([]).isTruthy == false)
        #expect(JinjaValue.string(" ").isTruthy)
    }

    @Test func jsonKeepsKeyOrderAndNumberKinds() throws {
        let value = try JinjaValue(json: #"{"z": 1, "a": [1.0, 2, "é\u00e9\ud83d\ude00", null, false]}"#)
        #expect(try value.jsonString() == #"{"z": 1, "a": [1.0, 2, "éé😀", null, false]}"#)
        #expect(throws: JinjaError.self) { try JinjaValue(json: "{\"a\": }") }
    }

    @Test func foundationConversion() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"b": true, "i": 3, "d": 1.5, "n": null}"#.utf8))
        #expect(JinjaValue(any: parsed) == ["b": true, "d": 1.5, "i": 3, "n": nil])
    }
}
