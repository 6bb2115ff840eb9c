/// Prompt-lookup drafts for speculative decoding (vLLM's `ngram` method): where the sequence's last n tokens occurred
/// before (n from `maxN` down to `minN`, the most recent occurrence first), the tokens that followed them then are
/// proposed as the next ones. A model that copies (a quotation, code being edited, an answer restating its source)
/// has its next tokens verified several at a time, in one pass that reads the weights once.
struct NGramProposer: Sendable, Equatable {
    /// Most tokens proposed at once.
    var tokens: Int
    var minN = 2
    var maxN = 4
    /// How far back a match is looked for (the search is linear in it).
    var window = 4096

    /// At most `min(tokens, limit)` draft tokens to follow `sequence`, or none.
    func propose(_ sequence: [Int], limit: Int) -> [Int] {
        let count = sequence.count, k = min(tokens, limit)
        guard k > 0, count > minN else { return [] }
        let floor = max(0, count - window)
        for n in stride(from: min(maxN, count - 1), through: minN, by: -1) {
            let suffix = count - n
            // Latest start i < suffix whose n tokens equal the last n (checked last token first: most starts fail there).
            var i = suffix - 1
            while i >= floor {
                if sequence[i + n - 1] == sequence[count - 1], (0..<(n - 1)).allSatisfy({ sequence[i + $0] == sequence[suffix + $0] }) {
                    let end = min(i + n + k, count)
                    return Array(sequence[(i + n)..<end])
                }
                i -= 1
            }
        }
        return []
    }
}
