import Device
import Foundation
import Yams

/// The server's settings, typed and validated. Loaded from YAML, then the environment, then flags.
struct Configuration: Equatable {
    var host = "127.0.0.1"
    var port = 8080
    var maxBodyBytes = 16 << 20
    /// Accepted bearer keys, comma-separated (empty: no auth).
    var apiKeys = ""
    var apiKeyFile = ""
    var corsOrigin = ""
    /// PEM paths; both empty serves plain HTTP, both set serves HTTPS.
    var tlsCert = ""
    var tlsKey = ""
    /// Seconds a SIGTERM/SIGINT drain waits for requests in flight before ending them with "abort".
    var shutdownTimeout = 30.0
    /// Responses API responses kept in memory for `GET /v1/responses/{id}` and `previous_response_id` (0: none).
    var storedResponses = 1000
    /// "auto": a thinking model's `<think>…</think>` is split off as `reasoning_content`; "none": left in the content.
    var reasoningParser = "auto"
    var modelPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    var modelID = "smollm2-135m-instruct"
    /// How `/v1/embeddings` pools a prompt's final hidden states: "auto" (what the checkpoint declares: a
    /// sentence-transformers `Pooling` module, GGUF `<arch>.pooling_type`; else the last token), "last" or "mean".
    var pooling = "auto"
    var device = "cpu"
    /// Activation precision of matmuls with quantised weights on the CPU: "int8" (llama.cpp's scheme:
    /// faster single-stream decode, slower prompts and batches on AVX2), "f32" (exact to the fp32
    /// reference up to summation order) or "auto" (prompt tokens f32, generated tokens int8: each where
    /// its kernel is faster, and the prompt's cache exact).
    var cpuActivations = "auto"
    /// Block format fp32/fp16/bf16/fp8 matrices are quantised to at load: "none", "q8_0" or "q4_0".
    var quantization = "none"
    /// `--device ascend-sim` only: the chip (built-in name or a YAML/JSON profile file) and number format.
    var ascendProfile = "910b"
    var ascendPrecision = "bf16"
    var kvCacheBytes = 512 << 20
    /// What the CPU device's KV cache stores: "auto" (`KVElement.setting`: f16 where the CPU has AVX2 and F16C,
    /// else f32), "f16" or "bf16" (half the memory and the bytes attention reads; each written value rounded
    /// once) or "f32" (exact). The simulated NPU takes "auto" only.
    var kvCacheDtype = "auto"
    var blockSize = 16
    var maxNumBatchedTokens = 2048
    var maxNumSeqs = 64
    /// Speculative decoding by prompt lookup: draft tokens verified per sequence and step (0: off), while at most
    /// `speculativeMaxRunning` requests decode. On for a lone decoding request, where it measured faster (`scripts/bench
    /// spec`: 2.66x on copied text, 1.05x on a free story, the same tokens); at 4 streams it cost ~9%, so not beyond 1.
    /// Drafts per step; nil: 5 for prompt lookup, 1 for the MTP layer (its depth: each further guess is chained from
    /// the layer's own output, and DeepSeek reports acceptance for the first).
    var speculativeTokens: Int?
    var speculativeMaxRunning = 1
    /// Where drafts come from: "ngram" (prompt lookup) or "mtp" (DeepSeek's multi-token-prediction layer, one draft a
    /// step; the checkpoint must have the layer).
    var speculativeMethod = "ngram"

    /// `speculativeTokens` as set, or the method's default.
    var draftTokensPerStep: Int { speculativeTokens ?? (speculativeMethod == "mtp" ? 1 : 5) }
    var prefixCaching = true
    var schedulingPolicy = "fcfs"
    var logLevel = "info"
    var logFormat = LogSetup.Format.text
    /// Log prompt text (off: prompts are user data and stay out of logs).
    var logPrompts = false
    /// Settings given by the environment or a flag (key → where), not by a file: what the user asked for now.
    var overrides: [String: String] = [:]

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Every key the YAML may contain, by section; anything else is a typo and an error.
    static let keys: [String: Set<String>] = [
        "server": ["host", "port", "max_body_bytes", "api_keys", "api_key_file", "cors_origin", "tls_cert", "tls_key",
                   "shutdown_timeout", "stored_responses", "reasoning_parser"],
        "model": ["path", "id", "pooling"],
        "engine": ["device", "cpu_activations", "quantization", "ascend_profile", "ascend_precision", "kv_cache_memory", "kv_cache_dtype", "block_size", "max_num_batched_tokens", "max_num_seqs", "prefix_caching", "policy", "speculative_tokens", "speculative_method", "speculative_max_running"],
        "log": ["level", "format", "prompts"],
    ]

