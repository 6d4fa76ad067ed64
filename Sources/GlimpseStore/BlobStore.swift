import GlimpseDomain
import NIOCore

/// What a store can do, for callers that must choose (range reads, read-only HTTP).
public struct BlobStoreCapabilities: Sendable, Equatable {
    public var readOnly: Bool
    public var randomAccess: Bool
    public var thinProvisioning: Bool

    public init(readOnly: Bool = false, randomAccess: Bool = true, thinProvisioning: Bool = false) {
        self.readOnly = readOnly
        self.randomAccess = randomAccess
        self.thinProvisioning = thinProvisioning
    }
}

/// A place image bytes live, addressed by glance_store location URIs.
///
/// Contract (checked by `BlobStoreConformance` for every driver):
/// - writes are staged: nothing written through a `BlobWriter` is readable until `commit()`,
///   and `cancel()` leaves nothing behind;
/// - reads stream in chunks and may take a byte range;
/// - `delete` is idempotent;
/// - errors are `GlimpseError`s: `.notFound`, `.unavailable` (503), `.payloadTooLarge` (out of space).
public protocol BlobStore: Sendable {
    /// The store id an operator names (`fs`, `file`, …), written to location metadata.
    var id: String { get }
    var capabilities: BlobStoreCapabilities { get }
    /// Whether a location URI belongs to this store.
    func handles(location: String) -> Bool
    /// Starts a staged write of the data for `imageID`. `expectedSize` is the size the client
    /// declared, when it did; the stream may still end short or run long (the caller checks),
    /// so a driver uses it only to choose a strategy (one PUT or segments / multipart).
    func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter
    /// Streams the bytes at `location` (only `range` of them, if given) into `sink`, chunk by
    /// chunk. Scoped: the object is open only while this call runs.
    func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws
    /// The object's size in bytes.
    func size(location: String) async throws -> Int64
    /// Removes the object; removing one that is not there succeeds.
    func delete(location: String) async throws
    /// The driver's public settings for `GET /v2/info/stores/detail` (never credentials).
    var discoveryProperties: [String: JSONValue] { get }
    /// Where a committed writer for `imageID` puts its data, when the driver can tell in
    /// advance (a staging store must: another node finds staged data by the image id alone).
    func location(forImageID imageID: String) -> String?
    /// Deletes what an abandoned writer left (its `leftovers` token, recorded by the node
    /// that ran it): called by another node once that node is presumed dead. `withObject` also
    /// deletes the object the write was making (it may have been stored whole, or cut short,
    /// and not recorded): only when no other writer can be making that object now (the image
    /// is still held in `saving`/`uploading` by the abandoned write). Idempotent; throws
    /// `.unavailable` when the server cannot be reached (the caller tries again later).
    func deleteLeftovers(_ token: String, withObject: Bool) async throws
}

/// A staged write. Exactly one of `commit()` or `cancel()` ends it.
public protocol BlobWriter: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    /// Makes the data visible and returns its location URI.
    func commit() async throws -> String
    /// Discards everything written; never throws, may be called after a failed write.
    func cancel() async
    /// What `BlobStore.deleteLeftovers` must delete if this write is abandoned without
    /// `cancel()` or its outcome is never recorded because its process died: a token only the
    /// driver reads (the object, and the write's own parts: Swift segments, an S3 multipart
    /// upload), or nil when nothing can be left. May change as the write goes on (a multipart
    /// upload gets its id).
    var leftovers: String? { get }
}


extension BlobWriter {
    public var leftovers: String? { nil }
}

extension BlobStore {
    /// The driver's public settings for `GET /v2/info/stores/detail` (never credentials).
    public var discoveryProperties: [String: JSONValue] { [:] }
    public func location(forImageID imageID: String) -> String? { nil }
    public func deleteLeftovers(_ token: String, withObject: Bool) async throws {}

    public func makeWriter(imageID: String) async throws -> any BlobWriter {
        try await makeWriter(imageID: imageID, expectedSize: nil)
    }
}
