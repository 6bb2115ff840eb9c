import Testing
@testable import Device

/// The fractal NZ layout and the number formats of the simulated NPU.
@Suite struct FractalNZTests {
    @Test(arguments: [(1, 1, 16), (16, 16, 16), (20, 40, 16), (33, 7, 32), (5, 64, 32), (0, 3, 16)])
    func packUnpackRoundTrips(rows: Int, cols: Int, c0: Int) {
        let layout = FractalNZ(rows: rows, cols: cols, c0: c0)
        let a = (0..<(rows * cols)).map { Float($0) + 1 }
        let nz = layout.pack(a, zero: 0)
        #expect(nz.count == layout.count)
        #expect(layout.count % (16 * c0) == 0, "whole fractals")
        #expect(layout.unpack(nz) == a)
        // Every padding element is zero and every value appears once.
        #expect(nz.filter { $0 == 0 }.count == layout.count - rows * cols)
        #expect(Set(nz.filter { $0 != 0 }).count == rows * cols)
    }

    @Test func elementOffsetsFollowTheNZFormula() {
        // [20, 40] bf16 (c0 16): rows pad to 32, 3 column blocks of 32 × 16; element (17, 33) lies in
        // column block 2, row 17, column 1 of the block: (2·32 + 17)·16 + 1 = 1297.
        let layout = FractalNZ(rows: 20, cols: 40, c0: 16)
        #expect(layout.rowsPadded == 32 && layout.colBlocks == 3 && layout.count == 1536)
        #expect(layout.offset(row: 17, col: 33) == 1297)
        // One fractal (16 rows × c0) is contiguous: rows 0..<16 of column block 1 fill 256..<512.
        let offsets = (0..<16).flatMap { i in (16..<32).map { layout.offset(row: i, col: $0) } }
        #expect(offsets == Array(512..<768))
        #expect(FractalNZ.c0(elementBytes: 2) == 16 && FractalNZ.c0(elementBytes: 1) == 32)
    }

    @Test func bf16RoundsToNearestEven() {
        let r = AscendPrecision.roundBF16
        #expect(r(1) == 1)
        #expect(r(1 + 1.0 / 256) == 1, "halfway between 1 and 1 + 2⁻⁷: ties to the even mantissa")
        #expect(r(1 + 3.0 / 256) == 1 + 4.0 / 256, "halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties to even")
        #expect(r(1 + 1.0 / 256 + 1.0 / 4096) == 1 + 1.0 / 128, "above halfway rounds up")
        #expect(r(-3.14159265) == -3.140625)
        #expect(r(.nan).isNaN && r(.infinity) == .infinity)
        #expect(AscendPrecision.fp16.round(1 + 1.0 / 4096) == 1, "fp16 keeps 10 mantissa bits")
    }

    @Test func int8RowsQuantiseSymmetricallyPerRow() {
        let q = Int8Rows(rows: 2, cols: 3, [0.5, -1.27, 0.01, 0, 0, 0])
        #expect(q.scales == [Float(1.27) / 127, 1])
        #expect(q.values == [50, -127, 1, 0, 0, 0])
        let back = q.dequantised()
        for (a, b) in zip(back, [0.5, -1.27, 0.01, 0, 0, 0] as [Float]) { #expect(abs(a - b) <= q.scales[0] / 2 + 1e-7) }
    }

    @Test(arguments: AscendPrecision.allCases)
    func fractalWeightStoresTheRoundedValuesInNZ(precision: AscendPrecision) {
        var seed: UInt64 = 99
        let (n, k) = (19, 45)
        let w = CPUKernelParityTests.random(n * k, seed: &seed)
        let f = FractalWeight(rows: n, cols: k, values: w, precision: precision)
        let back = f.rowMajor()
        if precision == .w8a8 {
            #expect(f.layout.c0 == 32 && f.deviceBytes == f.layout.count + 4 * n)
            let q = Int8Rows(rows: n, cols: k, w)
            #expect(back == q.dequantised())
        } else {
            #expect(f.layout.c0 == 16 && f.deviceBytes == 2 * f.layout.count)
            #expect(back == w.map(precision.round))
        }
        var row = [Float](repeating: 0, count: k)
        row.withUnsafeMutableBufferPointer { f.copyRow(7, into: $0) }
        #expect(row == Array(back[(7 * k)..<(8 * k)]))
    }
}
