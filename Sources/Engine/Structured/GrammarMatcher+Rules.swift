import Foundation

/// Rule grammars (`RuleGrammar`, the root of an output grammar). A parse waits at an element of a sequence (a frame
/// of phase `.rule`: `a` = the sequence, `b` = the element, `d` = the turns a repetition there has taken); its stack
/// of return frames lives in a graph-structured stack (`RuleStacks`) and the frame's `hash` names the set of
/// stack nodes right below it. Parses with the same frame are one parse whose stacks are merged, so an ambiguous
/// grammar (`expr ::= term "+" expr | term`, nested) costs as many parses as it has frames, not one per way to
/// read the text. After every byte the parses are settled on a worklist: finished sequences return
/// to the frames below them, rule references and repetitions open their alternatives, until every parse waits at a
/// literal or a character class, or the root is done (`top` nil). Inside a terminal, `c` holds the literal's bytes
/// matched, or for a class the UTF-8 continuation bytes still due (bits 0–1) and the next one's range when a lead
/// byte narrows it (bits 8–23: low | high << 8), with the character's bits so far in `magnitude`.
extension GrammarMatcher {
    /// Parses a state may hold, at most (different frames: positions in the grammar, with their turn counts).
    static let maxRuleParses = 4_096
    /// Work one byte's settling may take, at most (stack nodes popped, pushed or added to a parse).
    static let maxSettleWork = 100_000

    struct RuleKey: Hashable {
        var a: Int32, b: Int32, c: Int32 = 0, d: Int32 = 0, magnitude: Int64 = 0
    }

    /// The parses a rule grammar starts in; empty when the grammar opens more than `maxRuleParses` at once.
    func ruleStart(_ g: RuleGrammar) -> [GrammarConfig] {
        guard let stacks = stacks else { return [] }
        return stacks.withTable { t in
            var s = RuleSettle(grammar: g)
            s.add(RuleSettle.entry(g.root), [RuleStacks.bottom])
            return s.finish(&t, root: grammar.root)
        }
    }

    /// Every parse of `state` past `byte`, settled and merged.
    func ruleStep(_ state: [GrammarConfig], _ byte: UInt8, _ g: RuleGrammar) -> [GrammarConfig] {
        guard let stacks = stacks else { return [] }
        return stacks.withTable { t in
            var s = RuleSettle(grammar: g)
            for c in state {
                guard var top = c.top, top.phase == .rule else { continue }   // a finished root takes no byte
                let below = t.set(Int32(truncatingIfNeeded: top.hash))
                switch g.sequences[Int(top.a)][Int(top.b)] {
                case let .bytes(literal):
                    guard literal[Int(top.c)] == byte else { continue }
                    if Int(top.c) + 1 < literal.count {
                        s.add(RuleKey(a: top.a, b: top.b, c: top.c + 1), below)
                        continue
                    }
                case let .chars(set):
                    guard charStep(set, &top, byte) else { continue }
                    if top.c != 0 {   // inside the character
                        s.add(RuleKey(a: top.a, b: top.b, c: top.c, magnitude: top.magnitude), below)
                        continue
                    }
                case .rule, .repeated: continue   // settled parses wait only at terminals
                }
                s.add(RuleKey(a: top.a, b: top.b + 1), below)
            }
            return s.finish(&t, root: grammar.root)
        }
    }

    /// Whether every settling the grammar can need stays within the bounds (parses, work, stack table), as far as
    /// one stack node shows: tried from each rule's entry (all its alternatives, as a call opens them), from each
    /// position of each alternative after an element that cannot be empty (and a repetition at its least count),
    /// with `budget` the work all of them
    /// together may take. Run when a grammar is read, so a request is refused up front rather than stuck at a byte
    /// the bounds refuse (parses that several positions open at once can still add up past them).
    static func fitsBounds(_ g: RuleGrammar, budget: Int = 8_000_000) -> Bool {
        var table = RuleStacks.Table()
        var spent = 0
        let empty = g.nullable()
        func fits(_ key: RuleKey) -> Bool {
            var settle = RuleSettle(grammar: g)
            settle.add(key, [RuleStacks.bottom])
            let parses = settle.finish(&table, root: 0)
            spent += settle.work
            return !parses.isEmpty && spent <= budget
        }
        // A rule whose one alternative starts by calling `q` opens all that entering `q` does (over a node of its
        // own): `q`'s entry needs no try of its own (a chain of such rules costs one try, not one per link).
        var covered = Set<Int>()
        for alts in g.alternatives where alts.count == 1 {
            if let first = g.sequences[alts[0]].first, case let .rule(q) = first { covered.insert(q) }
        }
        for r in g.alternatives.indices where !g.alternatives[r].isEmpty {
            guard covered.contains(r) || fits(RuleSettle.entry(r)) else { return false }
            for s in g.alternatives[r] {
                let sequence = g.sequences[s]
                // After an element that may be empty, the position before it already covers this one (it can skip it).
                for i in 1..<(sequence.count + 1) where !RuleGrammar.isNullable(sequence[i - 1], empty) {
                    guard fits(RuleKey(a: Int32(s), b: Int32(i))) else { return false }
                }
                for (i, e) in sequence.enumerated() {
                    if case let .repeated(_, min, _) = e, min > 0, !fits(RuleKey(a: Int32(s), b: Int32(i), d: Int32(min))) { return false }
                }
            }
        }
        return true
    }

