import Foundation

/// Simulated device time: each op an executor runs advances it by the op's cost (`OpCost.total`: the
/// busiest pipe plus fill/drain and launch), ops running one after another as a single stream does.
/// Busy time per pipe and the op count are kept for utilisation and traces. Thread-safe.
public final class SimulatedClock: @unchecked Sendable {
    /// A reading of the clock.
    public struct Reading: Sendable, Equatable {
        /// Seconds of simulated device time since the clock was made.
        public var seconds: Double = 0
        /// Seconds each pipe was busy.
        public var pipes: [Pipe: Double] = [:]
        public var kernels = 0
        public var flops: Double = 0
        /// Bytes moved to/from HBM or over links.
        public var bytes: Double = 0
    }

    private let lock = NSLock()
    private var state = Reading()

    public init() {}

    public func read() -> Reading { lock.withLock { state } }

    /// Seconds of simulated time so far.
    public var seconds: Double { lock.withLock { state.seconds } }

    public func advance(by cost: OpCost) {
        lock.withLock {
            state.seconds += cost.total
            for (pipe, t) in cost.pipes { state.pipes[pipe, default: 0] += t }
            state.kernels += 1
            state.flops += cost.flops
            state.bytes += cost.bytes
        }
    }
}
