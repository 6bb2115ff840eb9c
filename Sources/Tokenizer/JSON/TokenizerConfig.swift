/// `tokenizer_config.json` (transformers): special tokens, `add_bos_token`/`add_eos_token`, extra added
/// tokens and the chat template.
extension TokenizerDefinition {
    mutating func applyConfig(_ c: JSONNode, ids: [String: Int]) throws {
        _ = try c.members()
        for (key, spec) in try c["added_tokens_decoder"]?.members() ?? [] {
            guard let id = Int(key), id >= 0, id < tokens.count + 1024 else { throw spec.error("key must be a token id") }
            guard !addedTokens.contains(where: { $0.id == id }) else { continue }
            let content = try spec.required("content").string()
            let special = try spec.bool("special", default: false)
            addedTokens.append(AddedToken(content: content, id: id, special: special, lstrip: try spec.bool("lstrip", default: false),
                                          rstrip: try spec.bool("rstrip", default: false),
                                          normalized: try spec.bool("normalized", default: !special),
                                          singleWord: try spec.bool("single_word", default: false)))
            if id >= tokens.count { tokens += Array(repeating: "", count: id + 1 - tokens.count) }
            tokens[id] = content
        }
        var known = ids
        for a in addedTokens { known[a.content] = a.id }
        func tokenID(_ key: String) throws -> Int? {
            guard let n = c[key] else { return nil }
            let text: String
            if case .object = n.value { text = try n.required("content").string() } else { text = try n.string() }
            guard let id = known[text] else { throw n.error("is '\(text)', which is not a token") }
            return id
        }
        bosTokenID = try tokenID("bos_token") ?? bosTokenID
        eosTokenID = try tokenID("eos_token") ?? eosTokenID
        paddingTokenID = try tokenID("pad_token") ?? paddingTokenID
        if let addBOS = try c["add_bos_token"]?.bool() {
            postProcessor.prefix = addBOS ? bosTokenID.map { [$0] } ?? [] : []
        }
        if let addEOS = try c["add_eos_token"]?.bool() {
            postProcessor.suffix = addEOS ? eosTokenID.map { [$0] } ?? [] : []
        }
        chatTemplate = try Self.chatTemplate(c["chat_template"])
    }

    /// A string, or a list of `{name, template}` (the one named `default` is used).
    private static func chatTemplate(_ n: JSONNode?) throws -> String? {
        guard let n else { return nil }
        if case let .string(s) = n.value { return s }
        let named = try n.array().map { (try $0.required("name").string(), try $0.required("template").string()) }
        return named.first { $0.0 == "default" }?.1 ?? named.first?.1
    }
}
