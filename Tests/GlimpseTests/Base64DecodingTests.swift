import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore
import Testing

@Suite struct Base64DecodingTests {
    func decode(_ text: String, chunk: Int) throws -> [UInt8] {
        var decoder = Base64StreamDecoder()
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(i + chunk, bytes.count)
            out += Array(try decoder.decode(ByteBuffer(bytes: bytes[i..<end])).readableBytesView)
            i = end
        }
        try decoder.finish()
        out += Array(decoder.flushTail().readableBytesView)
        return out
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64, 4096])
    func decodesAcrossAnyChunkBoundary(_ chunk: Int) throws {
        for length in [0, 1, 2, 3, 4, 5, 100, 1001] {
            let data = bytes(length, seed: UInt64(length))
            let text = Data(data).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
            #expect(try decode(text, chunk: chunk) == data, "length \(length), chunk \(chunk)")
            let crlf = Data(data).base64EncodedString(options: [.lineLength64Characters])
            #expect(try decode(crlf, chunk: chunk) == data, "CRLF, length \(length), chunk \(chunk)")
        }
    }

    @Test(arguments: ["ab$d", "a", "a===", "ab=c", "abcd=", "ab==cd", "ab=", "=abc"])
    func refusesInvalidInput(_ text: String) {
        #expect(throws: GlimpseError.self) { try decode(text, chunk: 1) }
    }

    @Test func acceptsUnpaddedTail() throws {
        #expect(try decode("aGk", chunk: 2) == Array("hi".utf8))
    }

    @Test func sequenceWrapsABody() async throws {
        let data = bytes(10_000)
        let text = Array(Data(data).base64EncodedString(options: .lineLength76Characters).utf8)
        let chunks = stride(from: 0, to: text.count, by: 333).map { ByteBuffer(bytes: text[$0..<min($0 + 333, text.count)]) }
        var out: [UInt8] = []
        for try await b in Base64DecodingSequence(Chunks(chunks: chunks)) { out += Array(b.readableBytesView) }
        #expect(out == data)
    }

    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: [ByteBuffer]
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: ArraySlice<ByteBuffer>
            mutating func next() async -> ByteBuffer? { rest.popFirst() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: chunks[...]) }
    }
}
