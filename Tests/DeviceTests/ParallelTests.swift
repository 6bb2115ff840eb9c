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

    /// Aligned splits (prompt matmuls: chunks of whole 12-row panels) still run every index once, and
    /// every chunk but the last is a whole number of alignments.
    @Test func alignedChunksCoverEveryIndexOnPanelBoundaries() {
        final class Ranges: @unchecked Sendable {
            let lock = NSLock()
            var all: [Range<Int>] = []
            func add(_ r: Range<Int>) { lock.withLock { all.append(r) } }
        }
        for count in [1, 11, 12, 13, 192, 576, 1536, 1000] {
            let counts = Counts(count), ranges = Ranges()
            Parallel.forEach(count, minChunk: 12, chunksPerWorker: 16, alignment: 12) { counts.add($0); ranges.add($0) }
            #expect(counts.hits.allSatisfy { $0 == 1 }, "count \(count)")
            #expect(ranges.all.allSatisfy { $0.lowerBound % 12 == 0 && ($0.count % 12 == 0 || $0.upperBound == count) }, "count \(count)")
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

    @Test func poolHasAWorkerPerExtraCore() {
        #expect(Int(ck_pool_workers()) == max(0, ProcessInfo.processInfo.activeProcessorCount - 1))
    }
}