    /// One byte of a character from `set`: false when no character of the set can begin or continue so.
    func charStep(_ set: CharacterClass, _ top: inout GrammarConfig.Frame, _ byte: UInt8) -> Bool {
        let due = top.c & 3
        if due > 0 {
            let range = top.c >> 8
            let low: UInt8 = range != 0 ? UInt8(range & 0xFF) : 0x80, high: UInt8 = range != 0 ? UInt8(range >> 8) : 0xBF
            guard byte >= low, byte <= high else { return false }
            let acc = top.magnitude << 6 | Int64(byte & 0x3F)
            if due == 1 {
                guard set.contains(UInt32(acc)) else { return false }
                (top.c, top.magnitude) = (0, 0)
                return true
            }
            (top.c, top.magnitude) = (due - 1, acc)
            return set.intersects(Self.lowest(acc, due - 1), Self.highest(acc, due - 1))
        }
        switch byte {
        case 0..<0x80: return set.contains(UInt32(byte))
        case 0xC2...0xF4:
            let (bits, more): (Int64, Int32) = byte >= 0xF0 ? (Int64(byte & 0x07), 3) : byte >= 0xE0 ? (Int64(byte & 0x0F), 2) : (Int64(byte & 0x1F), 1)
            // The second byte's range (low | high << 8) where Unicode narrows it; 0: 0x80...0xBF.
            let range: Int32 = switch byte { case 0xE0: 0xBFA0; case 0xED: 0x9F80; case 0xF0: 0xBF90; case 0xF4: 0x8F80; default: 0 }
            (top.c, top.magnitude) = (more | range << 8, bits)
            return set.intersects(Self.lowest(bits, more), Self.highest(bits, more))
        default: return false
        }
    }
}

/// One settling: frames with the stack nodes below them, merged by frame; a frame met again with new nodes is
/// followed for those nodes only, so the work ends (left recursion, which would push without end, is refused
/// when the grammar is read). Frames are followed level by level, each with all the nodes its level brought, so
/// a frame that several callers reach at once pushes one return node over all of them, not one per caller (a
/// precedence ladder would otherwise push 2^levels nodes). Past a repetition's least count, fewer turns can do all that more can, so a
/// repetition frame (or return node) with more turns than one already there over the same stack is dropped: an
/// empty turn, or an ambiguous count (`(" "? [a-z]+){1,2000}`), adds nothing.
struct RuleSettle {
    typealias Key = GrammarMatcher.RuleKey
    let grammar: RuleGrammar
    var below: [Key: Set<Int32>] = [:]
    /// Nodes met and not yet followed, by frame, and the frames in the order first met (the next level).
    var pending: [Key: [Int32]] = [:]
    var pendingOrder: [Key] = []
    var done = false
    var work = 0
    /// Per repetition position (past its least count) and stack node: the fewest turns seen there.
    var fewestTurns: [RepetitionSlot: Int32] = [:]

    struct RepetitionSlot: Hashable { var a: Int32, b: Int32, node: Int32 }
    /// Set once the work passes its bound: the settling stops.
    var failed = false

    init(grammar: RuleGrammar) { self.grammar = grammar }

    /// The key of entering rule `r` (its callers' return nodes merge there; its alternatives open from it once).
    static func entry(_ r: Int) -> Key { Key(a: -1 - Int32(r), b: 0) }
    /// The key of returning to the nodes below a pass-through node.
    static let returning = Key(a: Int32.min, b: 0)

    /// The least count of the repetition at `a`, `b` (nil: not a repetition, or not a sequence).
    func leastTurns(_ a: Int32, _ b: Int32) -> Int32? {
        guard a >= 0 else { return nil }
        let sequence = grammar.sequences[Int(a)]
        guard Int(b) < sequence.count, case let .repeated(_, min, _) = sequence[Int(b)] else { return nil }
        return Int32(min)
    }

