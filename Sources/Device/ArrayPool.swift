import Foundation

/// Recycles the arrays behind op outputs, so a forward pass in steady state takes its tensors' storage
/// from the last pass's instead of the heap (issue 8: "no allocation in the step loop").
///
/// The pool keeps a reference to every array it hands out. An entry is free again once no Matrix holds
/// it: its only reference is the pool's (`isUnique`). So the value semantics of `Matrix` stay as they were:
/// a buffer is reused only when nobody can see it, and a shared one is copied on write as before.
///
/// - `take` finds a free entry whose capacity fits (best fit, within 2× of the request or 256 bytes), sets its count
///   and lets `fill` assign every element; otherwise it allocates, and pools the new array while the pool
///   has room (at most `maxEntries` arrays and `maxBytes` bytes; a free entry least recently used makes
///   room).
/// - `mutate` writes into an array in place. The pool's own reference would make every in-place op (a
///   residual add, RoPE) copy the array first, so the pool lets go of it while `body` runs.
///
/// Entries are taken out of the list while a caller fills or mutates them, which lets `fill` and `body`
/// run in parallel and nest. A pool belongs to the thread that first uses it (`ArrayPools.current` keeps
/// one per thread), so it takes no lock: glibc's per-thread cache serves a malloc in ~20 ns, and a locked
/// pool cost more than the allocations it saved. The search runs from the entry checked in last, so a
/// buffer still in cache is reused first, as malloc's LIFO lists do.
public final class ArrayPool<Element: BitwiseCopyable>: @unchecked Sendable {
    /// An array with what a search reads (its count and capacity copied out: no load through each
    /// array's storage while scanning).
    private struct Entry {
        var array: [Element]
        var address: UnsafeRawPointer?
        var count: Int
        var capacity: Int
        var lastUse: UInt64
    }

    public let maxEntries: Int
    public let maxBytes: Int
    private var entries: [Entry] = []
    private var bytes = 0
    private var clock: UInt64 = 0
    private var owner: pthread_t?
    private var allocated = 0, reused = 0

    public init(maxEntries: Int = 256, maxBytes: Int = 256 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        entries.reserveCapacity(maxEntries)
    }

    /// An array of `count` elements, every one of which `fill` assigns through the pointer (not zeroed
    /// first); `fill` is not called for `count` 0.
    public func take(count: Int, _ fill: (UnsafeMutablePointer<Element>) -> Void) -> [Element] {
        guard count > 0 else { return [] }
        guard Self.enabled, count * MemoryLayout<Element>.stride <= maxBytes / 4 else { return Self.fresh(count, slack: false, fill) }
        var array = checkOut(count: count)
        if let have = array?.count, have != count {
            if have > count { array!.removeLast(have - count) }   // keeps the capacity
            else { array!.append(contentsOf: repeatElement(array![0], count: count - have)) }   // within the capacity; `fill` assigns them
        }
        if array == nil {
            let made = Self.fresh(count, slack: true, fill)
            checkIn(made, fresh: true)
            return made
        }
        array!.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
        checkIn(array!, fresh: false)
        return array!
    }

    /// `body` on a scratch buffer of `count` elements whose contents are unspecified (a free entry's, or
    /// uninitialised): `body` must write each element before it reads it. The buffer is free again after.
    public func withScratch<R>(count: Int, _ body: (UnsafeMutablePointer<Element>) -> R) -> R {
        var result: R?
        if count == 0 { return withUnsafeTemporaryAllocation(of: Element.self, capacity: 1) { body($0.baseAddress!) } }
        _ = take(count: count) { result = body($0) }
        return result!
    }

