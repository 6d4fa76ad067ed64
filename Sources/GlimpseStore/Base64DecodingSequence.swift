import GlimpseDomain
import NIOCore

/// Decodes a base64 body as it streams (v1's `Content-Transfer-Encoding: base64`), so the stored
/// bytes, size and checksum are those of the original file. Groups may be split across chunks
/// anywhere; whitespace and line breaks are skipped; padding may only end the data. Invalid
/// input throws a 400.
public struct Base64DecodingSequence<Base: AsyncSequence>: AsyncSequence where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let base: Base

    public init(_ base: Base) { self.base = base }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var decoder = Base64StreamDecoder()
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            while !finished {
                guard let chunk = try await base.next() else {
                    finished = true
                    try decoder.finish()
                    let tail = decoder.flushTail()
                    return tail.readableBytes > 0 ? tail : nil
                }
                let out = try decoder.decode(chunk)
                if out.readableBytes > 0 { return out }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}

extension Base64DecodingSequence: Sendable where Base: Sendable {}

/// The decoding state between chunks: at most three pending sextets.
public struct Base64StreamDecoder: Sendable {
    var pending: UInt32 = 0
    var pendingCount = 0
    var sawPadding = false
    var paddingCount = 0

    public init() {}

    static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    static func invalid() -> GlimpseError { .badRequest("The request body is not valid base64.") }

    public mutating func decode(_ input: ByteBuffer) throws -> ByteBuffer {
        var out = ByteBuffer()
        let capacity = input.readableBytes / 4 * 3 + 3
        var state = self
        try out.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { dest in
            try input.withUnsafeReadableBytes { raw in
                try Self.table.withUnsafeBufferPointer { table in
                    var written = 0
                    for byte in raw {
                        let v = table[Int(byte)]
                        if v < 64 {
                            guard !state.sawPadding else { throw Self.invalid() }
                            state.pending = state.pending << 6 | UInt32(v)
                            state.pendingCount += 1
                            if state.pendingCount == 4 {
                                dest[written] = UInt8(truncatingIfNeeded: state.pending >> 16)
                                dest[written + 1] = UInt8(truncatingIfNeeded: state.pending >> 8)
                                dest[written + 2] = UInt8(truncatingIfNeeded: state.pending)
                                written += 3
                                state.pending = 0
                                state.pendingCount = 0
                            }
                        } else if byte == UInt8(ascii: "=") {
                            state.sawPadding = true
                            state.paddingCount += 1
                            guard state.paddingCount <= 2, state.pendingCount + state.paddingCount <= 4, state.pendingCount >= 2 else {
                                throw Self.invalid()
                            }
                        } else if byte != UInt8(ascii: "\n") && byte != UInt8(ascii: "\r") && byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") {
                            throw Self.invalid()
                        }
                    }
                    return written
                }
            }
        }
        self = state
        return out
    }

    /// Called at the end of the body; emits nothing but checks the tail is a whole group.
    public mutating func finish() throws {
        guard pendingCount != 1 else { throw Self.invalid() }
        if sawPadding, pendingCount + paddingCount != 4 { throw Self.invalid() }
    }

    /// The bytes held back for a group cut short by padding (2 or 3 sextets), flushed at the end.
    public mutating func flushTail() -> ByteBuffer {
        var out = ByteBuffer()
        switch pendingCount {
        case 2: out.writeInteger(UInt8(truncatingIfNeeded: pending >> 4))
        case 3:
            out.writeInteger(UInt8(truncatingIfNeeded: pending >> 10))
            out.writeInteger(UInt8(truncatingIfNeeded: pending >> 2))
        default: break
        }
        pendingCount = 0
        return out
    }
}
