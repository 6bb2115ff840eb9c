import Device
import Model
@testable import Engine

/// A model with no tensors: the next token is (last token + 1) mod vocab, as one-hot logits.
/// Enough to test scheduling, stop rules and events without real weights. Records every batch.
/// Its hidden state (`ForwardOutput.hidden`) at a position is `CountingModel.hidden(token:position:)`.
final class CountingModel: LanguageModel, @unchecked Sendable {
    let vocabularySize: Int
    let hiddenSize = 3
    let contextLength: Int
    let device: any Device
    let cacheLayout = KVCacheLayout(layers: 1, width: 1)
    private(set) var batches: [ForwardBatch] = []
    /// On a device with a simulated clock, each forward pass advances it by this much device time.
    static let simulatedStepSeconds = 0.001

    init(vocab: Int = 50, context: Int = 64, device: any Device = CPUDevice()) {
        vocabularySize = vocab
        contextLength = context
        self.device = device
    }

    func forward(_ batch: ForwardBatch, cache: KVBlockStorage) -> Matrix {
        batches.append(batch)
        var step = OpCost(name: "step")
        step.pipes[.cube] = Self.simulatedStepSeconds
        device.simulatedClock?.advance(by: step)
        var rows: [Float] = []
        for ch in batch.chunks {
            // Write each token into its slot so tests can check block tables really hold the sequence.
            for (i, p) in ch.positions.enumerated() {
                [Float(ch.tokens[i])].withUnsafeBufferPointer {
                    cache.store($0, layer: 0, slot: cache.slot(position: p, blockTable: ch.blockTable), offset: 0)
                }
            }
            let picked = ch.logits == .all ? Array(ch.positions) : (ch.logits == .last ? [ch.positions.upperBound - 1] : [])
            for p in picked {
                let t = ch.tokens[p - ch.startPosition]
                if batch.output == .hidden {
                    rows += Self.hidden(token: t, position: p)
                    continue
                }
                var row = [Float](repeating: 0, count: vocabularySize)
                row[(t + 1) % vocabularySize] = 10
                rows += row
            }
        }
        let width = batch.output == .hidden ? hiddenSize : vocabularySize
        return Matrix(rows: rows.count / width, cols: width, data: rows)
    }

    /// The hidden state the model gives `token` at `position`.
    static func hidden(token: Int, position: Int) -> [Float] { [Float(token), Float(position), 1] }
}

/// Records one request's events.
final class Recorder: @unchecked Sendable {
    var events: [TokenEvent] = []
    var handler: @Sendable (TokenEvent) -> Void { { [self] e in self.events.append(e) } }
    var tokens: [Int] { events.compactMap { if case let .token(id, _, _) = $0 { return id } else { return nil } } }
    var text: String {
        events.map { e -> String in
            switch e {
            case let .token(_, t, _), let .text(t): return t
            default: return ""
            }
        }.joined()
    }
    var terminal: [TokenEvent] {
        events.filter {
            switch $0 {
            case .token, .text, .promptLogprobs, .embedding: return false
            case .finished, .failed: return true
            }
        }
    }
    var embeddings: [[Float]] { events.compactMap { if case let .embedding(v) = $0 { return v } else { return nil } } }
    var promptLogprobs: [[TokenLogprobs]] { events.compactMap { if case let .promptLogprobs(l) = $0 { return l } else { return nil } } }
    var finishReason: FinishReason? { if case let .finished(r, _)? = terminal.last { return r }; return nil }
    var usage: Usage? { if case let .finished(_, u)? = terminal.last { return u }; return nil }
}
