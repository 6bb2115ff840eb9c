import Foundation

/// A parsed Prometheus text exposition (format 0.0.4): families with their TYPE and HELP, and samples.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var helps: [String: String] = [:]
    var samples: [Sample] = []

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    init(_ text: String) throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                    throw Malformed(description: "bad TYPE line: \(line)")
                }
                guard types[parts[2]] == nil else { throw Malformed(description: "TYPE twice for \(parts[2])") }
                types[parts[2]] = parts[3]
            } else if line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                helps[parts[2]] = parts.count > 3 ? parts[3] : ""
            } else if line.hasPrefix("#") {
                continue
            } else {
                samples.append(try Self.sample(line))
            }
        }
    }

    static func sample(_ line: String) throws -> Sample {
        let bad = Malformed(description: "not a sample line: \(line)")
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = String(line[..<nameEnd])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }), !name.first!.isNumber else { throw bad }
        var labels: [String: String] = [:]
        var rest = line[nameEnd...]
        if rest.first == "{" {
            guard let close = rest.lastIndex(of: "}") else { throw bad }
            var body = rest[rest.index(after: rest.startIndex)..<close]
            while !body.isEmpty {
                guard let eq = body.firstIndex(of: "="), body[body.index(after: eq)] == "\"" else { throw bad }
                let key = String(body[..<eq])
                var value = ""
                var i = body.index(eq, offsetBy: 2)
                while i < body.endIndex, body[i] != "\"" {
                    if body[i] == "\\" { i = body.index(after: i) }
                    value.append(body[i])
                    i = body.index(after: i)
                }
                guard i < body.endIndex else { throw bad }
                labels[key] = value
                body = body[body.index(after: i)...]
                if body.first == "," { body = body.dropFirst() }
            }
            rest = rest[rest.index(after: close)...]
        }
        let fields = rest.split(separator: " ")
        guard let first = fields.first, let value = Double(first == "+Inf" ? "inf" : String(first)) else { throw bad }
        return Sample(name: name, labels: labels, value: value)
    }

    /// The family a sample belongs to (histogram samples carry _bucket/_sum/_count).
    func family(of sample: String) -> String {
        if types[sample] != nil { return sample }
        for suffix in ["_bucket", "_sum", "_count"] where sample.hasSuffix(suffix) {
            let base = String(sample.dropLast(suffix.count))
            if types[base] == "histogram" { return base }
        }
        return sample
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.value
    }
}
