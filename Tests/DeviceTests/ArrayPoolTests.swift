import Foundation
import Testing
@testable import Device

/// The pool behind op outputs (`ArrayPool`): a free array is handed out again, one a caller still holds
/// never is, in-place writes keep value semantics, and the bounds hold.
@Suite struct ArrayPoolTests {
    static func address(_ a: [Float]) -> UnsafeRawPointer? { a.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }

    static func take(_ pool: ArrayPool<Float>, _ count: Int, _ value: Float) -> [Float] {
        pool.take(count: count) { p in for i in 0..<count { p[i] = value + Float(i) } }
    }

    @Test func aFreedArrayIsHandedOutAgain() {
        let pool = ArrayPool<Float>()
        var first: [Float]? = Self.take(pool, 100, 1)
        let where1 = Self.address(first!)
        #expect(first![99] == 100)
        first = nil
        let second = Self.take(pool, 100, 5)
        #expect(Self.address(second) == where1)
        #expect(second == (0..<100).map { 5 + Float($0) })
        let s = pool.statistics
        #expect(s.allocated == 1 && s.reused == 1 && s.held == 1 && s.free == 0)
    }

    @Test func anArrayStillHeldIsNeverHandedOut() {
        let pool = ArrayPool<Float>()
        let held = Self.take(pool, 64, 1)
        var copies: [[Float]] = []
        for round in 0..<5 {
            let other = Self.take(pool, 64, -100 * Float(round + 1))
            #expect(Self.address(other) != Self.address(held))
            copies.append(other)   // kept: each round needs a further array
        }
        #expect(held == (0..<64).map { 1 + Float($0) })
        #expect(Set(copies.map { Self.address($0) }).count == 5)
        #expect(pool.statistics.allocated == 6 && pool.statistics.reused == 0)
    }

    @Test func countsWithinTheCapacityReuseTheArray() {
        let pool = ArrayPool<Float>()
        var a: [Float]? = Self.take(pool, 100, 0)
        let where1 = Self.address(a!)
        a = nil
        var shorter: [Float]? = Self.take(pool, 60, 7)
        #expect(Self.address(shorter!) == where1 && shorter!.count == 60 && shorter! == (0..<60).map { 7 + Float($0) })
        shorter = nil
        var longer: [Float]? = Self.take(pool, 90, 3)   // grows back within the capacity, every element assigned
        #expect(Self.address(longer!) == where1 && longer! == (0..<90).map { 3 + Float($0) })
        longer = nil
        let tooSmall = Self.take(pool, 300, 0)           // the free array cannot hold it
        #expect(Self.address(tooSmall) != where1)
        let wasteful = Self.take(pool, 40, 0)            // would pin 2.5× the bytes asked for
        #expect(Self.address(wasteful) != where1)
        #expect(pool.statistics.allocated == 3)
    }

    @Test func theExactCountIsPreferredAndTheLastCheckedInComesFirst() {
        let pool = ArrayPool<Float>()
        var arrays: [[Float]]? = [Self.take(pool, 50, 0), Self.take(pool, 64, 0), Self.take(pool, 64, 0)]
        let addresses = arrays!.map { Self.address($0) }
        arrays = nil   // checked in 50, 64, 64: the second 64 last
        let exact = Self.take(pool, 64, 0)
        #expect(Self.address(exact) == addresses[2])
        let next = Self.take(pool, 64, 0)
        #expect(Self.address(next) == addresses[1])
        let fits = Self.take(pool, 45, 0)
        #expect(Self.address(fits) == addresses[0] && fits.count == 45)
    }

    @Test func mutateWritesInPlaceAndCopiesWhenShared() {
        let pool = ArrayPool<Float>()
        var a = Self.take(pool, 8, 0)
        let where1 = Self.address(a)
        pool.mutate(&a) { $0[0] = 42 }
        #expect(Self.address(a) == where1 && a[0] == 42)   // no copy: the pool let go of it meanwhile
        let snapshot = a
        pool.mutate(&a) { $0[0] = -1 }
        #expect(snapshot[0] == 42 && a[0] == -1)              // value semantics: the snapshot is untouched
        #expect(Self.address(a) != Self.address(snapshot))
        // The copy took the original's entry; the original lives on in `snapshot`, unpooled.
        #expect(pool.statistics.held == 1)
        var unpooled = [Float](repeating: 0, count: 4)
        pool.mutate(&unpooled) { $0[3] = 9 }
        #expect(unpooled == [0, 0, 0, 9] && pool.statistics.held == 1)
    }

