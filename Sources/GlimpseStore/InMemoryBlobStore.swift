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

    final class Writer: BlobWriter {
        let store: InMemoryBlobStore
        let key: String
        let buffer = NIOLockedValueBox(ByteBuffer())
        init(store: InMemoryBlobStore, key: String) { self.store = store; self.key = key }
        func write(_ b: ByteBuffer) async throws { buffer.withLockedValue { var b = b; $0.writeBuffer(&b) } }
        func commit() async throws -> String {
            let data = buffer.withLockedValue { $0 }
            store.objects.withLockedValue { $0[key] = data }
            return key
        }
        func cancel() async { buffer.withLockedValue { $0.clear() } }
    }
}

