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

    @Option(help: "Compute device: cpu, or ascend-sim (simulated Ascend NPU).")
    var device: String?

    @Option(name: .customLong("cpu-activations"), help: "Activations of matmuls with quantised weights: int8 (fast) or f32 (exact).")
    var cpuActivations: String?

    @Option(name: .customLong("quantization"), help: "Quantise fp32/fp16/bf16/fp8 matrices at load: none, q8_0 or q4_0.")
    var quantization: String?

    @Option(name: .customLong("ascend-profile"), help: "With --device ascend-sim: 910b, 910c, 950dt, h800, or a YAML/JSON profile file.")
    var ascendProfile: String?

    @Option(name: .customLong("ascend-precision"), help: "With --device ascend-sim: bf16, fp16 or w8a8.")
    var ascendPrecision: String?

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

    func run() throws {
        let config: Configuration
        do {
            config = try options.resolve { c in
                if let host { try c.set("server.host", to: host, source: "--host") }
                if let port { try c.set("server.port", to: String(port), source: "--port") }
                if let device { try c.set("engine.device", to: device, source: "--device") }
                if let cpuActivations { try c.set("engine.cpu_activations", to: cpuActivations, source: "--cpu-activations") }
                if let quantization { try c.set("engine.quantization", to: quantization, source: "--quantization") }
                if let ascendProfile { try c.set("engine.ascend_profile", to: ascendProfile, source: "--ascend-profile") }
                if let ascendPrecision { try c.set("engine.ascend_precision", to: ascendPrecision, source: "--ascend-precision") }
                if let kvCacheMemory { try c.set("engine.kv_cache_memory", to: kvCacheMemory, source: "--kv-cache-memory") }
                if let maxNumSeqs { try c.set("engine.max_num_seqs", to: String(maxNumSeqs), source: "--max-num-seqs") }
                if !apiKeys.isEmpty { try c.set("server.api_keys", to: apiKeys.joined(separator: ","), source: "--api-key") }
                if let apiKeyFile { try c.set("server.api_key_file", to: apiKeyFile, source: "--api-key-file") }
                if let corsOrigin { try c.set("server.cors_origin", to: corsOrigin, source: "--cors-origin") }
                if let tlsCert { try c.set("server.tls_cert", to: tlsCert, source: "--tls-cert") }
                if let tlsKey { try c.set("server.tls_key", to: tlsKey, source: "--tls-key") }
            }
            guard config.tlsCert.isEmpty == config.tlsKey.isEmpty else {
                throw Configuration.Invalid(description: "server.tls_cert and server.tls_key must be set together")
            }
        } catch {
            throw ValidationError("\(error)")
        }
        let logger = Logging.bootstrapped(level: config.logLevel)
        let apiOptions: APIOptions
        do { apiOptions = APIOptions(apiKeys: try config.resolvedAPIKeys(), corsOrigin: config.corsOrigin.isEmpty ? nil : config.corsOrigin) } catch {
            throw ValidationError("\(error)")
        }
        // Listen first and answer 503 while the model loads, so probes and clients see "loading", not "refused".
        let router = OpenAIRouter(logger: logger, options: apiOptions)
        let server = HTTPServer(configuration: try serverConfiguration(config), logger: logger, handler: router.handler)
        let boundPort: Int
        do { boundPort = try server.start() } catch {
            logger.critical("cannot listen on \(config.host):\(config.port): \(error)")
            throw ExitCode(1)
        }
        logger.notice("listening", metadata: ["address": "\(config.tlsCert.isEmpty ? "http" : "https")://\(config.host):\(boundPort)",
                                              "model": "\(config.modelID)", "auth": "\(apiOptions.apiKeys.isEmpty ? "off" : "bearer")"])
        let engineBox = EngineBox()
        let signals = SignalHandlers { signal in
            logger.notice("received \(signal), draining")
            server.shutdown(gracePeriod: .seconds(10))
            engineBox.engine?.shutdown()
        }
        do {
            let (context, engine) = try ModelServing.load(config, logger: logger)
            engineBox.engine = engine
            router.setReady(context)
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

/// The engine once it exists (signals may arrive while the model is still loading).
final class EngineBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _engine: EngineLoop?
    var engine: EngineLoop? {
        get { lock.lock(); defer { lock.unlock() }; return _engine }
        set { lock.lock(); _engine = newValue; lock.unlock() }
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
