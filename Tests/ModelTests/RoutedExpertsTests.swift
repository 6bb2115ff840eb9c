import Testing
@testable import Model

/// The routed experts' bookkeeping: rows grouped by expert, tokens in order within an expert (the
/// order the grouped matmul and the weighted scatter-add use).
@Suite struct RoutedExpertsTests {
    @Test func rowsAreSortedByExpertThenToken() {
        let routing = ExpertRouting([
            [ExpertChoice(expert: 3, weight: 0.5), ExpertChoice(expert: 0, weight: 0.25)],
            [ExpertChoice(expert: 0, weight: 0.75), ExpertChoice(expert: 5, weight: 0.125)],
            [ExpertChoice(expert: 5, weight: 4), ExpertChoice(expert: 1, weight: 3)],
            [ExpertChoice(expert: 3, weight: 1), ExpertChoice(expert: 0, weight: 2)],
        ])
        #expect(routing.tokens == 4 && routing[2] == [ExpertChoice(expert: 5, weight: 4), ExpertChoice(expert: 1, weight: 3)])
        let (sizes, tokens, weights) = RoutedExperts.rowsByExpert(routing, experts: 6)
        #expect(sizes == [3, 1, 0, 2, 0, 2])
        #expect(tokens == [0, 1, 3, 2, 0, 3, 1, 2])
        #expect(weights == [0.25, 0.75, 2, 3, 0.5, 1, 0.125, 4])
    }

    @Test func noRoutedTokensGiveEmptyRows() {
        let (sizes, tokens, weights) = RoutedExperts.rowsByExpert(ExpertRouting([[], []]), experts: 4)
        #expect(sizes == [0, 0, 0, 0] && tokens.isEmpty && weights.isEmpty)
    }

    /// The router's top-k by insertion equals the full sort on values with ties (drawn from a few levels),
    /// −∞ (masked groups), k of 0, 1, all and more than all.
    @Test func topIndicesByInsertionEqualsTheSort() {
        var seed: UInt64 = 17
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        for n in [1, 5, 8, 64, 256] {
            for _ in 0..<20 {
                let values = (0..<n).map { _ -> Float in
                    let r = next() % 10
                    return r == 0 ? -.infinity : Float(r % 4) * 0.25   // four levels: many ties
                }
                for k in [0, 1, 2, 6, 8, 16, n, n + 3] where k <= 16 || k == n + 3 {
                    #expect(MoEGate.topIndices(values, k) == MoEGate.sortedTopIndices(values, k), "n \(n) k \(k) \(values)")
                }
                // The router's buffer form, for every k (more than 16 goes through the sort).
                for k in [0, 1, 2, 8, 16, 17, 40, n, n + 3] {
                    let top = [Int](unsafeUninitializedCapacity: k + 1) { buffer, count in
                        count = values.withUnsafeBufferPointer { MoEGate.topIndices($0, k, into: buffer.baseAddress!) }
                    }
                    #expect(top == MoEGate.sortedTopIndices(values, k), "buffer form, n \(n) k \(k)")
                }
            }
        }
    }
}
