import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A node that dies in the middle of an upload or a stage: another node sharing the catalog
/// and the store takes the write's lease over once it is stale, deletes what the dead writer
/// left in the store, and queues the image again; the dead writer, if it was only slow, can no
/// longer record its outcome.
@Suite struct WriteLeaseTests {
    static let admin = Principal(projectID: "p", userID: "u", roles: ["admin"])

    /// Two "nodes": services on one catalog and one store; `later` runs its clock past the
    /// claim timeout, as a node would once the first one has stopped renewing.
    struct Nodes: Sendable {
        let catalog: SQLCatalog
        let executor: SQLiteExecutor
        let store: InMemoryBlobStore
        let staging: InMemoryBlobStore
        let first: ImageService
        let later: ImageService

        static func make() async throws -> Nodes {
            let executor = try await SQLiteExecutor.open(path: ":memory:")
            let catalog = SQLCatalog(executor: executor)
            try await catalog.migrate()
            let store = InMemoryBlobStore(id: "memory")
            let staging = InMemoryBlobStore(id: "os_glance_staging_store")
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-lease-\(UUID().uuidString)").path
            func node(_ name: String, clock: @escaping @Sendable () -> Date) -> ImageService {
                var configuration = ImageServiceConfiguration()
                configuration.taskClaimTimeout = 60
                configuration.enabledImportMethods = ["glance-direct"]
                return ImageService(
                    catalog: catalog, defaultStore: store, configuration: configuration,
                    staging: StagingArea(shared: staging, scratchStore: InMemoryBlobStore(id: "scratch"), scratchDirectory: scratch),
                    writeLeases: WriteLeases(node: name), clock: clock)
            }
            return Nodes(
                catalog: catalog, executor: executor, store: store, staging: staging, first: node("first") { Date() },
                later: node("later") { Date().addingTimeInterval(61) })
        }
    }

    /// A request body that sends `head`, then waits until `release` is resumed, then ends.
    final class HeldBody: Sendable {
        let stream: AsyncStream<ByteBuffer>
        let continuation: AsyncStream<ByteBuffer>.Continuation
        init(head: ByteBuffer) {
            (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
            continuation.yield(head)
        }
        func finish(with tail: ByteBuffer) {
            continuation.yield(tail)
            continuation.finish()
        }
    }

    func create(_ service: ImageService) async throws -> String {
        let body = try JSONValue.parse(Array(#"{"name": "x", "disk_format": "raw", "container_format": "bare"}"#.utf8))
        return try await service.create(body, principal: Self.admin).id
    }

    /// Waits until `condition` holds (the upload task runs beside the test).
    func eventually(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<500 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition never held")
    }

    @Test func aDeadNodesUploadIsUndoneAndItsOutcomeRefused() async throws {
        let nodes = try await Nodes.make()
        let id = try await create(nodes.first)
        let body = HeldBody(head: ByteBuffer(repeating: 7, count: 3 << 20))
        let upload = Task {
            try await nodes.first.upload(id, body: body.stream, declaredSize: nil, principal: Self.admin)
        }
        // The first node is writing: image saving, one lease, data pending in the store.
        try await eventually { nodes.store.pendingCount == 1 }
        #expect(try await nodes.catalog.image(id: id)?.status == .saving)
        #expect(nodes.first.writeLeases.count == 1)
        // A fresh lease is nobody's to take.
        #expect(await WriteLeaseKeeper(service: nodes.first, logger: Logger(label: "t")).reapStale() == 0)

        // The first node "dies" (stops renewing); the other node's clock passes the timeout.
        let undone = await WriteLeaseKeeper(service: nodes.later, logger: Logger(label: "t")).reapStale()
        #expect(undone == 1)
        #expect(nodes.store.pendingCount == 0, "what the dead writer left is deleted")
        let image = try #require(try await nodes.catalog.image(id: id))
        #expect(image.status == .queued && image.size == nil && image.checksum == nil)
        #expect(try await nodes.catalog.staleLeases(before: Date().addingTimeInterval(1000), limit: 10).isEmpty)

        // The first node was only slow: its upload ends, but its outcome is refused and its data removed.
        body.finish(with: ByteBuffer(repeating: 8, count: 1000))
        await #expect(throws: GlimpseError.self) { try await upload.value }
        #expect(try await nodes.catalog.image(id: id)?.status == .queued)
        #expect(nodes.store.objectCount == 0 && nodes.store.pendingCount == 0)

        // The image takes a new upload as usual.
        let again = try await nodes.later.upload(
            id, body: AsyncStream { $0.yield(ByteBuffer(repeating: 1, count: 100)); $0.finish() }, declaredSize: 100, principal: Self.admin)
        #expect(again.status == .active && again.size == 100)
        #expect(try await nodes.catalog.staleLeases(before: Date().addingTimeInterval(1000), limit: 10).isEmpty, "no lease outlives its write")
        try await nodes.executor.close()
    }

    @Test func aDeadNodesStageIsUndone() async throws {
        let nodes = try await Nodes.make()
        let id = try await create(nodes.first)
        let body = HeldBody(head: ByteBuffer(repeating: 7, count: 1 << 20))
        let stage = Task { try await nodes.first.stage(id, body: body.stream, declaredSize: nil, principal: Self.admin) }
        try await eventually { nodes.staging.pendingCount == 1 }
        #expect(try await nodes.catalog.image(id: id)?.status == .uploading)

        #expect(await WriteLeaseKeeper(service: nodes.later, logger: Logger(label: "t")).reapStale() == 1)
        #expect(nodes.staging.pendingCount == 0)
        #expect(try await nodes.catalog.image(id: id)?.status == .queued)

        body.finish(with: ByteBuffer(repeating: 8, count: 10))
        await #expect(throws: GlimpseError.self) { try await stage.value }
        #expect(nodes.staging.objectCount == 0, "the slow node's staged data is removed")
        #expect(try await nodes.catalog.image(id: id)?.status == .queued)
        try await nodes.executor.close()
    }

    @Test func finishedWritesLeaveNoLease() async throws {
        let nodes = try await Nodes.make()
        let id = try await create(nodes.first)
        _ = try await nodes.first.upload(
            id, body: AsyncStream { $0.yield(ByteBuffer(repeating: 1, count: 10)); $0.finish() }, declaredSize: 10, principal: Self.admin)
        // A failed upload (declared size wrong) ends its lease too.
        let other = try await create(nodes.first)
        await #expect(throws: GlimpseError.self) {
            _ = try await nodes.first.upload(
                other, body: AsyncStream { $0.yield(ByteBuffer(repeating: 1, count: 10)); $0.finish() }, declaredSize: 11,
                principal: Self.admin)
        }
        #expect(try await nodes.catalog.image(id: other)?.status == .queued)
        #expect(try await nodes.catalog.staleLeases(before: Date().addingTimeInterval(1000), limit: 10).isEmpty)
        #expect(nodes.first.writeLeases.count == 0)
        #expect(nodes.store.pendingCount == 0)
        try await nodes.executor.close()
    }
}
