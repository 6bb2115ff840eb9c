/// What the server needs from a tokenizer, whatever file it came from.
public protocol TextTokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    /// Whether a BOS token belongs in front of an encoded prompt (`add_bos_token`).
    var addsBOS: Bool { get }

    /// Token ids of `text`, without BOS/EOS. With `parseSpecial`, special-token text (`<|im_start|>`)
    /// becomes its id; otherwise it is encoded as plain text. Non-special added tokens always match.
    func encode(_ text: String, parseSpecial: Bool) -> [Int]
    /// UTF-8 bytes of `ids`, possibly ending inside a character. `continuing`: the ids follow earlier
    /// ones, so start-of-text rules (a SentencePiece decoder dropping the leading space) do not apply.
    func decodeBytes(_ ids: [Int], continuing: Bool) -> [UInt8]
    /// Text of `ids` exactly as Hugging Face's `decode` gives it.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    func id(of token: String) -> Int?
    func token(of id: Int) -> String?
    /// Special (control) tokens: skipped by `decode(_:skipSpecialTokens: true)`.
    func isSpecial(_ id: Int) -> Bool
}

extension TextTokenizer {
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}
