import CKernels
import Dispatch
import Foundation

/// Splits `0..<count` into contiguous chunks and runs them on the persistent worker pool
/// (CKernels/ThreadPool.c), or on the global Dispatch pool when that one is busy with another
/// thread's job. Each index belongs to exactly one chunk, so results written per index are
/// deterministic whichever thread ran them.
enum Parallel {
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Which runner `forEach` uses; tests pin it to check both.
    enum Runner: Sendable { case pool, dispatch }

    static func forEach(_ count: Int, minChunk: Int = 1, chunksPerWorker: Int = 4, runner: Runner = .pool, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        // Up to `chunksPerWorker` chunks per worker (default 4), taken dynamically: work whose cost varies along the range (causal
        // attention rows grow with the position) or a thread the OS delays does not leave the others waiting.
        // Callers whose items are already sized as tasks (grouped matmuls) ask for more.
        var chunks = min(workers == 1 ? 1 : chunksPerWorker * workers, max(1, count / max(1, minChunk)))
        // Whole rounds: 3 equal chunks on 2 threads take 2 chunk-times, 2 larger ones 1.5 (a decode
        // step's 192-row K/V projections split that way).
        if chunks > workers { chunks -= chunks % workers }
        if chunks == 1 { body(0..<count); return }
        let step = (count + chunks - 1) / chunks
        withoutActuallyEscaping(body) { body in
            var job = Job(body: body, step: step, count: count)
            let ran = runner == .pool && withUnsafeMutablePointer(to: &job) { pointer in
                ck_pool_run(chunks, { context, chunk in
                    let job = context!.assumingMemoryBound(to: Job.self)
                    job.pointee.run(chunk)
                }, pointer) == 0
            }
            if ran { return }
            // Safe: concurrentPerform returns only after every chunk ran, and chunks are disjoint.
            let task = UncheckedSendable(job)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in task.value.run(c) }
        }
    }

    /// One job's closure and its chunking; read concurrently, never written while running.
    private struct Job {
        let body: (Range<Int>) -> Void
        let step: Int
        let count: Int

        func run(_ chunk: Int) {
            let lo = chunk * step, hi = min(count, lo + step)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Carries a value into a `@Sendable` closure where the caller guarantees exclusive, bounded use.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension CPUDevice {
    /// Whether the CPU kernels' parallel jobs run on the persistent worker pool (the default) or, process-wide,
    /// on Dispatch's `concurrentPerform` (`moeserve bench --runner dispatch` measures the one against the other).
    public static func setWorkerPool(enabled: Bool) { ck_pool_set_enabled(enabled ? 1 : 0) }
}