    /// Applies a YAML document over the current values.
    mutating func apply(yaml text: String, source: String) throws {
        try YAMLDepthGuard.check(text) { Invalid(description: "\(source): \($0)") }
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch { throw Invalid(description: "\(source): not valid YAML: \(error)") }
        guard let root = loaded else { return }
        guard let sections = root as? [String: Any] else { throw Invalid(description: "\(source): the top level must be a mapping") }
        for (section, body) in sections {
            guard let allowed = Self.keys[section] else {
                throw Invalid(description: "\(source): unknown section '\(section)' (known: \(Self.keys.keys.sorted().joined(separator: ", ")))")
            }
            if body is NSNull { continue }   // `server:` with nothing under it
            guard let fields = body as? [String: Any] else { throw Invalid(description: "\(source): '\(section)' must be a mapping") }
            for (key, value) in fields {
                guard allowed.contains(key) else {
                    throw Invalid(description: "\(source): unknown key '\(section).\(key)' (known: \(allowed.sorted().joined(separator: ", ")))")
                }
                let text = try Self.scalarText(value, key: "\(section).\(key)", source: source)
                if section == "server", key == "api_keys" { apiKeys = text } else { try set("\(section).\(key)", to: text, source: source, fromFile: true) }
            }
        }
    }

    /// A YAML value as the text `set` parses: a scalar, or for `server.api_keys` a list of scalars (joined with
    /// commas). A null, a mapping, or a list anywhere else is an error, not its description ("<null>", "[a, b]").
    static func scalarText(_ value: Any, key: String, source: String) throws -> String {
        func scalar(_ v: Any) -> String? {
            switch v {
            case let s as String: return s
            case let b as Bool: return b ? "true" : "false"
            case let i as Int: return String(i)
            case let d as Double: return String(d)
            default: return nil
            }
        }
        if let text = scalar(value) { return text }
        if key == "server.api_keys", let list = value as? [Any] {
            let items = list.compactMap(scalar)
            guard items.count == list.count else { throw Invalid(description: "\(source): '\(key)' must be a list of strings") }
            return items.joined(separator: ",")
        }
        let what = value is NSNull ? "has no value (remove the line for the default)" : "must be a single value, not \(value is [Any] ? "a list" : "a mapping")"
        throw Invalid(description: "\(source): '\(key)' \(what)")
    }

    /// Applies `MOESERVE_*` variables.
    mutating func apply(environment env: [String: String]) throws {
        let map = ["MOESERVE_HOST": "server.host", "MOESERVE_PORT": "server.port", "MOESERVE_MODEL": "model.path",
                   "MOESERVE_MODEL_ID": "model.id", "MOESERVE_POOLING": "model.pooling", "MOESERVE_DEVICE": "engine.device", "MOESERVE_CPU_ACTIVATIONS": "engine.cpu_activations", "MOESERVE_QUANTIZATION": "engine.quantization", "MOESERVE_ASCEND_PROFILE": "engine.ascend_profile", "MOESERVE_LOG_LEVEL": "log.level",
                   "MOESERVE_TLS_CERT": "server.tls_cert", "MOESERVE_TLS_KEY": "server.tls_key",
                   "MOESERVE_KV_CACHE_MEMORY": "engine.kv_cache_memory", "MOESERVE_KV_CACHE_DTYPE": "engine.kv_cache_dtype",
                   "MOESERVE_MAX_NUM_SEQS": "engine.max_num_seqs", "MOESERVE_SPECULATIVE_TOKENS": "engine.speculative_tokens",
                   "MOESERVE_SPECULATIVE_MAX_RUNNING": "engine.speculative_max_running", "MOESERVE_SPECULATIVE_METHOD": "engine.speculative_method",
                   "MOESERVE_MAX_NUM_BATCHED_TOKENS": "engine.max_num_batched_tokens",
                   "MOESERVE_API_KEY": "server.api_keys", "MOESERVE_API_KEY_FILE": "server.api_key_file", "MOESERVE_CORS_ORIGIN": "server.cors_origin",
                   "MOESERVE_SHUTDOWN_TIMEOUT": "server.shutdown_timeout",
                   "MOESERVE_STORED_RESPONSES": "server.stored_responses", "MOESERVE_REASONING_PARSER": "server.reasoning_parser", "MOESERVE_LOG_FORMAT": "log.format",
                   "MOESERVE_LOG_PROMPTS": "log.prompts"]
        for (variable, key) in map {
            if let v = env[variable], !v.isEmpty { try set(key, to: v, source: variable) }
        }
    }

