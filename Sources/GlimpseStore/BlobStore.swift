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
}

/// A staged write. Exactly one of `commit()` or `cancel()` ends it.
public protocol BlobWriter: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    /// Makes the data visible and returns its location URI.
    func commit() async throws -> String
    /// Discards everything written; never throws, may be called after a failed write.
    func cancel() async
}


extension BlobStore {
    /// The driver's public settings for `GET /v2/info/stores/detail` (never credentials).
    public var discoveryProperties: [String: JSONValue] { [:] }
    public func location(forImageID imageID: String) -> String? { nil }

    public func makeWriter(imageID: String) async throws -> any BlobWriter {
        try await makeWriter(imageID: imageID, expectedSize: nil)
    }
}
