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
        let chunks = chunkCount(count, minChunk: minChunk, chunksPerWorker: chunksPerWorker)
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

    /// Up to `chunksPerWorker` chunks per worker (default 4), taken dynamically: work whose cost varies along
    /// the range (causal attention rows grow with the position) or a thread the OS delays does not leave the
    /// others waiting. Callers whose items are already sized as tasks (grouped matmuls) ask for more.
    private static func chunkCount(_ count: Int, minChunk: Int, chunksPerWorker: Int) -> Int {
        var chunks = min(workers == 1 ? 1 : chunksPerWorker * workers, max(1, count / max(1, minChunk)))
        // Whole rounds: 3 equal chunks on 2 threads take 2 chunk-times, 2 larger ones 1.5 (a decode
        // step's 192-row K/V projections split that way).
        if chunks > workers { chunks -= chunks % workers }
        return chunks
    }

    /// `forEach` for the jobs a decode step runs most (the matmuls, attention): `body` reads everything
    /// through `context` (the pointer it gets; untyped, as a closure over a generic pointer type reached
    /// the pool through a reabstraction thunk, itself an allocation) and captures nothing, so it reaches
    /// the pool without an allocation. `forEach`'s closure needs `withoutActuallyEscaping`, whose context is
    /// a heap object per call with more than one chunk (~150 of a SmolLM2 decode step's allocations). A
    /// `body` that does capture still works, and allocates as `forEach` does. Unlike `forEach`, a job that
    /// finds the pool busy (another thread's job, or nested in one) runs its chunks on the calling thread.
    static func forEach<Context>(_ count: Int, minChunk: Int = 1, chunksPerWorker: Int = 4, runner: Runner = .pool,
                                 context: inout Context, _ body: @escaping (UnsafeRawPointer, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, minChunk: minChunk, chunksPerWorker: chunksPerWorker)
        withUnsafePointer(to: &context) { c in
            if chunks == 1 { body(c, 0..<count); return }
            var job = RawJob(body: body, context: UnsafeRawPointer(c), step: (count + chunks - 1) / chunks, count: count)
            let ran = runner == .pool && withUnsafeMutablePointer(to: &job) { pointer in
                ck_pool_run(chunks, { job, chunk in job!.assumingMemoryBound(to: RawJob.self).pointee.run(chunk) }, pointer) == 0
            }
            if ran { return }
            // The pool busy with another thread's job, or this one nested in a job: the chunks on this thread,
            // in order (Dispatch's copy of its closure was an allocation, and the cores are busy anyway).
            // Disabled (`--runner dispatch`) or asked for: Dispatch.
            guard runner == .dispatch || ck_pool_enabled() == 0 else {
                for chunk in 0..<chunks { job.run(chunk) }
                return
            }
            let task = UncheckedSendable(job)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in task.value.run(chunk) }
        }
    }

    private struct RawJob {
        let body: (UnsafeRawPointer, Range<Int>) -> Void
        let context: UnsafeRawPointer
        let step: Int
        let count: Int

        func run(_ chunk: Int) {
            let lo = chunk * step, hi = min(count, lo + step)
            if lo < hi { body(context, lo..<hi) }
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
