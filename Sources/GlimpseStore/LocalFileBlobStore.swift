import NIOCore

/// An object of a `LocalFileBlobStore`, open for reading: what a zero-copy (sendfile(2))
/// download sends. Whoever holds it must close `handle` exactly once.
public struct LocalFile: Sendable {
    public let handle: NIOFileHandle
    /// The file's size when it was opened.
    public let size: Int64

    public init(handle: NIOFileHandle, size: Int64) {
        self.handle = handle
        self.size = size
    }
}

/// A store whose objects are files on this machine (the file store). The HTTP layer may send a
/// whole object from the open file with sendfile(2) instead of reading it through the process.
public protocol LocalFileBlobStore: BlobStore {
    /// Opens the object at `location` for reading. Throws what `read` throws when it cannot be
    /// opened (`.notFound`, `.unavailable`).
    func openLocalFile(location: String) async throws -> LocalFile
}
