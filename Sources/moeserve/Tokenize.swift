import ArgumentParser
import Model
import Tokenizer

/// `moeserve tokenize TEXT`: print the token ids of TEXT with the model's tokenizer.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Treat special-token text (e.g. <|im_start|>) as plain text.")
    var noSpecial = false

    @Argument(help: "The text to tokenize.")
    var text: String

    func run() throws {
        let config = try options.resolve()
        let tokenizer = try ModelLoader.loadTokenizer(path: config.modelPath)
        let ids = tokenizer.encode(text, parseSpecial: !noSpecial)
        print(ids.map(String.init).joined(separator: " "))
    }
}
