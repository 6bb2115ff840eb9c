import Tokenizer

/// The standard `ChatPrompting`: render the model's chat template the way Hugging Face's
/// `apply_chat_template` does, then tokenize with special tokens parsed.
public struct TemplatePrompter: ChatPrompting {
    public let template: ChatTemplate
    public let tokenizer: BPETokenizer
    public let bosToken: String?
    public let eosToken: String?

    public init(template: ChatTemplate, tokenizer: BPETokenizer) {
        self.template = template
        self.tokenizer = tokenizer
        let v = tokenizer.vocabulary
        bosToken = v.bosTokenID.map { v.tokens[$0] }
        eosToken = v.eosTokenID.map { v.tokens[$0] }
    }

    public func render(_ messages: [ChatMessage]) throws -> String {
        let values: [JinjaValue] = messages.map { m in
            var pairs: [(String, JinjaValue)] = [("role", .string(m.role)), ("content", .string(m.content))]
            if let n = m.name { pairs.append(("name", .string(n))) }
            return JinjaValue.object(JinjaObject(pairs))
        }
        return try template.render(messages: values, addGenerationPrompt: true, bosToken: bosToken, eosToken: eosToken)
    }

    public func tokenBytes(_ id: Int) -> [UInt8] { tokenizer.decodeBytes([id]) }

    public func encode(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text, parseSpecial: true)
        if tokenizer.vocabulary.addBOS, let bos = tokenizer.vocabulary.bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    public func decode(_ ids: [Int]) -> String { tokenizer.decode(ids) }

    public func promptTokens(for messages: [ChatMessage]) throws -> [Int] {
        var ids = tokenizer.encode(try render(messages), parseSpecial: true)
        // A template that writes the BOS text itself already produced the id; add it only when asked and absent.
        if tokenizer.vocabulary.addBOS, let bos = tokenizer.vocabulary.bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }
}
