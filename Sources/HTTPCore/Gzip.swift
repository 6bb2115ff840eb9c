import CZlib

/// A gzip (RFC 1952) deflate stream. Not thread-safe: one owner at a time.
///
/// NOTE: zlib keeps a pointer back to its `z_stream`, so the stream lives in its own allocation and
/// never moves.
final class GzipCompressor {
    private let stream: UnsafeMutablePointer<z_stream>

    /// `level` 1...9.
    init(level: Int) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = moeserve_deflate_init_gzip(stream, Int32(level))
        precondition(status == Z_OK, "deflateInit2 failed (\(status)); zlib is out of memory")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input` and flushes, so everything written so far can be decoded by the client
    /// (`Z_SYNC_FLUSH`): used per chunk of a streamed response.
    func compressAndFlush(_ input: [UInt8]) -> [UInt8] {
        run(input, flush: Z_SYNC_FLUSH)
    }

    /// Compresses `input` and ends the stream (gzip trailer). The compressor is spent afterwards.
    func finish(_ input: [UInt8] = []) -> [UInt8] {
        run(input, flush: Z_FINISH)
    }

    /// A whole body in one gzip member.
    static func compress(_ input: [UInt8], level: Int) -> [UInt8] {
        GzipCompressor(level: level).finish(input)
    }

    private func run(_ input: [UInt8], flush: Int32) -> [UInt8] {
        var output = [UInt8]()
        // Enough for one pass in almost every case; the loop handles the rest.
        var chunk = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(input.count))) + 64)
        input.withUnsafeBufferPointer { source in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.pointee.avail_in = uInt(source.count)
            chunk.withUnsafeMutableBufferPointer { buffer in
                while true {
                    stream.pointee.next_out = buffer.baseAddress
                    stream.pointee.avail_out = uInt(buffer.count)
                    let status = deflate(stream, flush)
                    precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, "deflate: \(status)")
                    let produced = buffer.count - Int(stream.pointee.avail_out)
                    output.append(contentsOf: buffer[..<produced])
                    // Done when deflate had room to spare (sync flush) or reached the end (finish).
                    if status != Z_OK || (flush != Z_FINISH && stream.pointee.avail_out > 0) { break }
                }
            }
            stream.pointee.next_in = nil
        }
        return output
    }
}

/// Decoding of gzip request bodies with a cap on the decompressed size (zip bombs).
enum GzipDecoder {
    enum Failure: Error, Equatable {
        /// The decompressed body would exceed the limit (413).
        case tooLarge
        /// Not valid gzip, or truncated (400).
        case corrupt
    }

    /// Decompresses one or more concatenated gzip members; stops as soon as the output would exceed `limit`.
    static func decompress(_ input: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        if input.isEmpty { return .success([]) }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            inflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        guard moeserve_inflate_init_gzip(stream) == Z_OK else { return .failure(.corrupt) }
        return input.withUnsafeBufferPointer { source in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.pointee.avail_in = uInt(source.count)
            return inflateAll(stream, limit: limit)
        }
    }

    private static func inflateAll(_ stream: UnsafeMutablePointer<z_stream>, limit: Int) -> Result<[UInt8], Failure> {
        var output = [UInt8]()
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        return scratch.withUnsafeMutableBufferPointer { buffer in
            while true {
                stream.pointee.next_out = buffer.baseAddress
                stream.pointee.avail_out = uInt(buffer.count)
                let status = inflate(stream, Z_NO_FLUSH)
                let produced = buffer.count - Int(stream.pointee.avail_out)
                if output.count + produced > limit { return .failure(.tooLarge) }
                output.append(contentsOf: buffer[..<produced])
                switch status {
                case Z_STREAM_END:
                    // RFC 1952 §2.2: a gzip file may hold several members, decoded as one.
                    guard stream.pointee.avail_in > 0 else { return .success(output) }
                    guard inflateReset(stream) == Z_OK else { return .failure(.corrupt) }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where produced > 0:
                    continue
                default:
                    // Z_BUF_ERROR without progress: the input ended mid-stream (truncated).
                    return .failure(.corrupt)
                }
            }
        }
    }
}
