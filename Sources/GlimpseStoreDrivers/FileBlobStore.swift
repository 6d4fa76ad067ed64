import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOFileSystem

/// glance_store's filesystem driver: one file per image, `file:///<datadir>/<image id>`.
///
/// Writes use NIOFileSystem's transactional creation (an unnamed temporary file linked into
/// place on commit), so a cancelled or crashed upload leaves nothing in the data directory.
public struct FileBlobStore: BlobStore {
    public let id: String
    public let dataDir: String
    public let capabilities = BlobStoreCapabilities(readOnly: false, randomAccess: true, thinProvisioning: false)
    let chunkLength: ByteCount

    public init(id: String = "file", dataDir: String, chunkLength: ByteCount = .kibibytes(256)) {
        self.id = id
        self.dataDir = dataDir.count > 1 && dataDir.hasSuffix("/") ? String(dataDir.dropLast()) : dataDir
        self.chunkLength = chunkLength
    }

    /// Creates the data directory if it is missing.
    public func prepare() async throws {
        do {
            try await FileSystem.shared.createDirectory(at: FilePath(dataDir), withIntermediateDirectories: true)
        } catch let error as FileSystemError where error.code == .fileAlreadyExists {
            return
        }
    }

    public func location(for imageID: String) -> String { "file://\(dataDir)/\(imageID)" }

    public func handles(location: String) -> Bool { location.hasPrefix("file://") }

    func path(of location: String) throws -> FilePath {
        guard location.hasPrefix("file://") else { throw GlimpseError.notFound("Image data not found.") }
        return FilePath(String(location.dropFirst("file://".count)))
    }

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        let path = FilePath("\(dataDir)/\(imageID)")
        do {
            let handle = try await FileSystem.shared.openFile(
                forWritingAt: path, options: .newFile(replaceExisting: true))
            return Writer(handle: handle, location: location(for: imageID))
        } catch let error as FileSystemError where error.code == .notFound {
            // The data directory is gone: the store, not the image, is missing.
            throw GlimpseError(.unavailable, "The image store is unavailable.", underlying: error)
        } catch {
            throw Self.mapError(error)
        }
    }

    public func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        let path = try path(of: location)
        let handle: ReadFileHandle
        do {
            handle = try await FileSystem.shared.openFile(forReadingAt: path, options: .init())
        } catch {
            throw Self.mapError(error)
        }
        do {
            let r = range ?? 0..<Int64.max
            for try await chunk in handle.readChunks(in: r, chunkLength: chunkLength) {
                try await sink(chunk)
            }
            try await handle.close()
        } catch {
            try? await handle.close()
            throw error
        }
    }

    public func size(location: String) async throws -> Int64 {
        do {
            guard let info = try await FileSystem.shared.info(forFileAt: try path(of: location)) else {
                throw GlimpseError.notFound("Image data not found.")
            }
            return info.size
        } catch let e as GlimpseError {
            throw e
        } catch {
            throw Self.mapError(error)
        }
    }

    public func delete(location: String) async throws {
        do {
            try await FileSystem.shared.removeItem(at: try path(of: location), strategy: .platformDefault, recursively: false)
        } catch {
            throw Self.mapError(error)
        }
    }

    /// Client-safe errors: no paths leave this function.
    static func mapError(_ error: any Error) -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        if let fs = error as? FileSystemError {
            switch fs.code {
            case .notFound: return GlimpseError(.notFound, "Image data not found.", underlying: error)
            case .permissionDenied: return GlimpseError(.unavailable, "The image store refused access.", underlying: error)
            default:
                if let call = fs.cause as? FileSystemError.SystemCallError,
                    call.errno.rawValue == 28 /* ENOSPC */ || call.errno.rawValue == 122 /* EDQUOT */ {
                    return GlimpseError(.payloadTooLarge, "Image storage media is full.", underlying: error)
                }
                return GlimpseError(.unavailable, "The image store is unavailable.", underlying: error)
            }
        }
        return GlimpseError(.unavailable, "The image store is unavailable.", underlying: error)
    }

    /// One writer is driven by one upload task at a time.
    final class Writer: BlobWriter, @unchecked Sendable {
        // @unchecked: `offset` and `finished` are touched only by the single task that drives the upload.
        let handle: WriteFileHandle
        let location: String
        var offset: Int64 = 0
        var finished = false

        init(handle: WriteFileHandle, location: String) {
            self.handle = handle
            self.location = location
        }

        func write(_ buffer: ByteBuffer) async throws {
            do {
                offset += try await handle.write(contentsOf: buffer, toAbsoluteOffset: offset)
            } catch {
                throw FileBlobStore.mapError(error)
            }
        }

        func commit() async throws -> String {
            finished = true
            do {
                try await handle.close(makeChangesVisible: true)
            } catch {
                throw FileBlobStore.mapError(error)
            }
            return location
        }

        func cancel() async {
            guard !finished else { return }
            finished = true
            try? await handle.close(makeChangesVisible: false)
        }
    }
}
