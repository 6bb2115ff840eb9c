import ArgumentParser
import Device
import Dispatch
import Engine
import Foundation
import HTTPCore
import Logging
import Model
import OpenAIAPI
import Tokenizer

/// `moeserve serve`: load the model, start the engine, answer HTTP until SIGTERM/SIGINT.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the model over the OpenAI-compatible HTTP API.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Address to listen on (127.0.0.1, 0.0.0.0, ::1, ::).")
    var host: String?

    @Option(help: "Port to listen on (0 picks a free one and prints it).")
    var port: Int?

    @Option(help: "Compute device: cpu.")
    var device: String?

    @Option(name: .customLong("kv-cache-memory"), help: "KV cache memory, e.g. 512MiB or 2GiB.")
    var kvCacheMemory: String?

    @Option(name: .customLong("max-num-seqs"), help: "Most requests running at once.")
    var maxNumSeqs: Int?

    func run() throws {
        let config: Configuration
        do {
            config = try options.resolve { c in
                if let host { try c.set("server.host", to: host, source: "--host") }
                if let port { try c.set("server.port", to: String(port), source: "--port") }
                if let device { try c.set("engine.device", to: device, source: "--device") }
                if let kvCacheMemory { try c.set("engine.kv_cache_memory", to: kvCacheMemory, source: "--kv-cache-memory") }
                if let maxNumSeqs { try c.set("engine.max_num_seqs", to: String(maxNumSeqs), source: "--max-num-seqs") }
            }
        } catch {
            throw ValidationError("\(error)")
        }
        let logger = Logging.bootstrapped(level: config.logLevel)
        let started = Date()
        let loaded: LoadedModel
        do {
            loaded = try ModelLoader.load(path: config.modelPath, device: CPUDevice())
        } catch {
            logger.critical("cannot load model: \(error)")
            throw ExitCode(2)
        }
        logger.info("model loaded", metadata: [
            "path": "\(config.modelPath)", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
            "device": "\(loaded.model.device.name)", "context": "\(loaded.model.contextLength)",
        ])
        guard let templateSource = loaded.chatTemplate else {
            logger.critical("the model has no chat template (tokenizer.chat_template)")
            throw ExitCode(2)
        }
        let template: ChatTemplate
        do { template = try ChatTemplate(source: templateSource) } catch {
            logger.critical("the model's chat template does not parse: \(error)")
            throw ExitCode(2)
        }
        let tokenizer = loaded.tokenizer
        let engineConfig = EngineConfiguration(
            scheduler: SchedulerConfiguration(maxNumBatchedTokens: config.maxNumBatchedTokens, maxNumSeqs: config.maxNumSeqs,
                                              policy: SchedulerConfiguration.Policy(rawValue: config.schedulingPolicy) ?? .fcfs),
            blockSize: config.blockSize, kvCacheBytes: config.kvCacheBytes, prefixCaching: config.prefixCaching)
        let engine = EngineLoop(model: loaded.model, decodeBytes: { tokenizer.decodeBytes($0) },
                                stopTokenIDs: loaded.stopTokenIDs, configuration: engineConfig, logger: logger)
        engine.start()
        logger.info("engine ready", metadata: ["kv_tokens": "\(engine.kvCapacityTokens)", "max_num_seqs": "\(config.maxNumSeqs)"])
        let context = ServingContext(
            model: ServedModel(id: config.modelID, contextLength: loaded.model.contextLength, vocabularySize: loaded.model.vocabularySize),
            backend: engine, prompter: TemplatePrompter(template: template, tokenizer: tokenizer))
        let router = OpenAIRouter(context: context, logger: logger)
        var serverConfig = HTTPServerConfiguration()
        serverConfig.host = config.host
        serverConfig.port = config.port
        serverConfig.maxBodyBytes = config.maxBodyBytes
        let server = HTTPServer(configuration: serverConfig, logger: logger, handler: router.handler)
        let boundPort: Int
        do { boundPort = try server.start() } catch {
            logger.critical("cannot listen on \(config.host):\(config.port): \(error)")
            throw ExitCode(1)
        }
        logger.notice("listening", metadata: ["address": "http://\(config.host):\(boundPort)", "model": "\(config.modelID)"])
        let signals = SignalHandlers { signal in
            logger.notice("received \(signal), draining")
            server.shutdown(gracePeriod: .seconds(10))
            engine.shutdown()
        }
        server.waitUntilStopped()
        withExtendedLifetime(signals) {}
        logger.notice("stopped")
    }
}

/// SIGTERM/SIGINT turned into a callback on a Dispatch queue (not in signal context).
final class SignalHandlers {
    private var sources: [DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable (String) -> Void) {
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { handler(name) }
            s.resume()
            sources.append(s)
        }
    }
}

enum Logging {
    static func bootstrapped(level: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = Logger.Level(rawValue: level) ?? .info
            return h
        }
        return Logger(label: "moeserve")
    }
}
