import Foundation
import GlimpseDomain
import NIOConcurrencyHelpers
import NIOCore

/// A store in memory, for unit tests only (it holds whole objects, which production never may).
public final class InMemoryBlobStore: BlobStore {
    public let id: String
    public let capabilities = BlobStoreCapabilities()
    let objects = NIOLockedValueBox<[String: ByteBuffer]>([:])

    public init(id: String = "memory") { self.id = id }

    public var objectCount: Int { objects.withLockedValue { $0.count } }
    public var objectLocations: [String] { objects.withLockedValue { Array($0.keys) } }

    public func handles(location: String) -> Bool { location.hasPrefix("memory://") }

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        Writer(store: self, key: "memory://\(id)/\(imageID)")
    }

    public func location(forImageID imageID: String) -> String? { "memory://\(id)/\(imageID)" }

    public func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        guard let object = objects.withLockedValue({ $0[location] }) else {
            throw GlimpseError.notFound("Image data not found.")
        }
        let r = range ?? 0..<Int64(object.readableBytes)
        var rest = object.getSlice(at: Int(r.lowerBound), length: Int(r.count)) ?? ByteBuffer()
        while rest.readableBytes > 0, let chunk = rest.readSlice(length: min(65536, rest.readableBytes)) {
            try await sink(chunk)
        }
    }

    public func size(location: String) async throws -> Int64 {
        guard let o = objects.withLockedValue({ $0[location] }) else { throw GlimpseError.notFound("Image data not found.") }
        return Int64(o.readableBytes)
    }

    public func delete(location: String) async throws {
        _ = objects.withLockedValue { $0.removeValue(forKey: location) }
    }

    /// Like an object store's segments: what a writer has written lives in the store, under
    /// the writer's own token, until it commits or cancels; a writer abandoned without either
    /// (its process died) leaves it there until `deleteLeftovers`.
    let pending = NIOLockedValueBox<[String: ByteBuffer]>([:])
    public var pendingCount: Int { pending.withLockedValue { $0.count } }

    /// Token: the writer's pending key, then the object's location, one per line.
    public func deleteLeftovers(_ token: String, withObject: Bool) async throws {
        let parts = token.split(separator: "\n", maxSplits: 1).map(String.init)
        _ = pending.withLockedValue { $0.removeValue(forKey: parts[0]) }
        if withObject, parts.count == 2 { try await delete(location: parts[1]) }
    }

    final class Writer: BlobWriter {
        let store: InMemoryBlobStore
        let key: String
        let token = UUID().uuidString
        init(store: InMemoryBlobStore, key: String) { self.store = store; self.key = key }
        var leftovers: String? { token + "\n" + key }
        func write(_ b: ByteBuffer) async throws {
            store.pending.withLockedValue { var b = b; $0[token, default: ByteBuffer()].writeBuffer(&b) }
        }
        func commit() async throws -> String {
            let data = store.pending.withLockedValue { $0.removeValue(forKey: token) } ?? ByteBuffer()
            store.objects.withLockedValue { $0[key] = data }
            return key
        }
        func cancel() async { _ = store.pending.withLockedValue { $0.removeValue(forKey: token) } }
    }
}