    mutating func add(_ key: Key, _ nodes: [Int32]) {
        guard !failed else { return }
        work += nodes.count
        guard work <= GrammarMatcher.maxSettleWork else { failed = true; return }
        var nodes = nodes
        if key.c == 0, key.magnitude == 0, let least = leastTurns(key.a, key.b), key.d >= least {
            nodes = nodes.filter { n in
                let slot = RepetitionSlot(a: key.a, b: key.b, node: n)
                if let fewest = fewestTurns[slot], fewest <= key.d { return false }
                fewestTurns[slot] = key.d
                return true
            }
            if nodes.isEmpty { return }
        }
        let new: [Int32]
        if below[key] == nil {
            below[key] = Set(nodes)
            new = Array(below[key]!)
        } else {
            new = nodes.filter { below[key]!.insert($0).inserted }
        }
        guard !new.isEmpty else { return }
        if pending[key] == nil {
            pending[key] = new
            pendingOrder.append(key)
        } else {
            pending[key]! += new
        }
    }

    /// Settles the queue and returns the parses, in a canonical order (equal states compare equal, for the mask
    /// cache); empty when the work, the parses or the stack table pass their bounds.
    mutating func finish(_ t: inout RuleStacks.Table, root: Int) -> [GrammarConfig] {
        while !pendingOrder.isEmpty {
            let level = pendingOrder, nodesOf = pending
            (pendingOrder, pending) = ([], [:])
            for key in level {
                guard follow(key, nodesOf[key]!, &t) else { return [] }
            }
        }
        return parses(&t, root: root)
    }

    /// Follows one frame for `nodes`; false past the bounds.
    mutating func follow(_ key: Key, _ nodes: [Int32], _ t: inout RuleStacks.Table) -> Bool {
        work += 1
        guard !failed, work <= GrammarMatcher.maxSettleWork else { return false }
        guard key.c == 0, key.magnitude == 0 else { return true }   // inside a terminal: waits for the next byte
        if key.a < 0, key != Self.returning { return enter(rule: Int(-1 - key.a), from: nodes, &t) }
        if key == Self.returning || Int(key.b) == grammar.sequences[Int(key.a)].count { return returnTo(nodes, t) }
        let sequence = grammar.sequences[Int(key.a)]
        let i = Int(key.b)
        switch sequence[i] {
        case .bytes, .chars: return true
        case let .rule(r):
            // A call in last place needs no frame to come back to.
            var under = nodes
            if i + 1 < sequence.count {
                guard let n = t.push(sequence: key.a, element: key.b + 1, turns: 0, onto: nodes) else { return false }
                under = [n]
            }
            add(Self.entry(r), under)
        case let .repeated(r, min, max):
            let turns = Int(key.d)
            if max.map({ turns < $0 }) ?? true {
                // After this turn: another (counted; past the least count an unbounded repetition's turns all
                // look alike), or, when it is the last allowed, the next element (nothing, in last place).
                var under = nodes
                if let max, turns + 1 == max {
                    if i + 1 < sequence.count {
                        guard let n = t.push(sequence: key.a, element: key.b + 1, turns: 0, onto: nodes) else { return false }
                        under = [n]
                    }
                } else {
                    let next = Int32(max == nil ? Swift.min(turns + 1, min) : turns + 1)
                    guard let n = t.push(sequence: key.a, element: key.b, turns: next, onto: nodes) else { return false }
                    under = [n]
                }
                add(Self.entry(r), under)
            }
            if turns >= min { add(Key(a: key.a, b: key.b + 1), nodes) }
        }
        return !failed
    }

    /// Entering a rule: with several callers and alternatives, one pass-through node over the callers, so k
    /// alternatives cost k + callers, not k × callers.
    mutating func enter(rule r: Int, from nodes: [Int32], _ t: inout RuleStacks.Table) -> Bool {
        var under = nodes
        if nodes.count > 1, grammar.alternatives[r].count > 1 {
            guard let n = t.push(sequence: RuleStacks.passThrough, element: 0, turns: 0, onto: nodes) else { return false }
            under = [n]
        }
        for alt in grammar.alternatives[r] { add(Key(a: Int32(alt), b: 0), under) }
        return !failed
    }

    /// A sequence is done: back to the frames of the nodes below (through pass-through nodes to theirs).
    mutating func returnTo(_ nodes: [Int32], _ t: RuleStacks.Table) -> Bool {
        for n in nodes {
            if n == RuleStacks.bottom { done = true; continue }
            let node = t.nodes[Int(n)]
            if node.sequence == RuleStacks.passThrough {
                add(Self.returning, t.set(node.below))
            } else {
                add(Key(a: node.sequence, b: node.element, d: node.turns), t.set(node.below))
            }
        }
        return !failed
    }

