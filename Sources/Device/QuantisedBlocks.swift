import CKernels

/// A `[rows, cols]` weight kept in a GGUF block format (Q4_0, Q4_1, Q8_0: 32 elements per block),
/// each row `rowBytes` long, exactly as the checkpoint stores it — or in bf16 (`--quantization bf16`, one
/// element per "block", read by the bf16 kernel). Owns a copy of the bytes (on the CPU device, packed
/// into its huge-page `WeightArena`).
public struct QuantisedBlocks: Sendable {
    /// Block formats the quantised kernels read.
    public static let formats: Set<DType> = [.q4_0, .q4_1, .q8_0]
    /// Every format this type holds: the block formats and bf16.
    static let heldFormats: Set<DType> = formats.union([.bf16])

    public let dtype: DType
    public let rows: Int
    public let cols: Int
    /// The blocks in the checkpoint's row layout (`rowBytes` per row), or nil when they are held as `tiles`.
    public let rowStorage: WeightBytes?
    /// The blocks re-laid in tiles of 8 rows for the int8-activation kernels (CKernels/QuantTiles.c), or nil.
    /// The CPU device holds these instead of the rows where a pass multiplies int8 activations (`tiled(into:)`).
    public let tiles: WeightBytes?

    /// The row-layout blocks of a weight that holds them (every weight but a tiles-only one).
    public var bytes: WeightBytes {
        guard let rowStorage else { preconditionFailure("QuantisedBlocks: a \(dtype) weight held only in tiles has no row bytes") }
        return rowStorage
    }

    public var rowBytes: Int { cols / dtype.blockSize * dtype.blockBytes }

    /// Copies `source` (rows · rowBytes bytes). `cols` must be a multiple of the block size.
    public init(dtype: DType, rows: Int, cols: Int, source: UnsafeRawBufferPointer) {
        precondition(Self.heldFormats.contains(dtype) && cols % dtype.blockSize == 0, "QuantisedBlocks: \(dtype) with \(cols) columns")
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        let count = rows * (cols / dtype.blockSize) * dtype.blockBytes
        precondition(source.count >= count, "QuantisedBlocks: \(source.count) bytes, shape needs \(count)")
        rowStorage = WeightBytes(copying: UnsafeRawBufferPointer(rebasing: source[0..<count]))
        tiles = nil
    }

    private init(dtype: DType, rows: Int, cols: Int, rowStorage: WeightBytes?, tiles: WeightBytes?) {
        precondition(rowStorage != nil || tiles != nil)
        (self.dtype, self.rows, self.cols, self.rowStorage, self.tiles) = (dtype, rows, cols, rowStorage, tiles)
    }

    /// The same weight with its bytes copied into `arena`.
    func packed(into arena: WeightArena) -> QuantisedBlocks {
        QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, rowStorage: rowStorage.map { r in r.withUnsafeBytes { arena.copy($0) } },
                        tiles: tiles.map { t in t.withUnsafeBytes { arena.copy($0) } })
    }

    /// Whether `tiled` can lay this weight out in tiles (Q4_0, Q4_1, Q8_0).
    public var tileable: Bool { dtype.blockSize == 32 && ck_tiles_supported(Int32(dtype.rawValue)) != 0 }

    /// The same weight in 8-row tiles (`tiles`) in `arena`, in place of its rows (the kernels gather rows
    /// back from the tiles where they need them).
    func tiled(into arena: WeightArena) -> QuantisedBlocks {
        QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, rowStorage: nil, tiles: tileLayout().withUnsafeBytes { arena.copy($0) })
    }

    /// This weight with its tiles, which int8 activations multiply: itself when it holds them, else a copy
    /// that adds them in ordinary memory (a weight made outside a device, as the tests make them).
    public func withTiles() -> QuantisedBlocks {
        if tiles != nil { return self }
        return QuantisedBlocks(dtype: dtype, rows: rows, cols: cols, rowStorage: rowStorage,
                               tiles: tileLayout().withUnsafeBytes { WeightBytes(copying: $0) })
    }

    /// The row blocks laid out in tiles (ck_tile_weights).
    private func tileLayout() -> [UInt8] {
        precondition(tileable, "QuantisedBlocks: no tiles for \(dtype)")
        let code = Int32(dtype.rawValue)
        let count = ck_tile_bytes(code, rows, cols)
        return [UInt8](unsafeUninitializedCapacity: count) { out, n in
            bytes.withUnsafeBufferPointer { ck_tile_weights(code, $0.baseAddress!, rowBytes, rows, cols, out.baseAddress!) }
            n = count
        }
    }

    /// Bytes held: the row blocks and the tiles.
    public var residentBytes: Int { (rowStorage?.count ?? 0) + (tiles?.count ?? 0) }

    /// Row r as fp32 with the reference dequantiser (from the tiles when the rows are not held).
    public func dequantiseRow(_ r: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        let rowBytes = self.rowBytes
        if rowStorage == nil {
            // The row's blocks gathered back from the tiles into GGUF's layout, then dequantised as stored.
            let code = Int32(dtype.rawValue)
            // In this thread's scratch (ck_untile_row writes every byte of the row): an array per row was an
            // allocation per token of every embedding lookup.
            ArrayPools.current.withByteScratch(count: rowBytes) { row in
                tiles!.withUnsafeBufferPointer { ck_untile_row(code, $0.baseAddress!, r, cols, row) }
                Dequantize.row(dtype, source: UnsafeRawBufferPointer(start: row, count: rowBytes), count: cols, into: dst)
            }
            return
        }
        bytes.withUnsafeBytes { raw in
            let row = UnsafeRawBufferPointer(rebasing: raw[(r * rowBytes)..<((r + 1) * rowBytes)])
            Dequantize.row(dtype, source: row, count: cols, into: dst)
        }
    }

    /// The whole weight as fp32 with the reference dequantiser.
    public func dequantised() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        if rowStorage == nil {
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows { dequantiseRow(r, into: UnsafeMutableBufferPointer(rebasing: o[(r * cols)..<((r + 1) * cols)])) }
            }
            return out
        }
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { Dequantize.row(dtype, source: raw, count: rows * cols, into: $0) }
        }
        return out
    }
}
