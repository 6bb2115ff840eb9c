/// Which timeout expired.
enum TimeoutKind: Sendable, Equatable {
    /// A keep-alive connection got no new request in time: close quietly.
    case idle
    /// The request head did not arrive in time (slowloris): 408 if anything arrived, then close.
    case header
    /// The request body did not arrive in time: 408, then close.
    case body
    /// Queued output made no progress: the peer stopped reading; cut the connection.
    case writeStall
    /// The lingering close after the last response is over: close the descriptor.
    case linger
}

/// Deadline bookkeeping for one connection, as a pure value: every transition takes `now`, so tests
/// drive it with synthetic instants and no sleeping. `HTTPConnection` arms a single Dispatch timer at
/// `next` and asks `expired(at:)` when it fires.
struct ConnectionDeadlines: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Timeouts: Sendable {
        var header: Duration
        var body: Duration
        var idle: Duration
        var writeStall: Duration
        /// How long to keep draining input after our FIN before closing (avoids an RST eating the response).
        var linger: Duration = .seconds(2)
    }

    let timeouts: Timeouts
    private(set) var read: (kind: TimeoutKind, deadline: Instant)?
    private(set) var writeStall: Instant?

    init(timeouts: Timeouts) {
        self.timeouts = timeouts
    }

    /// The earliest pending deadline.
    var next: Instant? {
        switch (read?.deadline, writeStall) {
        case let (r?, w?): min(r, w)
        case let (r, w): r ?? w
        }
    }

    /// Waiting for a request: a new connection gets the header timeout, a kept-alive one the idle timeout.
    mutating func awaitRequest(now: Instant, freshConnection: Bool) {
        read = freshConnection ? (.header, now + timeouts.header) : (.idle, now + timeouts.idle)
    }

    /// The first bytes of a request arrived on an idle connection: the header clock starts.
    mutating func requestBytesArrived(now: Instant) {
        if read?.kind == .idle { read = (.header, now + timeouts.header) }
    }

    mutating func headReceived(now: Instant, hasBody: Bool) {
        read = hasBody ? (.body, now + timeouts.body) : nil
    }

    /// The request is complete; while the handler works there is no read deadline.
    mutating func requestReceived() {
        read = nil
    }

    /// No further requests will be read (closing after a response or error).
    mutating func stopReading() {
        read = nil
    }

    mutating func lingering(now: Instant) {
        read = (.linger, now + timeouts.linger)
    }

    /// A write could not complete. The stall clock restarts whenever some bytes went out.
    mutating func outputBlocked(now: Instant, madeProgress: Bool) {
        if madeProgress || writeStall == nil { writeStall = now + timeouts.writeStall }
    }

    mutating func outputDrained() {
        writeStall = nil
    }

    /// The timeout that has expired at `now`, if any (a write stall wins over a read timeout).
    func expired(at now: Instant) -> TimeoutKind? {
        if let writeStall, writeStall <= now { return .writeStall }
        if let read, read.deadline <= now { return read.kind }
        return nil
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int.max`.
    var nanosecondsClamped: Int {
        let (seconds, attoseconds) = components
        if seconds >= Int64(Int.max / 1_000_000_000) { return .max }
        if seconds < 0 { return 0 }
        return Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
}
