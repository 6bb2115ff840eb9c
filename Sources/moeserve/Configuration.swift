import Foundation
import Yams

/// The server's settings, typed and validated. Loaded from YAML, then the environment, then flags.
struct Configuration: Equatable {
    var host = "127.0.0.1"
    var port = 8080
    var maxBodyBytes = 16 << 20
    var modelPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    var modelID = "smollm2-135m-instruct"
    var device = "cpu"
    var logLevel = "info"

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// Every key the YAML may contain, by section; anything else is a typo and an error.
    static let keys: [String: Set<String>] = [
        "server": ["host", "port", "max_body_bytes"],
        "model": ["path", "id"],
        "engine": ["device"],
        "log": ["level"],
    ]

    /// Applies a YAML document over the current values.
    mutating func apply(yaml text: String, source: String) throws {
        guard let root = try Yams.load(yaml: text) else { return }
        guard let sections = root as? [String: Any] else { throw Invalid(description: "\(source): the top level must be a mapping") }
        for (section, body) in sections {
            guard let allowed = Self.keys[section] else {
                throw Invalid(description: "\(source): unknown section '\(section)' (known: \(Self.keys.keys.sorted().joined(separator: ", ")))")
            }
            guard let fields = body as? [String: Any] else { throw Invalid(description: "\(source): '\(section)' must be a mapping") }
            for (key, value) in fields {
                guard allowed.contains(key) else {
                    throw Invalid(description: "\(source): unknown key '\(section).\(key)' (known: \(allowed.sorted().joined(separator: ", ")))")
                }
                try set("\(section).\(key)", to: "\(value)", source: source)
            }
        }
    }

    /// Applies `MOESERVE_*` variables.
    mutating func apply(environment env: [String: String]) throws {
        let map = ["MOESERVE_HOST": "server.host", "MOESERVE_PORT": "server.port", "MOESERVE_MODEL": "model.path",
                   "MOESERVE_MODEL_ID": "model.id", "MOESERVE_DEVICE": "engine.device", "MOESERVE_LOG_LEVEL": "log.level"]
        for (variable, key) in map {
            if let v = env[variable], !v.isEmpty { try set(key, to: v, source: variable) }
        }
    }

    mutating func set(_ key: String, to value: String, source: String) throws {
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard let i = Int(value), range.contains(i) else {
                throw Invalid(description: "\(source): '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(value)'")
            }
            return i
        }
        switch key {
        case "server.host": host = value
        case "server.port": port = try int(0...65535)
        case "server.max_body_bytes": maxBodyBytes = try int(1...(1 << 32))
        case "model.path": modelPath = value
        case "model.id": modelID = value
        case "engine.device":
            guard ["cpu"].contains(value) else { throw Invalid(description: "\(source): device '\(value)' is not available (available: cpu)") }
            device = value
        case "log.level":
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                throw Invalid(description: "\(source): unknown log level '\(value)'")
            }
            logLevel = value
        default: throw Invalid(description: "\(source): unknown setting '\(key)'")
        }
    }
}
