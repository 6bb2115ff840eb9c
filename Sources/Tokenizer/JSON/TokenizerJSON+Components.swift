/// The pipeline parts of a `tokenizer.json`: normalizer, pre-tokenizer, decoder, post-processor.
/// Unsupported types are errors naming the type and where it is.
enum TokenizerJSONComponents {
    static func normalizer(_ n: JSONNode) throws -> Normalizer {
        switch try n.type() {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip": return .strip(left: try n.bool("strip_left", default: true), right: try n.bool("strip_right", default: true))
        case "Prepend": return .prepend(try n.required("prepend").string())
        case "Replace": return .replace(try pattern(n.required("pattern")), content: try n.required("content").string())
        case "Sequence": return .sequence(try n.required("normalizers").array().map(normalizer))
        case let other: throw n.error("has normalizer type '\(other)', which is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence)")
        }
    }

    static func pattern(_ n: JSONNode) throws -> TextPattern {
        if let s = try n["String"]?.string() { return .literal(s) }
        if let r = try n["Regex"]?.string() {
            do { return .regex(try TokenizerRegex(r)) } catch let e as TokenizerError { throw n.error(e.message) }
        }
        throw n.error("must be {\"String\": …} or {\"Regex\": …}")
    }

    static func behavior(_ n: JSONNode) throws -> PreTokenizer.SplitBehavior {
        switch try n.string() {
        case "Removed": return .removed
        case "Isolated": return .isolated
        case "MergedWithPrevious": return .mergedWithPrevious
        case "MergedWithNext": return .mergedWithNext
        case "Contiguous": return .contiguous
        case let other: throw n.error("has unknown split behavior '\(other)'")
        }
    }

    static func prependScheme(_ n: JSONNode) throws -> PreTokenizer.PrependScheme {
        // Older files have only `add_prefix_space`; HF reads that as `always` / `never`.
        if let s = try n.string("prepend_scheme") {
            guard let scheme = PreTokenizer.PrependScheme(rawValue: s) else { throw n.error("has unknown prepend_scheme '\(s)'") }
            return scheme
        }
        return try n.bool("add_prefix_space", default: true) ? .always : .never
    }

    static func preTokenizerSteps(_ n: JSONNode) throws -> [PreTokenizer.Step] {
        switch try n.type() {
        case "Sequence": return try n.required("pretokenizers").array().flatMap(preTokenizerSteps)
        case "ByteLevel":
            return [.byteLevel(addPrefixSpace: try n.bool("add_prefix_space", default: true), useRegex: try n.bool("use_regex", default: true))]
        case "Split":
            return [.split(try pattern(n.required("pattern")), behavior: try behavior(n.required("behavior")),
                           invert: try n.bool("invert", default: false))]
        case "Digits": return [.digits(individual: try n.bool("individual_digits", default: false))]
        case "Punctuation": return [.punctuation(try n["behavior"].map(behavior) ?? .isolated)]
        case "WhitespaceSplit": return [.whitespaceSplit]
        case "Metaspace":
            return [.metaspace(replacement: try n.required("replacement").scalar(), prependScheme: try prependScheme(n),
                               split: try n.bool("split", default: true))]
        case let other: throw n.error("has pre-tokenizer type '\(other)', which is not supported (supported: ByteLevel, Split, Digits, Punctuation, WhitespaceSplit, Metaspace, Sequence)")
        }
    }

    static func decoder(_ n: JSONNode) throws -> TokenDecoder {
        switch try n.type() {
        case "ByteLevel": return .byteLevel
        case "Metaspace": return .metaspace(replacement: try n.required("replacement").scalar(), prependScheme: try prependScheme(n))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            return .strip(content: try n.required("content").scalar(), start: try n.required("start").int(), stop: try n.required("stop").int())
        case "Replace": return .replace(try pattern(n.required("pattern")), content: try n.required("content").string())
        case "Sequence": return .sequence(try n.required("decoders").array().map(decoder))
        case let other: throw n.error("has decoder type '\(other)', which is not supported (supported: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence)")
        }
    }

    /// Special tokens around a single sequence; `idOf` resolves token text.
    static func postProcessor(_ n: JSONNode, idOf: (String) -> Int?) throws -> PostProcessor {
        switch try n.type() {
        case "ByteLevel": return PostProcessor()
        case "Sequence":
            return try n.required("processors").array().reduce(PostProcessor()) { acc, p in
                let next = try postProcessor(p, idOf: idOf)
                return PostProcessor(prefix: acc.prefix + next.prefix, suffix: next.suffix + acc.suffix)
            }
        case "TemplateProcessing": return try template(n)
        case "RobertaProcessing", "BertProcessing":
            func pair(_ key: String) throws -> Int {
                let p = try n.required(key).array()
                guard p.count == 2 else { throw n.error("\(key) must be [token, id]") }
                return try p[1].int()
            }
            return PostProcessor(prefix: [try pair("cls")], suffix: [try pair("sep")])
        case let other: throw n.error("has post-processor type '\(other)', which is not supported (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)")
        }
    }

    private static func template(_ n: JSONNode) throws -> PostProcessor {
        let specials = try n["special_tokens"]?.members() ?? []
        var idsOf: [String: [Int]] = [:]
        for (name, spec) in specials { idsOf[name] = try spec.required("ids").array().map { try $0.int() } }
        var prefix: [Int] = [], suffix: [Int] = []
        var seenSequence = false
        for item in try n.required("single").array() {
            if let s = item["SpecialToken"] {
                let name = try s.required("id").string()
                guard let ids = idsOf[name] else { throw s.error("names special token '\(name)', which special_tokens does not define") }
                if seenSequence { suffix += ids } else { prefix += ids }
            } else if item["Sequence"] != nil {
                seenSequence = true
            } else {
                throw item.error("must be {\"SpecialToken\": …} or {\"Sequence\": …}")
            }
        }
        return PostProcessor(prefix: prefix, suffix: suffix)
    }
}
