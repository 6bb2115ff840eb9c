import Dispatch
import Foundation

/// Splits `0..<count` into contiguous chunks and runs them on the global Dispatch pool.
/// Each index belongs to exactly one chunk, so results written per index are deterministic.
enum Parallel {
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(workers, max(1, count / max(1, minChunk)))
        if chunks == 1 { body(0..<count); return }
        let step = (count + chunks - 1) / chunks
        withoutActuallyEscaping(body) { body in
            // Safe: concurrentPerform returns only after every chunk ran, and chunks are disjoint.
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = c * step
                let hi = min(count, lo + step)
                if lo < hi { task.value(lo..<hi) }
            }
        }
    }
}

/// Carries a value into a `@Sendable` closure where the caller guarantees exclusive, bounded use.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
