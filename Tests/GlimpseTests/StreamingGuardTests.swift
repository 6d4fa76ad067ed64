import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Regression guard (not a timing test): the upload pipeline must pass each chunk to the store
/// before it asks for the next one, so no code path can collect an image body in memory.
@Suite struct StreamingGuardTests {
    /// Counts chunks handed out by the body and chunks that reached the store.
    final class Ledger: Sendable {
        let state = NIOLockedValueBox((produced: 0, written: 0, maxAhead: 0))
        func produce() { state.withLockedValue { $0.produced += 1; $0.maxAhead = max($0.maxAhead, $0.produced - $0.written) } }
        func write() { state.withLockedValue { $0.written += 1 } }
    }

    struct Body: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: Int
        let ledger: Ledger
        struct AsyncIterator: AsyncIteratorProtocol {
            var left: Int
            let ledger: Ledger
            mutating func next() async -> ByteBuffer? {
                guard left > 0 else { return nil }
                left -= 1
                ledger.produce()
                return ByteBuffer(repeating: UInt8(left & 0xFF), count: 65536)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(left: chunks, ledger: ledger) }
    }

    /// A store that keeps only counts, never bytes.
    struct CountingStore: BlobStore {
        let ledger: Ledger
        let id = "counting"
        let capabilities = BlobStoreCapabilities()
        func handles(location: String) -> Bool { location.hasPrefix("counting://") }
        func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter { Writer(ledger: ledger, id: imageID) }
        func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {}
        func size(location: String) async throws -> Int64 { 0 }
        func delete(location: String) async throws {}
        struct Writer: BlobWriter {
            let ledger: Ledger
            let id: String
            func write(_ buffer: ByteBuffer) async throws { ledger.write() }
            func commit() async throws -> String { "counting://\(id)" }
            func cancel() async {}
        }
    }

    @Test func uploadNeverRunsAheadOfTheStore() async throws {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        let ledger = Ledger()
        let service = ImageService(catalog: catalog, defaultStore: CountingStore(ledger: ledger))
        let admin = Principal(projectID: "p", userID: nil, roles: ["admin"])
        let image = try await service.create(
            .object(JSONObject([("disk_format", .string("raw")), ("container_format", .string("bare"))])), principal: admin)
        let chunks = 2048  // 128 MiB through the pipeline
        let result = try await service.upload(image.id, body: Body(chunks: chunks, ledger: ledger), declaredSize: nil, principal: admin)
        try await executor.close()
        let s = ledger.state.withLockedValue { $0 }
        #expect(result.size == Int64(chunks) * 65536)
        #expect(s.written == chunks)
        #expect(s.maxAhead <= 1, "the pipeline held \(s.maxAhead) chunks before writing them")
    }
}
