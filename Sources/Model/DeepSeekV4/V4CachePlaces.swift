import Device

/// Where one kind of a layer's cache state lives during a forward pass: which block store, which of
/// its layers, from which column, and how an index (a token position, or a compressed entry's number)
/// maps to a slot through the chunk's block table.
struct CachePlace: @unchecked Sendable {
    let storage: KVBlockStorage
    let layer: Int
    let column: Int
    /// The chunk's `groupBlockTables` index, or nil for `blockTable` (the uniform layout).
    let group: Int?
    /// Position in the block table's address space of index i (uniform entries: the token closing window i).
    let tokensPerIndex: Int
    let lastTokenOfIndex: Bool

    init(storage: KVBlockStorage, layer: Int, column: Int, group: Int? = nil, tokensPerIndex: Int = 1) {
        self.storage = storage
        self.layer = layer
        self.column = column
        self.group = group
        self.tokensPerIndex = tokensPerIndex
        lastTokenOfIndex = tokensPerIndex > 1
    }

    /// The slot of index i (a position, or an entry number) of one sequence.
    func slot(_ i: Int, _ chunk: SequenceChunk) -> Int {
        let table = group.map { chunk.groupBlockTables[$0] } ?? chunk.blockTable
        return storage.slot(position: lastTokenOfIndex ? (i + 1) * tokensPerIndex - 1 : i, blockTable: table)
    }

    /// The slots of every token of the step (for per-token state).
    func tokenSlots(_ step: StepContext) -> [Int] {
        step.batch.chunks.flatMap { chunk in chunk.positions.map { slot($0, chunk) } }
    }

    /// `count` columns from `column` + `offset` of the rows at `indices` of one sequence: [n, count].
    func read(_ indices: Range<Int>, _ chunk: SequenceChunk, offset: Int = 0, count: Int, device: any Device) -> Matrix {
        let rows = device.readCache(storage, layer: layer, slots: indices.map { slot($0, chunk) })
        return rows.columns((column + offset)..<(column + offset + count))
    }

    func write(_ values: Matrix, slots: [Int], offset: Int = 0, device: any Device) {
        device.writeCache(storage, layer: layer, slots: slots, values: values, offset: column + offset)
    }
}

/// The places of one V4 layer's state: its window kv, and for compressed layers the compressor's raw
/// projections and entries, and for CSA the indexer's.
struct V4LayerPlaces {
    let window: CachePlace
    let compressor: (raw: CachePlace, entries: CachePlace)?
    let indexer: (raw: CachePlace, entries: CachePlace)?
}
