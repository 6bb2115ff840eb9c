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

    @Option(name: .customLong("api-key"), help: "Require this bearer key (repeatable).")
    var apiKeys: [String] = []

    @Option(name: .customLong("api-key-file"), help: "File with one accepted bearer key per line.")
    var apiKeyFile: String?

    @Option(name: .customLong("cors-origin"), help: "Allowed CORS origin (e.g. https://app.example or *); CORS is off without it.")
    var corsOrigin: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; with --tls-key, serve HTTPS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("shutdown-timeout"),
            help: "Seconds a SIGTERM/SIGINT drain lets requests in flight finish before ending them with finish_reason \"abort\".")
    var shutdownTimeout: Double?

    @Flag(name: .customLong("log-prompts"), help: "Log prompt text (off by default: prompts are user data).")
    var logPrompts = false

    func run() throws {
        let config: Configuration
        do {
            config = try options.resolve { c in
                if let host { try c.set("server.host", to: host, source: "--host") }
                if let port { try c.set("server.port", to: String(port), source: "--port") }
                if let device { try c.set("engine.device", to: device, source: "--device") }
                if let kvCacheMemory { try c.set("engine.kv_cache_memory", to: kvCacheMemory, source: "--kv-cache-memory") }
                if let maxNumSeqs { try c.set("engine.max_num_seqs", to: String(maxNumSeqs), source: "--max-num-seqs") }
                if !apiKeys.isEmpty { try c.set("server.api_keys", to: apiKeys.joined(separator: ","), source: "--api-key") }
                if let apiKeyFile { try c.set("server.api_key_file", to: apiKeyFile, source: "--api-key-file") }
                if let corsOrigin { try c.set("server.cors_origin", to: corsOrigin, source: "--cors-origin") }
                if let tlsCert { try c.set("server.tls_cert", to: tlsCert, source: "--tls-cert") }
                if let tlsKey { try c.set("server.tls_key", to: tlsKey, source: "--tls-key") }
                if let shutdownTimeout { try c.set("server.shutdown_timeout", to: String(shutdownTimeout), source: "--shutdown-timeout") }
                if logPrompts { try c.set("log.prompts", to: "true", source: "--log-prompts") }
            }
            guard config.tlsCert.isEmpty == config.tlsKey.isEmpty else {
                throw Configuration.Invalid(description: "server.tls_cert and server.tls_key must be set together")
            }
        } catch {
            throw ValidationError("\(error)")
        }
        let logger = LogSetup.bootstrap(level: config.logLevel, format: config.logFormat)
        let metrics = ServerMetrics()
        metrics.bootstrap()
        let apiOptions: APIOptions
        do {
            apiOptions = APIOptions(apiKeys: try config.resolvedAPIKeys(), corsOrigin: config.corsOrigin.isEmpty ? nil : config.corsOrigin,
                                    logPrompts: config.logPrompts)
        } catch {
            throw ValidationError("\(error)")
        }
        // Listen first and answer 503 while the model loads, so probes and clients see "loading", not "refused".
        let router = OpenAIRouter(logger: logger, options: apiOptions, metricsText: { metrics.exposition() })
        let server = HTTPServer(configuration: try serverConfiguration(config), logger: logger, accessObserver: metrics.accessObserver,
                                handler: router.handler)
        let boundPort: Int
        do { boundPort = try server.start() } catch {
            logger.critical("cannot listen on \(config.host):\(config.port): \(error)")
            throw ExitCode(1)
        }
        logger.notice("listening", metadata: ["address": "\(config.tlsCert.isEmpty ? "http" : "https")://\(config.host):\(boundPort)",
                                              "model": "\(config.modelID)", "auth": "\(apiOptions.apiKeys.isEmpty ? "off" : "bearer")"])
        let shutdown = GracefulShutdown(router: router, server: server, timeout: config.shutdownTimeout, logger: logger)
        let signals = SignalHandlers { shutdown.signalReceived($0) }
        do {
            let (context, engine) = try ModelServing.load(config, logger: logger, metrics: metrics.engineMetrics(modelID: config.modelID))
            router.setReady(context)
            shutdown.engineStarted(engine)
            logger.notice("ready", metadata: ["model": "\(config.modelID)"])
        } catch {
            logger.critical("cannot serve the model: \(error)")
            server.shutdown(gracePeriod: .seconds(1))
            server.waitUntilStopped()
            throw ExitCode(2)
        }
        server.waitUntilStopped()
        withExtendedLifetime(signals) {}
        logger.notice("stopped")
    }
}

extension Serve {
    func serverConfiguration(_ config: Configuration) throws -> HTTPServerConfiguration {
        var serverConfig = HTTPServerConfiguration()
        serverConfig.host = config.host
        serverConfig.port = config.port
        serverConfig.maxBodyBytes = config.maxBodyBytes
        if !config.tlsCert.isEmpty {
            serverConfig.tls = TLSConfiguration(certificateChainPath: config.tlsCert, privateKeyPath: config.tlsKey)
        }
        return serverConfig
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
