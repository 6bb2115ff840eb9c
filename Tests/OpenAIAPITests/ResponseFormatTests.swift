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

    static let refused: [(String, String)] = [
        (#""response_format":{"type":"xml"}"#, "response_format.type"),
        (#""response_format":{}"#, "response_format.type"),
        (#""response_format":"json""#, "response_format"),
        (#""response_format":{"type":"json_object","schema":{}}"#, "response_format.schema"),
        (#""response_format":{"type":"json_schema"}"#, "response_format.json_schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a b"}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","strict":"yes"}}"#, "response_format.json_schema.strict"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"string","pattern":"^a"}}}"#, "response_format.json_schema.schema.pattern"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"n":{"type":"integer","minimum":0}}}}}"#,
         "response_format.json_schema.schema.properties.n.minimum"),
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
        (##""guided_json":{"$defs":{"A":{"type":"object","properties":{"b":{"type":"string","format":"email"}}}},"$ref":"#/$defs/A"}"##,
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
