import CKernels
import Foundation
import Testing
@testable import Device

/// The worker pool and its Dispatch fallback run every index exactly once, from any thread, nested or not.
@Suite struct ParallelTests {
    final class Counts: @unchecked Sendable {
        let lock = NSLock()
        var hits: [Int]
        init(_ n: Int) { hits = Array(repeating: 0, count: n) }
        func add(_ range: Range<Int>) { lock.withLock { for i in range { hits[i] += 1 } } }
    }

    @Test(arguments: [Parallel.Runner.pool, .dispatch])
    func everyIndexRunsOnce(runner: Parallel.Runner) {
        for count in [1, 2, 3, 7, 64, 1000, 4097] {
            let counts = Counts(count)
            Parallel.forEach(count, runner: runner) { counts.add($0) }
            #expect(counts.hits.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    @Test func manyJobsBackToBackAndFromManyThreads() {
        // Thousands of short jobs (a decode step's pattern) from 4 threads at once: the pool takes
        // one job at a time and the others fall back to Dispatch; nothing is lost or run twice.
        let total = Counts(4)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for _ in 0..<500 {
                let counts = Counts(37)
                Parallel.forEach(37) { counts.add($0) }
                if counts.hits.allSatisfy({ $0 == 1 }) { total.add(thread..<(thread + 1)) }
            }
        }
        #expect(total.hits == [500, 500, 500, 500])
    }

    @Test func nestedJobsRun() {
        let counts = Counts(12 * 12)
        Parallel.forEach(12) { outer in
            for i in outer { Parallel.forEach(12) { inner in counts.add((i * 12 + inner.lowerBound)..<(i * 12 + inner.upperBound)) } }
        }
        #expect(counts.hits.allSatisfy { $0 == 1 })
    }

    @Test func disabledPoolLeavesEveryJobToDispatch() {
        // Process-wide (`moeserve bench --runner dispatch`): other suites' jobs meanwhile run on Dispatch, with
        // the same results.
        CPUDevice.setWorkerPool(enabled: false)
        defer { CPUDevice.setWorkerPool(enabled: true) }
        #expect(ck_pool_run(4, { _, _ in }, nil) == -1)
        let counts = Counts(1000)
        Parallel.forEach(1000) { counts.add($0) }
        #expect(counts.hits.allSatisfy { $0 == 1 })
    }

    @Test func poolHasAWorkerPerExtraCore() {
        #expect(Int(ck_pool_workers()) == max(0, ProcessInfo.processInfo.activeProcessorCount - 1))
    }
}
