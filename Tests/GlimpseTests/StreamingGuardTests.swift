import Crypto
import Foundation
@testable import GlimpseAPI
import GlimpseCatalog
@testable import GlimpseCore
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Regression guards (not timing tests) for the data paths: an upload never holds more than a
/// bounded amount of the body before the store has it, hashes every byte exactly once per hash
/// with a bounded number of buffers in flight, and a download never reads further ahead of the
/// client than one chunk.
@Suite struct StreamingGuardTests {
    /// Counts bytes handed out by the body and bytes that reached the store.
    final class Ledger: Sendable {
        let state = NIOLockedValueBox((produced: 0, written: 0, maxAhead: 0))
        func produce(_ n: Int) { state.withLockedValue { $0.produced += n; $0.maxAhead = max($0.maxAhead, $0.produced - $0.written) } }
        func write(_ n: Int) { state.withLockedValue { $0.written += n } }
    }

    struct Body: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: Int
        let ledger: Ledger
        var chunkSize = 65536
        struct AsyncIterator: AsyncIteratorProtocol {
            var left: Int
            let ledger: Ledger
            let chunkSize: Int
            mutating func next() async -> ByteBuffer? {
                guard left > 0 else { return nil }
                left -= 1
                ledger.produce(chunkSize)
                return ByteBuffer(repeating: UInt8(left & 0xFF), count: chunkSize)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(left: chunks, ledger: ledger, chunkSize: chunkSize) }
    }

