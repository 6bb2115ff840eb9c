import ArgumentParser

@main
struct MoEServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moeserve",
        abstract: "An OpenAI-compatible inference server for Mixture-of-Experts language models.",
        subcommands: [Serve.self, Tokenize.self, Simulate.self, Bench.self],
        defaultSubcommand: Serve.self
    )
}

/// Flags shared by the subcommands that load a configuration.
struct ConfigOptions: ParsableArguments {
    @Option(help: "YAML configuration file (default: config/moeserve.yaml when present).")
    var config: String?

    @Option(help: "Path of the model checkpoint (.gguf or a Hugging Face folder). [model.path]")
    var model: String?

    @Option(name: .customLong("model-id"), help: "Model name clients send as `model`. [model.id]")
    var modelID: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [log.level]")
    var logLevel: String?

    @Option(help: "Log format: text (human-readable) or json (one JSON object per line). [log.format]")
    var logFormat: String?
}
