import Testing
@testable import Model

/// The routed experts' bookkeeping: rows grouped by expert, tokens in order within an expert (the
/// order the grouped matmul and the weighted scatter-add use).
@Suite struct RoutedExpertsTests {
    @Test func rowsAreSortedByExpertThenToken() {
        let routing: [[ExpertChoice]] = [
            [ExpertChoice(expert: 3, weight: 0.5), ExpertChoice(expert: 0, weight: 0.25)],
            [ExpertChoice(expert: 0, weight: 0.75), ExpertChoice(expert: 5, weight: 0.125)],
            [],
            [ExpertChoice(expert: 3, weight: 1), ExpertChoice(expert: 0, weight: 2)],
        ]
        let (sizes, tokens, weights) = RoutedExperts.rowsByExpert(routing, experts: 6)
        #expect(sizes == [3, 0, 0, 2, 0, 1])
        #expect(tokens == [0, 1, 3, 0, 3, 1])
        #expect(weights == [0.25, 0.75, 2, 0.5, 1, 0.125])
    }

    @Test func noRoutedTokensGiveEmptyRows() {
        let (sizes, tokens, weights) = RoutedExperts.rowsByExpert([[], []], experts: 4)
        #expect(sizes == [0, 0, 0, 0] && tokens.isEmpty && weights.isEmpty)
    }
}
