import Foundation

/// One slice on a pipe's track: `start` and `duration` in seconds of simulated time.
public struct TraceSlice: Sendable {
    public var name: String
    public var pipe: Pipe
    public var start: Double
    public var duration: Double

    public init(name: String, pipe: Pipe, start: Double, duration: Double) {
        self.name = name; self.pipe = pipe; self.start = start; self.duration = duration
    }
}

/// Chrome/Perfetto trace JSON (`{"traceEvents": [...]}`): complete events (`ph: "X"`, `ts`/`dur` in µs),
/// one thread track per pipe, named by metadata events.
public enum PerfettoTrace {
    public static func json(slices: [TraceSlice], process: String) throws -> Data {
        var events: [[String: Any]] = [["ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": ["name": process]]]
        for (i, pipe) in Pipe.allCases.enumerated() {
            events.append(["ph": "M", "name": "thread_name", "pid": 1, "tid": i + 1, "args": ["name": pipe.rawValue]])
        }
        let tid = Dictionary(uniqueKeysWithValues: Pipe.allCases.enumerated().map { ($1, $0 + 1) })
        for s in slices where s.duration > 0 {
            events.append(["ph": "X", "name": s.name, "cat": s.pipe.rawValue, "pid": 1, "tid": tid[s.pipe]!,
                           "ts": s.start * 1e6, "dur": s.duration * 1e6])
        }
        return try JSONSerialization.data(withJSONObject: ["traceEvents": events, "displayTimeUnit": "ms"])
    }
}