    /// `body` on `array`'s elements in place: when the pool holds `array`, it lets go while `body` runs, so
    /// an array no one else holds is written without a copy.
    public func mutate<R>(_ array: inout [Element], _ body: (UnsafeMutableBufferPointer<Element>) -> R) -> R {
        let address = array.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        guard address != nil else { return array.withUnsafeMutableBufferPointer { body($0) } }
        checkOwner()
        var held = false
        if let i = entries.lastIndex(where: { $0.address == address }) {
            bytes -= entries[i].capacity * MemoryLayout<Element>.stride
            entries.remove(at: i)
            held = true
        }
        defer { if held { checkIn(array, fresh: false) } }
        return array.withUnsafeMutableBufferPointer { body($0) }
    }

    /// Lets go of every free array (the memory goes back to the allocator); arrays still held stay.
    public func trim() {
        checkOwner()
        var i = 0
        while i < entries.count {
            if Self.isUnique(&entries[i].array) {
                bytes -= entries[i].capacity * MemoryLayout<Element>.stride
                entries.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    /// Arrays this pool allocated and arrays it handed out again, so far; how many it holds now, and how
    /// many of those are free.
    public var statistics: (allocated: Int, reused: Int, held: Int, free: Int) {
        checkOwner()
        return (allocated, reused, entries.count, entries.indices.filter { Self.isUnique(&entries[$0].array) }.count)
    }

    /// A free entry whose capacity fits `count` (best fit, the exact count first), removed from the list.
    private func checkOut(count: Int) -> [Element]? {
        checkOwner()
        var best = -1, bestCapacity = Int.max
        let most = max(2 * count, 256 / MemoryLayout<Element>.stride)   // pins at most twice the bytes asked for, or 256
        for i in entries.indices.reversed() {
            let (have, capacity) = (entries[i].count, entries[i].capacity)
            guard capacity >= count, capacity <= most, have == count || capacity < bestCapacity,
                  Self.isUnique(&entries[i].array) else { continue }
            best = i
            bestCapacity = capacity
            if have == count { break }
        }
        guard best >= 0 else { return nil }
        bytes -= entries[best].capacity * MemoryLayout<Element>.stride
        reused += 1
        return entries.remove(at: best).array
    }

    /// Puts `array` (back) in the list, evicting free entries least recently used to make room; an array
    /// that does not fit stays unpooled.
    private func checkIn(_ array: [Element], fresh: Bool) {
        let size = array.capacity * MemoryLayout<Element>.stride
        if fresh { allocated += 1 }
        while entries.count >= maxEntries || bytes + size > maxBytes {
            var oldest = -1
            for i in entries.indices where Self.isUnique(&entries[i].array) && (oldest < 0 || entries[i].lastUse < entries[oldest].lastUse) {
                oldest = i
            }
            guard oldest >= 0 else { return }
            bytes -= entries[oldest].capacity * MemoryLayout<Element>.stride
            entries.remove(at: oldest)
        }
        clock += 1
        let address = array.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        entries.append(Entry(array: array, address: address, count: array.count, capacity: array.capacity, lastUse: clock))
        bytes += size
    }

    /// A pool serves one thread: the first that uses it.
    @inline(__always) private func checkOwner() {
        let me = pthread_self()
        if let owner { precondition(pthread_equal(owner, me) != 0, "ArrayPool: used from a second thread") } else { owner = me }
    }

    /// A new array; one the pool keeps gets an eighth more capacity than `count` (rounded to 64 bytes): a
    /// list that grows by a few elements a step (a decode step's visible slots) then still fits the array
    /// its last step left.
    private static func fresh(_ count: Int, slack: Bool, _ fill: (UnsafeMutablePointer<Element>) -> Void) -> [Element] {
        let perLine = max(1, 64 / MemoryLayout<Element>.stride)
        let capacity = slack ? (count + count / 8 + perLine - 1) / perLine * perLine : count
        return [Element](unsafeUninitializedCapacity: capacity) { buffer, initialised in
            fill(buffer.baseAddress!)
            initialised = count
        }
    }

    @inline(__always) static func isUnique(_ array: inout [Element]) -> Bool { isUniquelyHeld(&array) }

    /// Whether `isUnique` tells a held array from a shared one here (else the pool only allocates).
    static var enabled: Bool { ArrayPoolSupport.enabled }
}

/// Whether only this reference holds the array's storage. An array is one reference to its storage object
/// on platforms without Objective-C bridging; `ArrayPoolSupport.enabled` checks that at start-up.
@inline(__always) func isUniquelyHeld<T>(_ array: inout [T]) -> Bool {
    withUnsafeMutablePointer(to: &array) { p in
        p.withMemoryRebound(to: AnyObject.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
    }
}

/// Recycles lists of values that hold storage of their own: the `[Matrix]` lists that ops returning several
/// matrices build (`Matrix.assigningEvery`: the fused projections, ~60 per SmolLM2 decode step) and a
/// step's `[PagedSequence]`. A free list still holds the values it last carried (a matrix list would keep
/// their buffers from the float pool), so `take` and every in-place op on a matrix empty the free
/// lists first.
public final class ListPool<Element>: @unchecked Sendable {
    private var lists: [[Element]] = []
    private let maxLists = 16
    private let placeholder: Element
    private var owner: pthread_t?

    init(placeholder: Element) { self.placeholder = placeholder }

    /// A list of `count` values, each of which `fill` assigns (they start as the placeholder).
    public func take(count: Int, _ fill: (UnsafeMutableBufferPointer<Element>) -> Void) -> [Element] {
        let me = pthread_self()
        if let owner { precondition(pthread_equal(owner, me) != 0, "ListPool: used from a second thread") } else { owner = me }
        emptyFreeLists()
        var result: [Element] = []   // one reference only: a second would make the appends below copy
        if let i = lists.indices.reversed().first(where: { lists[$0].isEmpty && lists[$0].capacity >= count && isUniquelyHeld(&lists[$0]) }) {
            result = lists.remove(at: i)
        } else {
            result.reserveCapacity(max(count, 4))
        }
        result.append(contentsOf: repeatElement(placeholder, count: count))
        result.withUnsafeMutableBufferPointer { fill($0) }
        if ArrayPoolSupport.enabled {
            if lists.count >= maxLists, let free = lists.firstIndex(where: \.isEmpty) { lists.remove(at: free) }   // emptied above: free
            if lists.count < maxLists { lists.append(result) }
        }
        return result
    }

    /// Empties the lists no caller holds any more, releasing the values they carried. An in-place op calls
    /// this first (`Matrix.withUnsafeMutableElements`): a projection's output taken from a fused call's
    /// list is otherwise still held by that list, and would be copied before RoPE writes it.
    public func emptyFreeLists() {
        for i in lists.indices where !lists[i].isEmpty && isUniquelyHeld(&lists[i]) { lists[i].removeAll(keepingCapacity: true) }
    }

    /// Lets go of every list no caller holds.
    public func trim() {
        var i = 0
        while i < lists.count {
            if isUniquelyHeld(&lists[i]) { lists.remove(at: i) } else { i += 1 }
        }
    }
}

enum ArrayPoolSupport {
    static let enabled: Bool = {
        #if canImport(ObjectiveC)
        return false
        #else
        guard MemoryLayout<[Float]>.size == MemoryLayout<AnyObject>.size else { return false }
        var a = [Float](repeating: 1, count: 4)
        guard ArrayPool<Float>.isUnique(&a) else { return false }
        var b = a
        let shared = !ArrayPool<Float>.isUnique(&a) && !ArrayPool<Float>.isUnique(&b)
        b[0] = 2
        return shared && ArrayPool<Float>.isUnique(&a) && ArrayPool<Float>.isUnique(&b)
        #endif
    }()
}

/// The pools behind the CPU executor's tensors, one set per thread: fp32 activations, int8 activation
/// blocks and their Q8_0 corrections, a step's token, position, slot and run lists, and the lists ops
/// return. A thread's forward passes reuse what its last pass left; a thread never searches another's
/// arrays (an engine runs its passes on one thread), and tests read their own thread's `statistics`.
public final class ArrayPools: @unchecked Sendable {
    public let floats = ArrayPool<Float>()
    public let bytes = ArrayPool<UInt8>(maxBytes: 128 << 20)
    public let int32s = ArrayPool<Int32>(maxEntries: 64, maxBytes: 16 << 20)
    public let ints = ArrayPool<Int>(maxEntries: 64, maxBytes: 16 << 20)
    public let int64s = ArrayPool<Int64>(maxEntries: 64, maxBytes: 16 << 20)
    public let runs = ArrayPool<(start: Int, count: Int)>(maxEntries: 16, maxBytes: 4 << 20)
    public let matrixLists = ListPool<Matrix>(placeholder: .placeholder)
    public let sequenceLists = ListPool<PagedSequence>(placeholder: PagedSequence(rows: 0..<0, blockTable: [], firstPosition: 0))

    /// The calling thread's pools (made on first use, released when the thread exits).
    public static var current: ArrayPools {
        if let p = pthread_getspecific(key) { return Unmanaged<ArrayPools>.fromOpaque(p).takeUnretainedValue() }
        let pools = ArrayPools()
        pthread_setspecific(key, Unmanaged.passRetained(pools).toOpaque())
        return pools
    }

    // The pools' operations for each element type, as concrete functions in this file: here the generic
    // pools are specialised. Called from another file of a build without whole-module optimisation (the
    // debug builds tests run in) or from another module, the generic `take` ran unspecialised and itself
    // allocated (the MoE router: ~30 allocations per step). Every user goes through these.
    public func takeFloats(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] { floats.take(count: count, fill) }
    public func takeInts(count: Int, _ fill: (UnsafeMutablePointer<Int>) -> Void) -> [Int] { ints.take(count: count, fill) }
    public func takeInt64s(count: Int, _ fill: (UnsafeMutablePointer<Int64>) -> Void) -> [Int64] { int64s.take(count: count, fill) }
    public func takeInt32s(count: Int, _ fill: (UnsafeMutablePointer<Int32>) -> Void) -> [Int32] { int32s.take(count: count, fill) }
    public func takeBytes(count: Int, _ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> [UInt8] { bytes.take(count: count, fill) }
    func takeRuns(count: Int, _ fill: (UnsafeMutablePointer<(start: Int, count: Int)>) -> Void) -> [(start: Int, count: Int)] {
        runs.take(count: count, fill)
    }
    public func withFloatScratch(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) { floats.withScratch(count: count, body) }
    public func withIntScratch(count: Int, _ body: (UnsafeMutablePointer<Int>) -> Void) { ints.withScratch(count: count, body) }
    public func withByteScratch(count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) { bytes.withScratch(count: count, body) }
    public func mutateFloats(_ array: inout [Float], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) { floats.mutate(&array, body) }
    public func takeMatrices(count: Int, _ fill: (UnsafeMutableBufferPointer<Matrix>) -> Void) -> [Matrix] { matrixLists.take(count: count, fill) }
    public func emptyFreeMatrixLists() { matrixLists.emptyFreeLists() }

    /// Gives back every free array and list of this thread's pools: an engine calls it when its work runs
    /// out, so the buffers of a long prompt do not stay resident while the server idles.
    public func trim() {
        floats.trim(); bytes.trim(); int32s.trim(); ints.trim(); int64s.trim(); runs.trim()
        matrixLists.trim(); sequenceLists.trim()
    }
    public func takeSequences(count: Int, _ fill: (UnsafeMutableBufferPointer<PagedSequence>) -> Void) -> [PagedSequence] {
        sequenceLists.take(count: count, fill)
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let made = pthread_key_create(&key) { p in
            if let p { Unmanaged<ArrayPools>.fromOpaque(p).release() }
        }
        precondition(made == 0, "ArrayPools: pthread_key_create failed (\(made))")
        return key
    }()
}