    mutating func set(_ key: String, to value: String, source: String, fromFile: Bool = false) throws {
        try assign(key, to: value, source: source)
        if !fromFile { overrides[key] = source }
    }

    /// Settings that mean nothing with the chosen device, given by a flag or the environment, are an error rather
    /// than silently ignored (a config file may list them all, as `config/moeserve.yaml` does).
    func checkDeviceSettings() throws {
        guard device == "cpu" else { return }
        if let (key, source) = overrides.filter({ $0.key.hasPrefix("engine.ascend_") }).sorted(by: { $0.key < $1.key }).first {
            throw Invalid(description: "\(source): '\(key)' applies only with --device ascend-sim, and the device is cpu")
        }
    }

    private mutating func assign(_ key: String, to value: String, source: String) throws {
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard let i = Int(value), range.contains(i) else {
                throw Invalid(description: "\(source): '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(value)'")
            }
            return i
        }
        func bool() throws -> Bool {
            guard let b = ["true": true, "false": false][value.lowercased()] else {
                throw Invalid(description: "\(source): '\(key)' must be true or false, got '\(value)'")
            }
            return b
        }
        switch key {
        case "server.host": host = value
        case "server.port": port = try int(0...65535)
        case "server.max_body_bytes": maxBodyBytes = try int(1...(1 << 32))
        case "server.tls_cert": tlsCert = value
        case "server.tls_key": tlsKey = value
        case "server.api_keys":
            // A flag or variable given to turn authentication on must hold a key (the YAML's `[]` means none:
            // `apply(yaml:)` sets it directly).
            guard value.split(separator: ",").contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
                throw Invalid(description: "\(source): the API key is empty: the server would run without authentication")
            }
            apiKeys = value
        case "server.api_key_file": apiKeyFile = value
        case "server.cors_origin": corsOrigin = value
        case "server.shutdown_timeout":
            guard let t = Double(value), t >= 0, t <= 3600 else {
                throw Invalid(description: "\(source): 'server.shutdown_timeout' must be seconds in 0...3600, got '\(value)'")
            }
            shutdownTimeout = t
        case "server.stored_responses": storedResponses = try int(0...1_000_000)
        case "server.reasoning_parser":
            guard ["auto", "none"].contains(value) else {
                throw Invalid(description: "\(source): 'server.reasoning_parser' must be auto or none, got '\(value)'")
            }
            reasoningParser = value
        case "model.path": modelPath = value
        case "model.id": modelID = value
        case "model.pooling":
            guard ["auto", "last", "mean"].contains(value) else {
                throw Invalid(description: "\(source): 'model.pooling' must be auto, last or mean, got '\(value)'")
            }
            pooling = value
        case "engine.device":
            guard ["cpu", "ascend-sim"].contains(value) else {
                throw Invalid(description: "\(source): device '\(value)' is not available (available: cpu, ascend-sim)")
            }
            device = value
        case "engine.cpu_activations":
            guard ActivationPrecision.setting(value) != nil else {
                throw Invalid(description: "\(source): 'engine.cpu_activations' must be f32, int8 or auto, got '\(value)'")
            }
            cpuActivations = value
        case "engine.kv_cache_dtype":
            guard KVElement.setting(value) != nil else {
                throw Invalid(description: "\(source): 'engine.kv_cache_dtype' must be \(KVElement.settingNames), got '\(value)'")
            }
            kvCacheDtype = value
        case "engine.quantization":
            guard value == "none" || QuantisedBlocks.quantisationTarget(named: value) != nil else {
                throw Invalid(description: "\(source): 'engine.quantization' must be \(QuantisedBlocks.quantisationSettingNames), got '\(value)'")
            }
            quantization = value
        case "engine.ascend_profile":
            guard AscendProfile.named(value) != nil || FileManager.default.fileExists(atPath: value) else {
                throw Invalid(description: "\(source): 'engine.ascend_profile' must be 910b, 910c, 950dt, h800 or a profile file (YAML or JSON), got '\(value)'")
            }
            // A file is read now, so a bad one stops the start before the server listens.
            do { _ = try AscendProfile.resolve(value) } catch { throw Invalid(description: "\(source): \(error)") }
            ascendProfile = value
        case "engine.ascend_precision":
            guard AscendPrecision(rawValue: value) != nil else {
                throw Invalid(description: "\(source): 'engine.ascend_precision' must be bf16, fp16 or w8a8, got '\(value)'")
            }
            ascendPrecision = value
        case "engine.kv_cache_memory":
            guard let b = Self.parseBytes(value), b >= 1 << 20 else {
                throw Invalid(description: "\(source): 'engine.kv_cache_memory' must be a size of at least 1MiB like 512MiB or 2GiB, got '\(value)'")
            }
            // Allocated at start-up: more than the machine has would end the process after it began listening.
            let physical = ProcessInfo.processInfo.physicalMemory
            guard UInt64(b) < physical else {
                throw Invalid(description: "\(source): 'engine.kv_cache_memory' is \(value), more than this machine's memory (\(physical >> 20) MiB)")
            }
            kvCacheBytes = b
        case "engine.block_size": blockSize = try int(1...1024)
        case "engine.max_num_batched_tokens": maxNumBatchedTokens = try int(1...1_000_000)
        case "engine.max_num_seqs": maxNumSeqs = try int(1...100_000)
        case "engine.speculative_tokens": speculativeTokens = try int(0...32)
        case "engine.speculative_max_running": speculativeMaxRunning = try int(1...100_000)
        case "engine.speculative_method":
            guard ["ngram", "mtp"].contains(value) else {
                throw Invalid(description: "\(source): 'engine.speculative_method' must be ngram or mtp, got '\(value)'")
            }
            speculativeMethod = value
        case "engine.prefix_caching": prefixCaching = try bool()
        case "engine.policy":
            guard ["fcfs", "priority"].contains(value) else { throw Invalid(description: "\(source): 'engine.policy' must be fcfs or priority, got '\(value)'") }
            schedulingPolicy = value
        case "log.level":
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                throw Invalid(description: "\(source): unknown log level '\(value)'")
            }
            logLevel = value
        case "log.format":
            guard let f = LogSetup.Format(rawValue: value) else {
                throw Invalid(description: "\(source): 'log.format' must be text or json, got '\(value)'")
            }
            logFormat = f
        case "log.prompts": logPrompts = try bool()
        default: throw Invalid(description: "\(source): unknown setting '\(key)'")
        }
    }

    /// The keys from `api_keys` and, if set, one per line of `api_key_file` (blank lines and # comments skipped).
    func resolvedAPIKeys() throws -> [String] {
        var keys = apiKeys.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if !apiKeyFile.isEmpty {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8) else {
                throw Invalid(description: "cannot read api_key_file '\(apiKeyFile)'")
            }
            let fromFile = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            // A file meant to turn authentication on must not silently leave it off.
            guard !fromFile.isEmpty else {
                throw Invalid(description: "api_key_file '\(apiKeyFile)' holds no key (one per line; blank lines and # comments are skipped): the server would run without authentication")
            }
            keys += fromFile
        }
        return keys
    }

    /// "536870912", "512MiB", "512MB", "2GiB", "2G" → bytes (binary units for all suffixes).
    static func parseBytes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("GiB", 1 << 30), ("GB", 1 << 30), ("G", 1 << 30), ("MiB", 1 << 20), ("MB", 1 << 20), ("M", 1 << 20),
                                      ("KiB", 1 << 10), ("KB", 1 << 10), ("K", 1 << 10), ("B", 1)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v >= 0, v * Double(scale) < 1e15 else { return nil }
            return Int(v * Double(scale))
        }
        guard let v = Int(t), v < 1 << 50 else { return nil }
        return v
    }
}
