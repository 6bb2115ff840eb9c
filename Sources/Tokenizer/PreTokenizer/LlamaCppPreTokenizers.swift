/// The pre-tokenizer (and normalizer) behind each llama.cpp `tokenizer.ggml.pre` name, as the
/// Hugging Face `tokenizer.json` of the original model has it.
enum LlamaCppPreTokenizers {
    struct Pipeline {
        var preTokenizer: PreTokenizer
        var normalizer: Normalizer? = nil
        var ignoreMerges = false
    }

    // NOTE: characters that Unicode normalization would change (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126,
    // U+212A) are written as escapes so no editor or tool can silently rewrite the ranges.
    static let deepseekLLMLetters = #"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"#
    static let deepseekV3Main = ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##
    static let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static func pipeline(_ name: String) throws -> Pipeline {
        let byteLevel = PreTokenizer.Step.byteLevel(addPrefixSpace: false, useRegex: false)
        func splits(_ patterns: [String]) throws -> PreTokenizer {
            PreTokenizer(steps: try patterns.map { .split(.regex(try TokenizerRegex($0)), behavior: .isolated, invert: false) } + [byteLevel])
        }
        switch name {
        case "gpt-2", "gpt2", "default", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v2-code",
             "roberta-bpe", "olmo", "jais", "trillion", "granite-docling":
            return Pipeline(preTokenizer: PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, useRegex: true)]))
        case "mpt", "gpt-neox":
            return Pipeline(preTokenizer: PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, useRegex: true)]), normalizer: .nfc)
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            return Pipeline(preTokenizer: PreTokenizer(steps: [.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)]))
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2":
            return Pipeline(preTokenizer: try splits([PatternScanner.llama3Pattern]), ignoreMerges: true)
        case "dbrx", "smaug-bpe":
            return Pipeline(preTokenizer: try splits([PatternScanner.llama3Pattern]))
        case "tekken":
            return Pipeline(preTokenizer: try splits([tekken]), ignoreMerges: true)
        case "qwen2", "deepseek-r1-qwen", "megrez":
            return Pipeline(preTokenizer: try splits([PatternScanner.qwen2Pattern]), normalizer: .nfc)
        case "stablelm2":
            return Pipeline(preTokenizer: try splits([PatternScanner.qwen2Pattern]))
        case "deepseek-llm":
            return Pipeline(preTokenizer: try splits([
                "[\r\n]", deepseekLLMLetters, #"\s?[!-/:-~！-／：-～‘-‟　-。]+"#, #"\s+$"#, "[一-龥ࠀ-一가-퟿]+", #"\p{N}+"#,
            ]))
        case "deepseek-coder":
            return Pipeline(preTokenizer: try splits(["[\r\n]", #"\s?\p{L}+"#, #"\s?\p{P}+"#, "[一-龥ࠀ-一가-퟿]+", #"\p{N}"#]))
        case "deepseek-v3":
            return Pipeline(preTokenizer: try splits([#"\p{N}{1,3}"#, "[一-龥぀-ゟ゠-ヿ]+", deepseekV3Main]))
        case "falcon":
            return Pipeline(preTokenizer: PreTokenizer(steps: [
                .punctuation(.contiguous), .byteLevel(addPrefixSpace: false, useRegex: true), .digits(individual: false),
                .split(.regex(try TokenizerRegex("[0-9][0-9][0-9]")), behavior: .isolated, invert: false),
            ]))
        default:
            throw TokenizerError("pre-tokenizer '\(name)' is not supported (supported: gpt-2, mpt, smollm, starcoder, refact, llama-bpe/llama3, qwen2, deepseek-llm, deepseek-coder, deepseek-v3, falcon, tekken, dbrx, stablelm2, …)")
        }
    }
}
