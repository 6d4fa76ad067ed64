import NIOCore

/// The part of a response body to pass on: a server that ignored `Range` sends the whole
/// object (skip what comes before the range), and nothing past the range's end goes out.
struct BodyWindow {
    var skip: Int64
    var remaining: Int64

    /// The bytes of `chunk` inside the window (possibly none); moves the window on.
    mutating func take(_ chunk: ByteBuffer) -> ByteBuffer {
        var chunk = chunk
        if skip > 0 {
            let n = Int(min(skip, Int64(chunk.readableBytes)))
            chunk.moveReaderIndex(forwardBy: n)
            skip -= Int64(n)
        }
        if Int64(chunk.readableBytes) > remaining {
            chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(remaining))!
        }
        remaining -= Int64(chunk.readableBytes)
        return chunk
    }
}
