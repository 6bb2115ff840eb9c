import Dispatch
import Foundation

/// The generation requests being answered, and the drain that ends them on shutdown.
///
/// Drain (SIGTERM/SIGINT): `beginDrain()` makes `/health` answer 503 (a load balancer stops sending
/// traffic) and every new API request 503; `waitUntilIdle(deadline:)` lets what is in flight finish;
/// whatever is left at the deadline is ended by `abortAll()` with `finish_reason: "abort"` (a stream gets
/// its final chunk and `[DONE]`, a whole response its JSON), so no client is cut off mid-response.
final class InFlightRequests: @unchecked Sendable {
    // NOTE: `condition` guards both properties; waiters are woken when a run ends.
    private let condition = NSCondition()
    private var draining = false
    private var runs: [ObjectIdentifier: ChoiceRun] = [:]

    var isDraining: Bool { condition.withLock { draining } }
    var count: Int { condition.withLock { runs.count } }

    /// Tracks `run` until it ends; false when draining (the request must be refused with 503).
    func admit(_ run: ChoiceRun) -> Bool {
        condition.withLock {
            guard !draining else { return false }
            runs[ObjectIdentifier(run)] = run
            return true
        }
    }

    func ended(_ run: ChoiceRun) {
        condition.withLock {
            runs[ObjectIdentifier(run)] = nil
            if runs.isEmpty { condition.broadcast() }
        }
    }

    func beginDrain() { condition.withLock { draining = true } }

    /// Blocks until nothing is in flight (true) or `deadline` passes (false).
    func waitUntilIdle(deadline: Date) -> Bool {
        condition.withLock {
            while !runs.isEmpty {
                if !condition.wait(until: deadline) { return runs.isEmpty }
            }
            return true
        }
    }

    /// Aborts every run in flight; returns how many there were.
    @discardableResult
    func abortAll() -> Int {
        let all = condition.withLock { Array(runs.values) }
        for run in all { run.abortAll() }
        return all.count
    }
}
