import Foundation
import HTTPCore
import Logging

/// One JSON object per line (`--log-format json`), for log collectors:
/// `{"timestamp":"2026-11-29T04:20:31.123Z","level":"info","label":"moeserve","message":"…","metadata":{…}}`.
/// Metadata values keep their shape: strings, arrays and nested objects.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Receives each finished line (newline included); stderr unless a test captures it.
    let write: @Sendable (String) -> Void

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        write(Self.line(timestamp: Date(), level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    static func line(timestamp: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"timestamp\":"
        JSONString.append(Self.format(timestamp), to: &out)
        out += ",\"level\":"
        JSONString.append(level.rawValue, to: &out)
        out += ",\"label\":"
        JSONString.append(label, to: &out)
        out += ",\"message\":"
        JSONString.append(message, to: &out)
        out += ",\"metadata\":"
        appendValue(.dictionary(metadata), to: &out)
        out += "}\n"
        return out
    }

    /// RFC 3339 UTC with milliseconds.
    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    private static func appendValue(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case let .string(s): JSONString.append(s, to: &out)
        case let .stringConvertible(s): JSONString.append(s.description, to: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                appendValue(item, to: &out)
            }
            out += "]"
        case let .dictionary(dict):
            out += "{"
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONString.append(key, to: &out)
                out += ":"
                appendValue(dict[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// Whole lines to stderr in one write, so concurrent lines never interleave.
    @Sendable static func standardError(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

/// The process-wide swift-log backend, chosen from `log.format` and `log.level`.
enum LogSetup {
    enum Format: String, CaseIterable {
        case text
        case json
    }

    static func bootstrap(level: String, format: Format) -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            case .json:
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
        }
        return Logger(label: "moeserve")
    }
}
