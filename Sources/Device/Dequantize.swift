/// Portable reference dequantisation for every `DType`. Fast paths elsewhere are tested against these.
public enum Dequantize {
    /// Converts `count` elements of `dtype` starting at `source` into fp32.
    /// `count` must be a whole number of blocks and `source` must hold them (callers check).
    public static func row(_ dtype: DType, source: UnsafeRawBufferPointer, count: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(dst.count >= count)
        let blocks = count / dtype.blockSize
        switch dtype {
        case .f32:
            for i in 0..<count { dst[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { dst[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .f8e4m3:
            for i in 0..<count { dst[i] = e4m3Table[Int(source[i])] }
        case .q8_0:
            // block: d (fp16), q[32] int8; x = q · d
            for b in 0..<blocks {
                let base = b * 34
                let d = halfAt(source, base)
                for j in 0..<32 { dst[b * 32 + j] = Float(Int8(bitPattern: source[base + 2 + j])) * d }
            }
        case .q4_0:
            // block: d (fp16), qs[16]; element j < 16 is the low nibble of qs[j], j ≥ 16 the high one; x = (q − 8) · d
            for b in 0..<blocks {
                let base = b * 18
                let d = halfAt(source, base)
                for j in 0..<16 {
                    let byte = source[base + 2 + j]
                    dst[b * 32 + j] = Float(Int(byte & 0x0F) - 8) * d
                    dst[b * 32 + j + 16] = Float(Int(byte >> 4) - 8) * d
                }
            }
        case .q4_1:
            // block: d (fp16), m (fp16), qs[16]; same nibble order as Q4_0; x = q · d + m
            for b in 0..<blocks {
                let base = b * 20
                let d = halfAt(source, base)
                let m = halfAt(source, base + 2)
                for j in 0..<16 {
                    let byte = source[base + 4 + j]
                    dst[b * 32 + j] = Float(byte & 0x0F) * d + m
                    dst[b * 32 + j + 16] = Float(byte >> 4) * d + m
                }
            }
        }
    }

    @inline(__always)
    static func halfAt(_ p: UnsafeRawBufferPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Every FP8 E4M3 byte as fp32: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is
    /// subnormal (m/8 · 2⁻⁶); S.1111.111 is NaN; there are no infinities (max ±448).
    public static let e4m3Table: [Float] = (0..<256).map { e4m3ToFloat(UInt8($0)) }

    public static func e4m3ToFloat(_ bits: UInt8) -> Float {
        let sign: Float = bits & 0x80 != 0 ? -1 : 1
        let exponent = Int((bits >> 3) & 0x0F), mantissa = Float(bits & 0x07)
        if exponent == 0x0F && bits & 0x07 == 0x07 { return .nan }
        if exponent == 0 { return sign * mantissa / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// bf16 is the top half of an fp32 bit pattern.
    @inline(__always)
    public static func bf16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
