import CKernels
import Testing
@testable import Device

/// A cache whose entries are kept in fields (one per KV head's K or V, as the GQA models make it) holds and
/// returns the same numbers as one that keeps whole entries, in the documented memory order, and attention
/// over it gives the same bits: prompt chunks, a decode batch and the split decode of a lone sequence.
@Suite struct KVFieldLayoutTests {
    /// Stores of any column range (within a field, across fields, whole entries) read back the same from both
    /// layouts, and field f of slot s sits at (f · slotCount + s) · fieldWidth elements from the layer start.
    @Test(arguments: KVElement.allCases)
    func storesReadBackAndLieInFieldOrder(element: KVElement) {
        var seed: UInt64 = 11
        let (width, field) = (24, 6)
        let whole = KVBlockStorage(layers: 2, blockCount: 3, blockSize: 4, width: width, element: element)
        let fields = KVBlockStorage(layers: 2, blockCount: 3, blockSize: 4, width: width, fieldWidth: field, element: element)
        for (offset, count) in [(0, 24), (5, 9), (12, 6), (13, 2), (0, 1), (23, 1)] {
            for (layer, slot) in [(0, 0), (1, 11), (1, 5)] {
                let x = CPUKernelParityTests.random(count, seed: &seed)
                x.withUnsafeBufferPointer { b in
                    whole.store(b, layer: layer, slot: slot, offset: offset)
                    fields.store(b, layer: layer, slot: slot, offset: offset)
                }
                #expect(whole.entry(layer: layer, slot: slot) == fields.entry(layer: layer, slot: slot), "columns \(offset)..<\(offset + count)")
            }
        }
        let entry = fields.entry(layer: 1, slot: 5)
        #expect(entry.contains { $0 != 0 })
        let layerStart = fields.fieldBase(layer: 1, column: 0)
        for column in 0..<width {
            let (f, c) = column.quotientAndRemainder(dividingBy: field)
            var stored: Float = 0
            ck_kv_load(element.code, layerStart + ((f * fields.slotCount + 5) * field + c) * element.bytes, 1, &stored)
            #expect(stored == entry[column], "column \(column)")
            #expect(fields.fieldBase(layer: 1, column: column) == layerStart + (f * fields.slotCount * field + c) * element.bytes)
        }
    }

    /// pagedAttention over per-head fields equals pagedAttention over whole entries bit for bit: a prompt
    /// chunk, a 16-sequence decode step, and one sequence decoding alone from a context long enough to split.
    @Test func attentionOverFieldsEqualsAttentionOverWholeEntries() {
        let device = CPUDevice()
        var seed: UInt64 = 3
        let (h, g, d) = (9, 3, 64)
        let shape = AttentionShape(heads: h, kvHeads: g, headDim: d, scale: 0.125)
        let n = CPUDevice.splitAttentionVisible + 21, perSequence = (n + 16) / 16, sequences = 16
        let layouts = [KVBlockStorage(layers: 1, blockCount: sequences * perSequence, blockSize: 16, width: 2 * g * d),
                       KVBlockStorage(layers: 1, blockCount: sequences * perSequence, blockSize: 16, width: 2 * g * d, fieldWidth: d)]
        // Interleaved block tables, as sequences growing side by side get them.
        let tables = (0..<sequences).map { s in (0..<perSequence).map { $0 * sequences + s } }
        for table in tables {
            // K and V written apart, as the models write them (V's columns start inside the entry).
            let keys = Matrix(rows: n, cols: g * d, data: CPUKernelParityTests.random(n * g * d, seed: &seed))
            let values = Matrix(rows: n, cols: g * d, data: CPUKernelParityTests.random(n * g * d, seed: &seed))
            let slots = (0..<n).map { layouts[0].slot(position: $0, blockTable: table) }
            for cache in layouts {
                device.writeCache(cache, layer: 0, slots: slots, values: keys, offset: 0)
                device.writeCache(cache, layer: 0, slots: slots, values: values, offset: g * d)
            }
        }
        #expect(layouts[0].entry(layer: 0, slot: 77) == layouts[1].entry(layer: 0, slot: 77))
        let q = Matrix(rows: 40, cols: h * d, data: CPUKernelParityTests.random(40 * h * d, seed: &seed).map { $0 * 3 })
        let steps: [(String, Matrix, [PagedSequence])] = [
            ("prompt chunk", q.rows(0..<24), [PagedSequence(rows: 0..<24, blockTable: tables[2], positions: Array(100..<124))]),
            ("decode batch", q.rows(0..<16), (0..<sequences).map { PagedSequence(rows: $0..<($0 + 1), blockTable: tables[$0], positions: [n - 1 - $0]) }),
            ("split decode", q.rows(39..<40), [PagedSequence(rows: 0..<1, blockTable: tables[5], positions: [n - 1])]),
        ]
        for (name, rows, sequenceList) in steps {
            let outputs = layouts.map { device.pagedAttention(q: rows, cache: $0, layer: 0, sequences: sequenceList, shape: shape) }
            let same = outputs[0].data == outputs[1].data
            #expect(same, "\(name)")
            #expect(outputs[1].data.contains { $0 != 0 } && !outputs[1].data.contains { $0.isNaN }, "\(name)")
        }
        let ref = ReferenceKernels.pagedAttention(q: q.rows(39..<40), cache: layouts[1], layer: 0, blockTable: tables[5], positions: [n - 1],
                                                  shape: shape)
        let split = device.pagedAttention(q: q.rows(39..<40), cache: layouts[1], layer: 0, blockTable: tables[5], positions: [n - 1], shape: shape)
        #expect(zip(split.data, ref.data).allSatisfy { abs($0 - $1) <= 1e-5 })
    }
}
