import Engine
import Testing
@testable import OpenAIAPI

@Suite struct ResponseFormatTests {
    func parse(_ extra: String) throws(APIError) -> ChatCompletionRequest {
        try ChatCompletionRequest.parse(Array(#"{"model":"m","messages":[{"role":"user","content":"x"}],"# .utf8) + Array(extra.utf8) + Array("}".utf8))
    }

    func grammar(_ extra: String) throws -> OutputGrammar {
        try #require(try parse(extra).sampling.grammar)
    }

    func schema(_ s: String) throws -> OutputGrammar {
        try grammar(#""response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":"# + s + "}}")
    }

    func rootProperties(_ g: OutputGrammar) -> [String] {
        guard case let .object(props, _) = g.nodes[g.root] else { return [] }
        return props.map { String(decoding: $0.key, as: UTF8.self) }
    }

    @Test func textIsFreeAndJSONObjectIsAnyObject() throws {
        #expect(try parse(#""response_format":{"type":"text"}"#).sampling.grammar == nil)
        #expect(try parse(#""response_format":null"#).sampling.grammar == nil)
        #expect(try grammar(#""response_format":{"type":"json_object"}"#) == .anyObject)
        let params = try parse(#""response_format":{"type":"json_object"}"#).sampling.params(maxTokens: 5)
        #expect(params.grammar == .anyObject)
    }

    /// Properties are written in the order the schema declares them, not in a dictionary's order.
    @Test func propertiesKeepTheirDeclaredOrder() throws {
        let names = ["zeta", "alpha", "mid", "beta", "a\"quote", "é"]
        let props = names.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\":{\"type\":\"string\"}" }.joined(separator: ",")
        let g = try schema(#"{"type":"object","properties":{"# + props + #"},"required":["alpha"],"additionalProperties":false}"#)
        #expect(rootProperties(g) == [#""zeta""#, #""alpha""#, #""mid""#, #""beta""#, #""a\"quote""#, #""é""#])
        guard case let .object(p, additional) = g.nodes[g.root] else { Issue.record("not an object"); return }
        #expect(p.map(\.required) == [false, true, false, false, false, false])
        #expect(additional == nil)
    }

    @Test func pydanticStyleSchemaCompiles() throws {
        // What pydantic writes for a model with a nested model, a list, an enum and an Optional field.
        let g = try schema(#"""
        {"$defs":{"Color":{"enum":["red","green"],"title":"Color","type":"string"},
                  "Pet":{"properties":{"name":{"title":"Name","type":"string"}},"required":["name"],"title":"Pet","type":"object","additionalProperties":false}},
         "properties":{"name":{"title":"Name","type":"string"},"age":{"anyOf":[{"type":"integer"},{"type":"null"}],"default":null},
                       "pets":{"items":{"$ref":"#/$defs/Pet"},"title":"Pets","type":"array","maxItems":5},
                       "color":{"$ref":"#/$defs/Color"},"score":{"type":["number","null"]}},
         "required":["name","age","pets","color","score"],"title":"Person","type":"object","additionalProperties":false}
        """#)
        #expect(g.problem == nil)
        #expect(rootProperties(g) == [#""name""#, #""age""#, #""pets""#, #""color""#, #""score""#])
        #expect(g.nodes.contains(.literals([Array(#""red""#.utf8), Array(#""green""#.utf8)])))
        #expect(g.nodes.contains { if case .array(_, 0, 5) = $0 { return true } else { return false } })
    }

    @Test func recursiveReferencesCloseACycle() throws {
        let g = try schema(##"{"$defs":{"Node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["kids"]}},"$ref":"#/$defs/Node"}"##)
        #expect(g.problem == nil)
        let h = try schema(##"{"type":"object","properties":{"child":{"$ref":"#"}}}"##)
        #expect(h.problem == nil)
    }

    /// A required key the properties do not list takes additionalProperties' schema; with false it is a 400.
    @Test func requiredKeysOutsideThePropertiesFollowAdditionalProperties() throws {
        let g = try schema(#"{"type":"object","required":["x"],"additionalProperties":{"type":"integer"}}"#)
        guard case let .object(props, additional) = g.nodes[g.root] else { Issue.record("not an object"); return }
        #expect(props.count == 1 && props[0].required && props[0].value == additional)
        #expect(g.nodes[props[0].value] == .number(integer: true))
    }

    @Test func typesOfConstAndEnumAreChecked() throws {
        #expect(try schema(#"{"type":"integer","enum":[1.0,2]}"#).nodes.contains(.literals([Array("1".utf8), Array("2".utf8)])))
        #expect(throws: APIError.self) { try schema(#"{"type":"integer","const":"a"}"#) }
        #expect(try schema(#"{"type":"array","minItems":1.0}"#).nodes.contains { if case .array(_, 1, nil) = $0 { return true } else { return false } })
        #expect(try schema(#"{"enum":[9223372036854775807]}"#).nodes.contains(.literals([Array("9223372036854775807".utf8)])))
    }

    /// Thirty levels of two references to one definition: compiled and followed at once.
    @Test func doublingReferencesStayCheap() throws {
        var defs: [String] = []
        for i in 0..<30 { defs.append(##""d\##(i)":{"anyOf":[{"$ref":"#/$defs/d\##(i + 1)"},{"$ref":"#/$defs/d\##(i + 1)"}]}"##) }
        defs.append(#""d30":{"type":"string"}"#)
        let g = try schema(##"{"$defs":{"## + defs.joined(separator: ",") + ##"},"$ref":"#/$defs/d0"}"##)
        #expect(g.problem == nil)
    }

    @Test func guidedJSONTakesAnObjectOrAString() throws {
        let a = try grammar(#""guided_json":{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"boolean"}},"required":["b","a"]}"#)
        let b = try grammar(#""guided_json":"{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"integer\"},\"a\":{\"type\":\"boolean\"}},\"required\":[\"b\",\"a\"]}""#)
        #expect(a == b)
        #expect(rootProperties(a) == [#""b""#, #""a""#])
    }

    func range(_ s: String) throws -> NumberRange? {
        let g = try grammar(#""guided_json":"# + s)
        guard case let .numberRange(r) = g.nodes[g.root] else { return nil }
        return r
    }

    @Test func numericBoundsAreRoundedInwardsToWhatCanBeWritten() throws {
        #expect(try range(#"{"type":"integer","minimum":1,"maximum":5}"#) == NumberRange(integer: true, lower: 1, upper: 5))
        #expect(try range(#"{"type":"integer","minimum":2.5,"exclusiveMaximum":10}"#) == NumberRange(integer: true, lower: 3, upper: 9))
        #expect(try range(#"{"type":"integer","exclusiveMinimum":-2.5,"maximum":-0.5}"#) == NumberRange(integer: true, lower: -2, upper: -1))
        // Draft 4's boolean exclusive flags modify minimum and maximum.
        #expect(try range(#"{"type":"integer","minimum":1,"exclusiveMinimum":true,"maximum":3,"exclusiveMaximum":true}"#)
            == NumberRange(integer: true, lower: 2, upper: 2))
        // Numbers in millionths; decimal bounds are taken as written (0.1 is not the double below it).
        #expect(try range(#"{"type":"number","minimum":0.1,"exclusiveMaximum":0.3}"#) == NumberRange(integer: false, lower: 100_000, upper: 299_999))
        #expect(try range(#"{"type":"number","exclusiveMinimum":0,"maximum":1}"#) == NumberRange(integer: false, lower: 1, upper: 1_000_000))
        #expect(try range(#"{"type":"number","minimum":1e-7}"#)?.lower == 1)
        #expect(try range(#"{"type":"number","maximum":-1.5e-7}"#)?.upper == -1)
        // One side only: the other is what the digits allow.
        #expect(try range(#"{"type":"integer","minimum":0}"#) == NumberRange(integer: true, lower: 0, upper: 999_999_999_999_999_999))
        // A type list keeps the bounds on its numeric member.
        let g = try grammar(#""guided_json":{"type":["integer","null"],"minimum":0,"maximum":9}"#)
        guard case let .anyOf(alternatives) = g.nodes[g.root] else { Issue.record("not an anyOf"); return }
        #expect(alternatives.contains { g.nodes[$0] == .numberRange(NumberRange(integer: true, lower: 0, upper: 9)) })
        let s = try grammar(#""guided_json":{"type":"string","minLength":2,"maxLength":8}"#)
        #expect(s.nodes[s.root] == .boundedString(minLength: 2, maxLength: 8))
    }

    static let refused: [(String, String)] = [
        (#""response_format":{"type":"xml"}"#, "response_format.type"),
        (#""response_format":{}"#, "response_format.type"),
        (#""response_format":"json""#, "response_format"),
        (#""response_format":{"type":"json_object","schema":{}}"#, "response_format.schema"),
        (#""response_format":{"type":"json_schema"}"#, "response_format.json_schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a b"}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","strict":"yes"}}"#, "response_format.json_schema.strict"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"string","pattern":"^a(?!b)"}}}"#, "response_format.json_schema.schema.pattern"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}}}"#,
         "response_format.json_schema.schema.properties.n.multipleOf"),
        (#""guided_json":{"type":"integer","minimum":5,"maximum":1}"#, "guided_json"),
        (#""guided_json":{"type":"integer","exclusiveMinimum":1,"exclusiveMaximum":2}"#, "guided_json"),
        (#""guided_json":{"type":"number","minimum":"0"}"#, "guided_json.minimum"),
        (#""guided_json":{"type":"number","minimum":1e30}"#, "guided_json"),
        (#""guided_json":{"type":"string","minLength":3,"maxLength":2}"#, "guided_json.maxLength"),
        (#""guided_json":{"type":"string","maxLength":-1}"#, "guided_json.maxLength"),
        (#""guided_json":{"type":"string","minimum":1}"#, "guided_json.minimum"),
        (#""guided_json":{"type":"integer","minLength":1}"#, "guided_json.minLength"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"oneOf":[{"type":"string"}]}}}"#, "response_format.json_schema.schema.oneOf"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"date"}}}"#, "response_format.json_schema.schema.type"),
        (##""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"$ref":"#/$defs/Missing"}}}"##, "response_format.json_schema.schema.$ref"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"$ref":"https://example.com/s.json"}}}"#, "response_format.json_schema.schema.$ref"),
        (##""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"$defs":{"A":{"$ref":"#/$defs/A"}},"$ref":"#/$defs/A"}}}"##,
         "response_format.json_schema.schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"array","minItems":3,"maxItems":2}}}"#,
         "response_format.json_schema.schema.maxItems"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"array","uniqueItems":true}}}"#,
         "response_format.json_schema.schema.uniqueItems"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"enum":[]}}}"#, "response_format.json_schema.schema.enum"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":false}}"#, "response_format.json_schema.schema"),
        (#""response_format":{"type":"json_object"},"guided_json":{}"#, "guided_json"),
        (#""guided_json":"{not json""#, "guided_json"),
        (#""guided_json":5"#, "guided_json"),
        (#""guided_json":{"type":"object","required":["x"],"additionalProperties":false}"#, "guided_json.required"),
        (##""guided_json":{"type":"object","properties":{"n":{"$ref":"#"}},"required":["n"]}"##, "guided_json"),
        (##""guided_json":{"$defs":{"A":{"type":"object","properties":{"b":{"type":"string","format":"idn-email"}}}},"$ref":"#/$defs/A"}"##,
         "guided_json.$defs.A.properties.b.format"),
        (#""guided_json":{"enum":[12345678901234567890]}"#, "guided_json.enum"),
        (#""guided_json":{"type":"integer","const":"a"}"#, "guided_json.const"),
    ]

    @Test(arguments: refused)
    func refusesWhatItWouldNotKeep(extra: String, param: String) {
        do {
            _ = try parse(extra)
            Issue.record("accepted: \(extra)")
        } catch {
            #expect(error.status == 400)
            #expect(error.param == param, "\(extra): \(error.message)")
        }
    }
}