    /// A store that keeps only counts, never bytes; its reads make up `size` bytes, counting them.
    struct CountingStore: BlobStore {
        let ledger: Ledger
        let id = "counting"
        let capabilities = BlobStoreCapabilities()
        func handles(location: String) -> Bool { location.hasPrefix("counting://") }
        func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter { Writer(ledger: ledger, id: imageID) }
        func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
            let size = Int(location.split(separator: "/").last!)!
            var left = range.map { Int($0.count) } ?? size
            while left > 0 {
                let n = min(left, 65536)
                ledger.produce(n)
                try await sink(ByteBuffer(repeating: 7, count: n))
                left -= n
            }
        }
        func size(location: String) async throws -> Int64 { 0 }
        func delete(location: String) async throws {}
        struct Writer: BlobWriter {
            let ledger: Ledger
            let id: String
            func write(_ buffer: ByteBuffer) async throws { ledger.write(buffer.readableBytes) }
            func commit() async throws -> String { "counting://\(id)" }
            func cancel() async {}
        }
    }

    func withService<T>(_ store: any BlobStore, _ body: (ImageService, Image) async throws -> T) async throws -> T {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        do {
            let catalog = SQLCatalog(executor: executor)
            try await catalog.migrate()
            let service = ImageService(catalog: catalog, defaultStore: store)
            let image = try await service.create(
                .object(JSONObject([("disk_format", .string("raw")), ("container_format", .string("bare"))])), principal: Self.admin)
            let result = try await body(service, image)
            try await executor.close()
            return result
        } catch {
            try? await executor.close()
            throw error
        }
    }

    static let admin = Principal(projectID: "p", userID: nil, roles: ["admin"])

    @Test func uploadNeverRunsAheadOfTheStore() async throws {
        let ledger = Ledger()
        let chunks = 2048  // 128 MiB through the pipeline
        let result = try await withService(CountingStore(ledger: ledger)) { service, image in
            try await service.upload(image.id, body: Body(chunks: chunks, ledger: ledger), declaredSize: nil, principal: Self.admin)
        }
        let s = ledger.state.withLockedValue { $0 }
        #expect(result.size == Int64(chunks) * 65536)
        #expect(s.written == chunks * 65536)
        // The batch being gathered, plus the chunk that completes it.
        let bound = ImageService.uploadBatchSize + 65536
        #expect(s.maxAhead <= bound, "the pipeline held \(s.maxAhead) bytes before writing them (bound \(bound))")
    }

    /// Every byte reaches each hash exactly once, whatever the chunking (small reads gathered,
    /// reads larger than a batch passed on whole), and the digests are those of the data.
    @Test(arguments: [1000, 65536, 3 << 20])
    func uploadHashesEachByteOnce(chunkSize: Int) async throws {
        let ledger = Ledger()
        let chunks = max(3, (9 << 20) / chunkSize) + 1
        let size = chunks * chunkSize
        var md5 = Insecure.MD5()
        var sha = SHA512()
        for i in (0..<chunks).reversed() {
            let piece = [UInt8](repeating: UInt8(i & 0xFF), count: chunkSize)
            md5.update(data: piece)
            sha.update(data: piece)
        }
        let data = try await withService(CountingStore(ledger: ledger)) { service, image in
            try await service.writeData(image, into: CountingStore(ledger: ledger), declaredSize: Int64(size), expectedChecksum: nil) { feed in
                for try await chunk in Body(chunks: chunks, ledger: ledger, chunkSize: chunkSize) { try await feed(chunk) }
            }
        }
        #expect(data.size == Int64(size))
        #expect(data.hashedBytes.md5 == Int64(size))
        #expect(data.hashedBytes.multihash == Int64(size))
        #expect(data.checksum == md5.finalize().map { String(format: "%02x", $0) }.joined())
        #expect(data.hashValue == sha.finalize().map { String(format: "%02x", $0) }.joined())
        #expect(ledger.state.withLockedValue { $0.written } == size)
    }

    /// The hash threads never hold more than `maxInFlight` buffers once `waitForRoom` returns,
    /// and the digests do not depend on how far they lag.
    @Test func hasherBoundsBuffersInFlight() async throws {
        let hasher = try ImageHasher(algorithm: "sha512", maxInFlight: 1)
        var md5 = Insecure.MD5()
        for i in 0..<64 {
            let buffer = ByteBuffer(repeating: UInt8(i), count: 256 << 10)
            buffer.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
            hasher.submit(buffer)
            await hasher.waitForRoom()
            #expect(hasher.buffersInFlight <= 1)
        }
        let result = await hasher.finalize()
        #expect(hasher.buffersInFlight == 0)
        #expect(hasher.hashedBytes == (64 << 18, 64 << 18))
        #expect(result.checksum == md5.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// A response body writer that fails when the store has produced more than `bound` bytes
    /// the client has not yet taken.
    struct GuardWriter: ResponseBodyWriter {
        let ledger: Ledger
        let bound: Int
        let received = NIOLockedValueBox(0)
        /// What the store had produced before this body started.
        let start: Int
        init(ledger: Ledger, bound: Int) {
            self.ledger = ledger
            self.bound = bound
            start = ledger.state.withLockedValue { $0.produced }
        }
        mutating func write(_ buffer: ByteBuffer) async throws {
            let total = received.withLockedValue { $0 += buffer.readableBytes; return $0 }
            let ahead = ledger.state.withLockedValue { $0.produced } - start - total
            #expect(ahead <= bound, "the download read \(ahead) bytes ahead of the client")
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    /// The download path (route body → `Download.read` → store) reads one chunk at a time,
    /// each only after the client took the one before.
    @Test func downloadNeverRunsAheadOfTheClient() async throws {
        let ledger = Ledger()
        let size = 32 << 20
        try await withService(CountingStore(ledger: ledger)) { service, image in
            var active = image
            active.status = .active
            active.size = Int64(size)
            active.locations = [.stored("counting://img/\(size)", in: "counting")]
            _ = try await service.catalog.updateImage(active, expecting: .queued)
            let download = try #require(try await service.prepareDownload(image.id, principal: Self.admin))
            let whole = GuardWriter(ledger: ledger, bound: 65536)
            try await ResponseBody.imageData(download, range: nil, channel: nil).write(whole)
            #expect(whole.received.withLockedValue { $0 } == size)
            let part = GuardWriter(ledger: ledger, bound: 65536)
            try await ResponseBody.imageData(download, range: 1000..<(8 << 20), channel: nil).write(part)
            #expect(part.received.withLockedValue { $0 } == (8 << 20) - 1000)
        }
    }

    /// A whole image in the file store goes out through the zero-copy path on a live server
    /// (`FileRegionResponder` in the pipeline), byte for byte; ranges and HEAD still work.
    @Test func fileStoreDownloadOverSendfile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-sendfile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = FileBlobStore(id: "file", dataDir: dir)
        try await store.prepare()
        let size = (5 << 20) + 123
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        try await withService(store) { service, image in
            let sent = ByteBuffer(bytes: bytes)
            _ = try await service.upload(image.id, body: AsyncStream { $0.yield(sent); $0.finish() }, declaredSize: Int64(size), principal: Self.admin)
            let router = GlimpseRouter.build(service: service, configuration: APIConfiguration(), jobs: BackgroundJobs())
            let regions = NIOLockedValueBox(0)
            let app = Application(router: router, server: .http1(configuration: .init(
                additionalChannelHandlers: GlimpseRouter.channelHandlers(regionsSent: regions))))
            try await app.test(.live) { client in
                for _ in 0..<2 {  // twice on one connection: the responder is ready again after a region
                    let whole = try await client.execute(uri: "/v2/images/\(image.id)/file", method: .get)
                    #expect(whole.status == .ok)
                    #expect(whole.headers[.contentLength] == "\(size)")
                    #expect(whole.body == sent)
                }
                let part = try await client.execute(uri: "/v2/images/\(image.id)/file", method: .get, headers: [.range: "bytes=100-199"])
                #expect(part.status == .partialContent)
                #expect(part.body == ByteBuffer(bytes: bytes[100..<200]))
                let head = try await client.execute(uri: "/v1/images/\(image.id)", method: .head)
                #expect(head.status == .ok)
                let v1 = try await client.execute(uri: "/v1/images/\(image.id)", method: .get)
                #expect(v1.body == sent)
                let json = try await client.execute(uri: "/v2/images/\(image.id)", method: .get)
                #expect(json.status == .ok)
                // An upload through the same pipeline stores the same bytes.
                let created = try await client.execute(
                    uri: "/v2/images", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name": "again", "disk_format": "raw", "container_format": "bare"}"#))
                let id = try JSONValue.parse(Array(created.body.readableBytesView)).objectValue?["id"]?.stringValue ?? ""
                let put = try await client.execute(
                    uri: "/v2/images/\(id)/file", method: .put, headers: [.contentType: "application/octet-stream"], body: sent)
                #expect(put.status == .noContent)
                let back = try await client.execute(uri: "/v2/images/\(id)/file", method: .get)
                #expect(back.body == sent)
            }
            // The whole v2 and v1 downloads went out as file regions; the range did not.
            #expect(regions.withLockedValue { $0 } == 4)
        }
    }
}
