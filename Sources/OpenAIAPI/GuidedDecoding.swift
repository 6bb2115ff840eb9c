import Engine

/// vLLM's text constraints: `guided_regex` (the whole output matches a regular expression), `guided_choice` (the
/// output is one of the strings: a byte trie, so a thousand long labels cost no DFA), `guided_grammar` (a
/// context-free grammar in xgrammar's EBNF) and `structured_outputs` (its newer form of all of them: `json`, `regex`,
/// `choice`, `grammar`, `json_object`), and llama.cpp's `grammar` (GBNF), as raw-text grammars.
extension ResponseFormat {
    static let maxChoices = 1024

    static func guidedRegex(_ f: FieldReader, key: String = "guided_regex") throws(APIError) -> OutputGrammar? {
        guard let raw = f.raw(key) else { return nil }
        guard case let .string(pattern) = raw else { throw f.typeError(key, "a string (a regular expression)", raw) }
        // Positions in errors count in the client's pattern, not in the anchored form compiled.
        let shift = "^(?:".count - (pattern.hasPrefix("^") ? 1 : 0)
        return try rawText(fullMatch(pattern), param: f.path(key), position: { max(1, $0 - shift) })
    }

    static func guidedChoice(_ f: FieldReader, key: String = "guided_choice") throws(APIError) -> OutputGrammar? {
        guard let raw = f.raw(key) else { return nil }
        guard case let .array(items) = raw, !items.isEmpty, items.count <= maxChoices else {
            throw f.typeError(key, "an array of 1 to \(maxChoices) strings", raw)
        }
        var choices: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item, !s.isEmpty else {
                throw APIError.invalid("'\(f.path(key))[\(i)]' must be a non-empty string", param: "\(f.path(key))[\(i)]", code: "invalid_value")
            }
            choices.append(s)
        }
        guard choices.reduce(0, { $0 + $1.utf8.count }) <= maxChoiceBytes else {
            throw APIError.invalid("'\(f.path(key))' holds more than \(maxChoiceBytes) bytes of text", param: f.path(key), code: "invalid_value")
        }
        return .rawChoice(choices)
    }

    static let maxChoiceBytes = 1 << 20

    /// `guided_grammar` (vLLM, xgrammar's EBNF) or `grammar` (llama.cpp's GBNF; empty means none, as there).
    static func guidedGrammar(_ f: FieldReader, key: String, dialect: GrammarSyntax.Dialect) throws(APIError) -> OutputGrammar? {
        guard let raw = f.raw(key) else { return nil }
        let param = f.path(key)
        let what = dialect == .gbnf ? "a string (a GBNF grammar)" : "a string (an EBNF grammar: root ::= …)"
        guard case let .string(text) = raw else { throw f.typeError(key, what, raw) }
        if dialect == .gbnf, text.isEmpty { return nil }
        guard text.unicodeScalars.count <= GrammarSyntax.maxCharacters else {
            throw APIError.invalid("'\(param)' is longer than \(GrammarSyntax.maxCharacters) characters", param: param, code: "invalid_value")
        }
        do {
            return .rules(try GrammarSyntax.parse(text, dialect: dialect))
        } catch {
            throw APIError.invalid("'\(param)' cannot be used: \(error.description)", param: param, code: "invalid_value")
        }
    }

    /// `structured_outputs`: exactly one of `json` (a schema, as `guided_json`), `regex`, `choice`, `grammar`, `json_object`.
    static func structuredOutputs(_ f: FieldReader, body: OrderedBody) throws(APIError) -> OutputGrammar? {
        guard let raw = f.raw("structured_outputs") else { return nil }
        let so = try FieldReader(raw, prefix: "structured_outputs")
        let known = ["json", "regex", "choice", "grammar", "json_object"]
        let kinds = known.filter { so.raw($0) != nil }
        if let other = so.fields.keys.sorted().first(where: { !known.contains($0) && so.raw($0) != nil }) {
            throw APIError.invalid("'structured_outputs.\(other)' is not supported (supported: json, regex, choice, grammar, json_object)",
                                   param: "structured_outputs.\(other)", code: "unsupported_parameter")
        }
        guard kinds.count == 1 else {
            throw APIError.invalid("'structured_outputs' must hold exactly one of json, regex, choice, grammar and json_object", param: "structured_outputs",
                                   code: "invalid_value")
        }
        switch kinds[0] {
        case "json": return try guidedJSON(so, body: body, path: ["structured_outputs", "json"])
        case "regex": return try guidedRegex(so, key: "regex")
        case "choice": return try guidedChoice(so, key: "choice")
        case "grammar": return try guidedGrammar(so, key: "grammar", dialect: .xgrammar)
        default:
            guard try so.bool("json_object") == true else {
                throw APIError.invalid("'structured_outputs.json_object' must be true", param: "structured_outputs.json_object", code: "invalid_value")
            }
            return .anyObject
        }
    }

    /// The pattern matched against the whole output, as vLLM reads a guided regex: its own `^` and `$` at the ends
    /// (if any) are the same anchors.
    static func fullMatch(_ pattern: String) -> String {
        var body = Substring(pattern)
        if body.hasPrefix("^") { body = body.dropFirst() }
        // A final `$` that is not escaped (an even number of backslashes before it).
        if body.hasSuffix("$"), body.dropLast().reversed().prefix(while: { $0 == "\\" }).count % 2 == 0 { body = body.dropLast() }
        return "^(?:" + body + ")$"
    }

    /// `limit`: the longest pattern a client may send (choices are built here, and bounded by their count and the
    /// compiler's own budget). `position` maps a position in an error to the client's text (nil: leave it out).
    static func rawText(_ pattern: String, param: String, limit: Int? = SchemaCompiler.maxPatternLength,
                        position: (Int) -> Int?) throws(APIError) -> OutputGrammar {
        if let limit, pattern.unicodeScalars.count > limit + 8 {
            throw APIError.invalid("'\(param)' is longer than \(limit) characters", param: param, code: "invalid_value")
        }
        do {
            return .rawText(try PatternDFA.compile(pattern))
        } catch {
            var why = error.description
            if let r = why.range(of: #" \(at character (\d+)\)$"#, options: .regularExpression),
               let n = Int(why[r].filter(\.isNumber)) {
                why.replaceSubrange(r, with: position(n).map { " (at character \($0))" } ?? "")
            }
            throw APIError.invalid("'\(param)' cannot be used: \(why)", param: param, code: "invalid_value")
        }
    }
}
