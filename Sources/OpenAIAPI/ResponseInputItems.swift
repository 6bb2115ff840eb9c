import HTTPCore

/// `GET /v1/responses/{id}/input_items`: a stored response's own input, as Responses API items, paged as OpenAI
/// pages lists (`limit` 1–100, default 20; `order` `desc` by default, or `asc`; `after` an item id).
enum ResponseInputItems {
    /// The items of a stored turn's input messages (its answer, the last message, is not input). Ids are derived
    /// from the response's, so they stay the same from one listing to the next.
    static func items(of turn: [ChatMessage], responseID: String) -> [JSONValue] {
        let base = responseID.hasPrefix("resp_") ? String(responseID.dropFirst(5)) : responseID
        var out: [JSONValue] = []
        func id(_ prefix: String) -> String { "\(prefix)_\(base)_\(out.count)" }
        for m in turn.dropLast() {
            if let r = m.reasoningContent {
                out.append(.object([("id", .string(id("rs"))), ("type", .string("reasoning")), ("summary", .array([])),
                                    ("content", .array([.object([("type", .string("reasoning_text")), ("text", .string(r))])]))]))
            }
            if !m.contentIsNull {
                let part: JSONValue = m.role == "assistant"
                    ? .object([("type", .string("output_text")), ("text", .string(m.content)), ("annotations", .array([]))])
                    : .object([("type", .string("input_text")), ("text", .string(m.content))])
                if let call = m.toolCallID {
                    out.append(.object([("id", .string(id("fco"))), ("type", .string("function_call_output")), ("call_id", .string(call)),
                                        ("output", .string(m.content)), ("status", .string("completed"))]))
                } else {
                    out.append(.object([("id", .string(id("msg"))), ("type", .string("message")), ("role", .string(m.role)),
                                        ("status", .string("completed")), ("content", .array([part]))]))
                }
            }
            for c in m.toolCalls {
                out.append(.object([("id", .string(id("fc"))), ("type", .string("function_call")), ("call_id", .string(c.id)), ("name", .string(c.name)),
                                    ("arguments", .string(c.arguments.compactText)), ("status", .string("completed"))]))
            }
        }
        return out
    }

    /// The page `query` asks for, as OpenAI's `ResponseItemList`.
    static func page(_ items: [JSONValue], query: String?) throws(APIError) -> JSONValue {
        var limit = 20, ascending = false, after: String?
        for (key, value) in queryItems(query) {
            switch key {
            case "limit":
                guard let n = Int(value), (1...100).contains(n) else {
                    throw APIError.invalid("'limit' must be an integer from 1 to 100, got '\(value)'", param: "limit", code: "invalid_value")
                }
                limit = n
            case "order":
                guard value == "asc" || value == "desc" else {
                    throw APIError.invalid("'order' must be 'asc' or 'desc', got '\(value)'", param: "order", code: "invalid_value")
                }
                ascending = value == "asc"
            case "after": after = value
            case "include", "include[]", "before": break   // nothing more to include; `before` is not a documented parameter here
            default: break
            }
        }
        var ordered = ascending ? items : items.reversed()
        if let after {
            guard let i = ordered.firstIndex(where: { itemID($0) == after }) else {
                throw APIError.invalid("'after' names no item of this response: '\(after)'", param: "after", code: "invalid_value")
            }
            ordered = Array(ordered[(i + 1)...])
        }
        let data = Array(ordered.prefix(limit))
        return .object([("object", .string("list")), ("data", .array(data)),
                        ("first_id", data.first.flatMap(itemID).map { .string($0) } ?? .null),
                        ("last_id", data.last.flatMap(itemID).map { .string($0) } ?? .null), ("has_more", .bool(ordered.count > limit))])
    }

    /// A URL query's `name=value` pairs, values percent-decoded (a name alone has an empty value).
    static func queryItems(_ query: String?) -> [(name: String, value: String)] {
        (query ?? "").split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            return (kv[0], (kv.count > 1 ? kv[1] : "").removingPercentEncoding ?? "")
        }
    }

    private static func itemID(_ item: JSONValue) -> String? {
        guard case let .object(fields) = item, case let .string(id)? = fields.first(where: { $0.0 == "id" })?.1 else { return nil }
        return id
    }
}