    /// The settled parses, in a canonical order (equal states compare equal, for the mask cache); empty past the
    /// bounds.
    mutating func parses(_ t: inout RuleStacks.Table, root: Int) -> [GrammarConfig] {
        var out: [GrammarConfig] = []
        for (key, nodes) in below where key.a >= 0 {
            let sequence = grammar.sequences[Int(key.a)]
            guard Int(key.b) < sequence.count else { continue }
            switch sequence[Int(key.b)] {
            case .bytes, .chars:
                var frame = GrammarConfig.Frame(node: Int32(root), phase: .rule, a: key.a, b: key.b, c: key.c, d: key.d)
                frame.magnitude = key.magnitude
                guard let set = t.intern(pruned(nodes, t)) else { return [] }
                frame.hash = UInt64(set)
                out.append(GrammarConfig(top: frame))
            case .rule, .repeated: continue
            }
        }
        guard out.count <= GrammarMatcher.maxRuleParses else { return [] }
        out.sort { x, y in
            let p = x.top!, q = y.top!
            return (p.a, p.b, p.c, p.d, p.magnitude, p.hash) < (q.a, q.b, q.c, q.d, q.magnitude, q.hash)
        }
        if done { out.append(GrammarConfig(top: nil)) }
        return out
    }

    /// A set of return nodes, sorted, without the repetition nodes that another one with fewer turns (past the
    /// least count) over the same stack makes redundant.
    func pruned(_ nodes: Set<Int32>, _ t: RuleStacks.Table) -> [Int32] {
        var fewest: [RuleStacks.Node: Int32] = [:]   // turns zeroed: the slot
        var redundant = false
        for n in nodes where n != RuleStacks.bottom {
            let node = t.nodes[Int(n)]
            guard let least = leastTurns(node.sequence, node.element), node.turns >= least else { continue }
            var slot = node
            slot.turns = 0
            if let f = fewest[slot] { redundant = true; fewest[slot] = Swift.min(f, node.turns) } else { fewest[slot] = node.turns }
        }
        guard redundant else { return nodes.sorted() }
        return nodes.filter { n in
            guard n != RuleStacks.bottom else { return true }
            let node = t.nodes[Int(n)]
            guard let least = leastTurns(node.sequence, node.element), node.turns >= least else { return true }
            var slot = node
            slot.turns = 0
            return fewest[slot] == node.turns
        }.sorted()
    }
}

/// The graph-structured stack of one request's rule-grammar parses: return frames as interned nodes (a frame and
/// the set of nodes below it) and interned sets of nodes, so equal stacks have equal ids however they were reached.
final class RuleStacks: @unchecked Sendable {
    struct Node: Hashable {
        var sequence: Int32, element: Int32, turns: Int32
        /// The set of nodes below.
        var below: Int32
    }

    /// The node below the root's parses: returning to it finishes the root.
    static let bottom: Int32 = 0
    /// The `sequence` of a pass-through node: returning to it returns to every node below it.
    static let passThrough: Int32 = -1
    /// Nodes, and node ids over all sets, kept at most: a grammar that needs more refuses the bytes that would.
    static let maxNodes = 1 << 20, maxSetElements = 1 << 23

    struct Table {
        var nodes: [Node] = [Node(sequence: -1, element: -1, turns: 0, below: 0)]
        var nodeIDs: [Node: Int32] = [:]
        var sets: [[Int32]] = [[RuleStacks.bottom]]
        var setIDs: [[Int32]: Int32] = [[RuleStacks.bottom]: 0]
        var setElements = 1

        func set(_ id: Int32) -> [Int32] { sets[Int(id)] }

        /// The id of a set of nodes (sorted); nil past `maxSetElements`.
        mutating func intern(_ sorted: [Int32]) -> Int32? {
            if let id = setIDs[sorted] { return id }
            guard setElements + sorted.count <= RuleStacks.maxSetElements else { return nil }
            setElements += sorted.count
            sets.append(sorted)
            setIDs[sorted] = Int32(sets.count - 1)
            return Int32(sets.count - 1)
        }

        /// The node of a return frame on top of `nodes`; nil past the bounds.
        mutating func push(sequence: Int32, element: Int32, turns: Int32, onto nodes: [Int32]) -> Int32? {
            guard let below = intern(nodes.sorted()) else { return nil }
            let node = Node(sequence: sequence, element: element, turns: turns, below: below)
            if let id = nodeIDs[node] { return id }
            guard self.nodes.count < RuleStacks.maxNodes else { return nil }
            self.nodes.append(node)
            nodeIDs[node] = Int32(self.nodes.count - 1)
            return Int32(self.nodes.count - 1)
        }
    }

    private let lock = NSLock()
    private var table = Table()

    func withTable<T>(_ body: (inout Table) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&table)
    }
}
