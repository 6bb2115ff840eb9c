/// Rule grammars (`RuleGrammar`, the root of an output grammar): a parse is a stack of frames, each at an element of
/// a sequence (phase `.rule`: `a` = the sequence, `b` = the element, `d` = the turns a repetition there has taken).
/// After every byte each parse is settled: finished sequences return to the frame that opened them, rule references
/// and repetitions open their alternatives, until every parse waits at a literal or a character class, or the root
/// is done (`top` nil). Inside a terminal, `c` holds the literal's bytes matched, or for a class the UTF-8
/// continuation bytes still due (bits 0–1) and the next one's range when a lead byte narrows it (bits 8–23: low |
/// high << 8), with the character's bits so far in `magnitude`.
extension GrammarMatcher {
    /// On a frame below the top: it was pushed by a repetition's turn in the settling under way (so a return to it
    /// means the turn read nothing, which skipping the turn already covers).
    static let freshTurn: Int32 = 1

    func ruleFrame(_ sequence: Int, _ element: Int, turns: Int32 = 0) -> GrammarConfig.Frame {
        .init(node: Int32(grammar.root), phase: .rule, a: Int32(sequence), b: Int32(element), d: turns)
    }

    func ruleStart(_ g: RuleGrammar) -> [GrammarConfig] {
        var out: [GrammarConfig] = []
        var seen = Set<GrammarConfig>()
        for s in g.alternatives[g.root] { settle(GrammarConfig(top: ruleFrame(s, 0)), g, into: &out, seen: &seen) }
        return out
    }

    func ruleStep(_ c: GrammarConfig, _ top: GrammarConfig.Frame, _ byte: UInt8, into out: inout [GrammarConfig]) {
        guard let g = grammar.rules else { return }
        var top = top
        switch g.sequences[Int(top.a)][Int(top.b)] {
        case let .bytes(literal):
            guard literal[Int(top.c)] == byte else { return }
            if Int(top.c) + 1 < literal.count {
                top.c += 1
                var c = c
                c.top = top
                out.append(c)
                return
            }
        case let .chars(set):
            guard charStep(set, &top, byte) else { return }
            if top.c != 0 {   // inside the character
                var c = c
                c.top = top
                out.append(c)
                return
            }
        case .rule, .repeated: return   // settled parses wait only at terminals
        }
        var next = c
        next.top = ruleFrame(Int(top.a), Int(top.b) + 1)
        var seen = Set<GrammarConfig>()
        settle(next, g, into: &out, seen: &seen)
    }

    /// Follows `c` through everything that reads no byte (see the extension's comment). `seen` holds the returns
    /// already followed: two ways to match nothing lead to the same parse, which is followed once.
    func settle(_ c: GrammarConfig, _ g: RuleGrammar, into out: inout [GrammarConfig], seen: inout Set<GrammarConfig>) {
        guard let top = c.top else { return }
        let sequence = g.sequences[Int(top.a)]
        let i = Int(top.b)
        if i == sequence.count {
            guard seen.insert(c).inserted else { return }
            var c = c
            guard let parent = c.rest.popLast() else {
                c.top = nil   // the root is done
                out.append(c)
                return
            }
            if parent.c & Self.freshTurn != 0 { return }
            c.top = parent
            settle(c, g, into: &out, seen: &seen)
            return
        }
        switch sequence[i] {
        case .bytes, .chars:
            var c = c
            for j in c.rest.indices where c.rest[j].c != 0 { c.rest[j].c = 0 }   // turns begun here now read bytes
            out.append(c)
        case let .rule(r):
            var c = c
            if i + 1 < sequence.count {   // a call in last place needs no frame to come back to
                guard c.rest.count < Self.maxFrames else { return }
                c.rest.append(ruleFrame(Int(top.a), i + 1))
            }
            for s in g.alternatives[r] {
                c.top = ruleFrame(s, 0)
                settle(c, g, into: &out, seen: &seen)
            }
        case let .repeated(r, min, max):
            let turns = Int(top.d)
            if max.map({ turns < $0 }) ?? true, c.rest.count < Self.maxFrames {
                var c = c
                // Past the least count an unbounded repetition's turns all look alike.
                var back = ruleFrame(Int(top.a), i, turns: Int32(max == nil ? Swift.min(turns + 1, min) : turns + 1))
                back.c = Self.freshTurn
                c.rest.append(back)
                for s in g.alternatives[r] {
                    c.top = ruleFrame(s, 0)
                    settle(c, g, into: &out, seen: &seen)
                }
            }
            if turns >= min {
                var c = c
                c.top = ruleFrame(Int(top.a), i + 1)
                settle(c, g, into: &out, seen: &seen)
            }
        }
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