    @Test func theBoundsHold() {
        let pool = ArrayPool<Float>(maxEntries: 4, maxBytes: 4 * 1000)
        var held = (0..<6).map { Self.take(pool, 100, Float($0)) }
        #expect(pool.statistics.held == 4)                    // the last two were not pooled: no entry was free
        #expect(held.enumerated().allSatisfy { i, a in a[0] == Float(i) })
        held.removeAll()
        #expect(pool.statistics.free == 4)
        let big = Self.take(pool, 300, 0)                     // 1,200 bytes: the least recently used free entries make room
        let s = pool.statistics
        #expect(s.held <= 4 && s.held >= 1 && big.count == 300)
        let huge = Self.take(pool, 2000, 1)                   // over a quarter of maxBytes: never pooled
        #expect(huge[1999] == 2000 && pool.statistics.held == s.held)
    }

    @Test func trimLetsGoOfFreeArraysOnly() {
        let pool = ArrayPool<Float>()
        let held = Self.take(pool, 32, 1)
        _ = Self.take(pool, 64, 2)                              // dropped at once: free
        #expect(pool.statistics.held == 2 && pool.statistics.free == 1)
        pool.trim()
        #expect(pool.statistics.held == 1 && pool.statistics.free == 0)
        let again = Self.take(pool, 64, 3)                     // the trimmed one is gone: a new array
        #expect(pool.statistics.allocated == 3 && again[63] == 66 && held[31] == 32)
    }

    @Test func emptyRequestsNeitherFillNorPool() {
        let pool = ArrayPool<Float>()
        var called = false
        let empty = pool.take(count: 0) { _ in called = true }
        #expect(empty.isEmpty && !called && pool.statistics.held == 0)
    }

    /// The CPU device's ops take their outputs from the thread's pool; an in-place op on a result another
    /// value still holds copies first, as an array would.
    @Test func deviceOpsKeepValueSemantics() {
        let device = CPUDevice()
        let x = Matrix(rows: 2, cols: 64, data: (0..<128).map { Float($0) / 64 })
        let weight = DeviceWeight(shape: [64], sourceType: .f32, values: [Float](repeating: 1, count: 64))
        var normed = device.rmsNorm(x, weight: weight, eps: 1e-6)
        let before = normed
        device.add(&normed, x)
        #expect(before == device.rmsNorm(x, weight: weight, eps: 1e-6))
        #expect(normed.data == zip(before.data, x.data).map { $0 + $1 })
        let sum = normed.data
        _ = device.rmsNorm(x, weight: weight, eps: 1e-6)   // may reuse `before`'s storage once it is free, never normed's
        #expect(normed.data == sum)
    }
}

/// The lists of matrices that fused ops return (`ListPool`): a list no caller holds is emptied and
/// handed out again, and emptying it lets go of the matrices it carried.
@Suite struct MatrixListPoolTests {
    static func address(_ list: [Matrix]) -> UnsafeRawPointer? { list.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }

    @Test func aFreeListIsReusedAndLetsGoOfItsMatrices() {
        let pool = ListPool<Matrix>(placeholder: .placeholder)
        let floats = ArrayPool<Float>()
        func list(_ value: Float) -> [Matrix] {
            pool.take(count: 3) { out in
                for i in 0..<3 { out[i] = Matrix(rows: 1, cols: 4, data: floats.take(count: 4) { $0.update(repeating: value + Float(i), count: 4) }) }
            }
        }
        var first: [Matrix]? = list(1)
        let where1 = Self.address(first!)
        var q = first![0]
        first = nil
        #expect(floats.statistics.free == 0)        // the free list still holds all three buffers
        pool.emptyFreeLists()
        #expect(floats.statistics.free == 2)        // now only q's is held
        q.data[0] = 9
        let second = list(5)
        #expect(Self.address(second) == where1 && second.map { $0.data[0] } == [5, 6, 7])
        #expect(q.data == [9, 1, 1, 1])
        let held = second
        let third = list(7)                         // `second` is still held: a new list
        #expect(Self.address(third) != where1 && held[2].data[3] == 7)
    }
}
