import Foundation

/// Responses kept for `GET /v1/responses/{id}` and `previous_response_id` (`store`, true by default). In memory,
/// per replica, bounded: past `capacity` responses or `maxBytes` of their text, the least recently used go first.
/// Each entry keeps only its own turn (input messages and the assistant's answer) and its predecessor's id, so a
/// long conversation costs each response once rather than once per later turn.
final class ResponseStore: @unchecked Sendable {
    struct Entry {
        var object: JSONValue
        var previousID: String?
        /// This response's input messages then its answer (instructions excluded: they are not carried over).
        var turn: [ChatMessage]
        var bytes: Int
        var lastUse: UInt64
    }

    let capacity: Int
    let maxBytes: Int
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0

    init(capacity: Int = 1000, maxBytes: Int = 256 << 20) {
        self.capacity = max(0, capacity)
        self.maxBytes = maxBytes
    }

    var count: Int { lock.withLock { entries.count } }

    func put(id: String, object: JSONValue, previousID: String?, turn: [ChatMessage]) {
        guard capacity > 0 else { return }
        let size = object.serialized().utf8.count + turn.reduce(0) { $0 + $1.content.utf8.count + $1.toolCalls.reduce(0) { $0 + $1.arguments.compactText.utf8.count } }
        lock.withLock {
            clock += 1
            if let old = entries[id] { bytes -= old.bytes }
            entries[id] = Entry(object: object, previousID: previousID, turn: turn, bytes: size, lastUse: clock)
            bytes += size
            while entries.count > capacity || (bytes > maxBytes && entries.count > 1) {
                guard let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key, oldest != id || entries.count > 1 else { break }
                bytes -= entries.removeValue(forKey: oldest)?.bytes ?? 0
            }
        }
    }

    func object(_ id: String) -> JSONValue? {
        lock.withLock {
            guard var e = entries[id] else { return nil }
            clock += 1
            e.lastUse = clock
            entries[id] = e
            return e.object
        }
    }

    @discardableResult
    func delete(_ id: String) -> Bool { lock.withLock { entries.removeValue(forKey: id).map { bytes -= $0.bytes } != nil } }

    /// The conversation up to and including response `id`: each turn of its chain, oldest first. nil when `id`, or
    /// a response it continues, is not stored (deleted, evicted, or from another replica).
    func conversation(upTo id: String) -> [ChatMessage]? {
        lock.withLock {
            var turns: [[ChatMessage]] = []
            var next: String? = id
            clock += 1
            while let current = next {
                guard var e = entries[current] else { return nil }
                e.lastUse = clock
                entries[current] = e
                turns.append(e.turn)
                next = e.previousID
            }
            return turns.reversed().flatMap { $0 }
        }
    }
}
