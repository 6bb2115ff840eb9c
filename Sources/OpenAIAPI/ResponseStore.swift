import Foundation

/// Responses kept for `GET /v1/responses/{id}` and `previous_response_id` (`store`, true by default). In memory,
/// per replica, bounded: past `capacity` responses or `maxBytes` of their text, the least recently used go first.
/// Each entry keeps its response object as the JSON text it is served as, only its own turn (input messages and
/// the assistant's answer) and its predecessor's id, so a long conversation costs each response once rather than
/// once per later turn.
final class ResponseStore: @unchecked Sendable {
    struct Entry {
        var object: [UInt8]
        var previousID: String?
        /// This response's input messages then its answer (instructions excluded: they are not carried over).
        var turn: [ChatMessage]
        var bytes: Int
        var stamp: UInt64
    }

    /// A conversation rebuilt from a chain of responses.
    enum Chain: Equatable {
        case messages([ChatMessage])
        /// The response, or one it continues, is not stored (deleted, evicted, or on another replica).
        case missing
        /// The chain's text passed the limit asked for: it could not fit the model's context anyway.
        case tooLong
    }

    let capacity: Int
    let maxBytes: Int
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0
    /// Uses, oldest first from `head`: an entry's latest is the one whose stamp it still carries (older ones are
    /// skipped when they come up), so eviction and a use are O(1) amortised.
    private var uses: [(id: String, stamp: UInt64)] = []
    private var head = 0

    init(capacity: Int = 1000, maxBytes: Int = 256 << 20) {
        self.capacity = max(0, capacity)
        self.maxBytes = maxBytes
    }

    var count: Int { lock.withLock { entries.count } }
    var storedBytes: Int { lock.withLock { bytes } }

    func put(id: String, object: JSONValue, previousID: String?, turn: [ChatMessage]) {
        guard capacity > 0 else { return }
        let text = object.bytes
        let size = text.count + turn.reduce(0) { $0 + Self.size(of: $1) }
        lock.withLock {
            if let old = entries[id] { bytes -= old.bytes }
            clock += 1
            entries[id] = Entry(object: text, previousID: previousID, turn: turn, bytes: size, stamp: clock)
            uses.append((id, clock))
            bytes += size
            evict(keeping: id)
            compactUses()
        }
    }

    /// Bytes a message holds: every string in it (ids and names too: a client can make those large), plus a little
    /// for what holds them.
    static func size(of m: ChatMessage) -> Int {
        let strings = [m.role, m.content, m.name ?? "", m.toolCallID ?? ""].reduce(0) { $0 + $1.utf8.count }
        return 64 + strings + m.toolCalls.reduce(0) { $0 + 64 + $1.id.utf8.count + $1.name.utf8.count + $1.arguments.compactText.utf8.count }
    }

    /// The response object's JSON text.
    func object(_ id: String) -> [UInt8]? {
        lock.withLock {
            guard entries[id] != nil else { return nil }
            touch(id)
            return entries[id]?.object
        }
    }

    /// A stored response's turn (its input messages, then its answer).
    func turn(_ id: String) -> [ChatMessage]? { lock.withLock { entries[id]?.turn } }

    @discardableResult
    func delete(_ id: String) -> Bool { lock.withLock { entries.removeValue(forKey: id).map { bytes -= $0.bytes } != nil } }

    /// The conversation up to and including response `id`: each turn of its chain, oldest first, unless its text
    /// passes `byteLimit` first.
    func conversation(upTo id: String, byteLimit: Int) -> Chain {
        lock.withLock {
            var turns: [[ChatMessage]] = []
            var next: String? = id, total = 0
            while let current = next {
                guard let e = entries[current] else { return .missing }
                total += e.bytes
                if total > byteLimit { return .tooLong }
                turns.append(e.turn)
                next = e.previousID
            }
            // Used oldest link first, so within the chain the older responses stay the first to go.
            var chain: [String] = []
            next = id
            while let current = next { chain.append(current); next = entries[current]?.previousID }
            for link in chain.reversed() { touch(link) }
            compactUses()
            return .messages(turns.reversed().flatMap { $0 })
        }
    }

    /// Call with `lock` held.
    private func touch(_ id: String) {
        clock += 1
        entries[id]?.stamp = clock
        uses.append((id, clock))
    }

    /// Call with `lock` held. Removes the least recently used entries (never `id`, the one just added) until the
    /// store is within its bounds.
    private func evict(keeping id: String) {
        while entries.count > capacity || (bytes > maxBytes && entries.count > 1), head < uses.count {
            let (oldest, stamp) = uses[head]
            head += 1
            guard oldest != id, let e = entries[oldest], e.stamp == stamp else { continue }
            entries.removeValue(forKey: oldest)
            bytes -= e.bytes
        }
    }

    /// Call with `lock` held. Drops the used-up front of `uses`, and rebuilds it when stale uses pile up.
    private func compactUses() {
        if uses.count - head > 2 * entries.count + 1024 {
            uses = entries.map { ($0.key, $0.value.stamp) }.sorted { $0.1 < $1.1 }
            head = 0
        } else if head > 1024, head > uses.count / 2 {
            uses.removeFirst(head)
            head = 0
        }
    }
}
