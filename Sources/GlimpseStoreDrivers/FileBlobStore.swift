import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOFileSystem
#if canImport(Glibc)
import Glibc
#endif

/// glance_store's filesystem driver: one file per image, `file:///<datadir>/<image id>`.
///
/// Writes use NIOFileSystem's transactional creation (an unnamed temporary file, fsynced, then
/// linked into place on commit), so a cancelled or crashed upload leaves nothing in the data
/// directory. With several data directories (`filesystem_store_datadirs = path:priority`) a
/// new image goes to the highest priority that has room, ties going to the most free space.
/// With thin provisioning, chunks of zeros are skipped, leaving holes in a sparse file.
/// Whole objects can be handed out as open files (`LocalFileBlobStore`) for zero-copy downloads.
public struct FileBlobStore: LocalFileBlobStore {
    public struct DataDirectory: Sendable, Equatable {
        public var path: String
        public var priority: Int
        public init(path: String, priority: Int = 0) {
            self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            self.priority = priority
        }
    }

    public let id: String
    public let directories: [DataDirectory]
    public let capabilities: BlobStoreCapabilities
    let chunkLength: ByteCount
    /// `filesystem_store_file_perm`: mode of committed files (0 keeps the process default).
    let filePermissions: Int
    let thinProvisioning: Bool
    /// `glimpse_filesystem_store_fsync`: whether a file reaches the disk before its write commits.
    let fsync: Bool

    /// The first (highest-priority) data directory.
    public var dataDir: String { directories[0].path }

    public init(id: String = "file", dataDir: String, chunkLength: ByteCount = .kibibytes(256)) {
        self.init(id: id, directories: [DataDirectory(path: dataDir)], chunkLength: chunkLength)
    }

    public init(
        id: String, directories: [DataDirectory], chunkLength: ByteCount = .kibibytes(256), filePermissions: Int = 0,
        thinProvisioning: Bool = false, fsync: Bool = true
    ) {
        self.id = id
        // Highest priority first; the sort is stable, so equal priorities keep their order.
        self.directories = directories.enumerated().sorted {
            $0.element.priority != $1.element.priority ? $0.element.priority > $1.element.priority : $0.offset < $1.offset
        }.map(\.element)
        self.chunkLength = chunkLength
        self.filePermissions = filePermissions
        self.thinProvisioning = thinProvisioning
        self.fsync = fsync
        self.capabilities = BlobStoreCapabilities(readOnly: false, randomAccess: true, thinProvisioning: thinProvisioning)
    }

    /// From glance_store's options: `filesystem_store_datadir` or `filesystem_store_datadirs`
    /// (one `path:priority` per line or comma-separated), `filesystem_store_file_perm` (octal),
    /// `filesystem_store_chunk_size` (bytes) and `filesystem_thin_provisioning`; and Glimpse's
    /// `glimpse_filesystem_store_fsync` (default true: a committed image is on the disk before
    /// its upload answers; false does what glance_store does, leaving it to the kernel).
    public init(id: String, options: StoreOptions, resolve: (String) -> String = { $0 }) throws {
        var dirs: [DataDirectory] = []
        if let list = options["filesystem_store_datadirs"] {
            for entry in list.split(whereSeparator: { $0 == "\n" || $0 == "," }) {
                let text = String(entry).trimmingWhitespace
                guard !text.isEmpty else { continue }
                var path = text
                var priority = 0
                if let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]) {
                    path = String(text[..<colon])
                    priority = p
                }
                let dir = DataDirectory(path: resolve(path), priority: priority)
                guard !dirs.contains(where: { $0.path == dir.path }) else {
                    throw StoreConfigurationError("[\(options.section)] filesystem_store_datadirs names \(path) twice")
                }
                dirs.append(dir)
            }
        }
        if let single = options["filesystem_store_datadir"] {
            if dirs.isEmpty { dirs.append(DataDirectory(path: resolve(single))) }
        }
        guard !dirs.isEmpty else {
            throw StoreConfigurationError("[\(options.section)] filesystem_store_datadir or filesystem_store_datadirs is required")
        }
        var permissions = 0
        if let text = options["filesystem_store_file_perm"] {
            guard let p = Int(text, radix: 8), (0...0o777).contains(p) else {
                throw StoreConfigurationError("[\(options.section)] filesystem_store_file_perm must be an octal mode such as 640")
            }
            permissions = p
        }
        let chunk = try options.int("filesystem_store_chunk_size", default: 64 * 1024)
        guard chunk > 0 else { throw StoreConfigurationError("[\(options.section)] filesystem_store_chunk_size must be positive") }
        self.init(
            id: id, directories: dirs, chunkLength: .bytes(Int64(chunk)), filePermissions: permissions,
            thinProvisioning: try options.bool("filesystem_thin_provisioning", default: false),
            fsync: try options.bool("glimpse_filesystem_store_fsync", default: true))
    }

    public var discoveryProperties: [String: JSONValue] {
        ["data_dir": .string(dataDir), "chunk_size": .int(chunkLength.bytes), "thin_provisioning": .bool(thinProvisioning)]
    }

    /// Creates the data directories if they are missing.
    public func prepare() async throws {
        for dir in directories {
            do {
                try await FileSystem.shared.createDirectory(at: FilePath(dir.path), withIntermediateDirectories: true)
            } catch let error as FileSystemError where error.code == .fileAlreadyExists {
                continue
            }
        }
    }

    public func location(for imageID: String, in dir: String? = nil) -> String { "file://\(dir ?? dataDir)/\(imageID)" }

    /// Known in advance only with one data directory (several: the freest one is chosen).
    public func location(forImageID imageID: String) -> String? { directories.count > 1 ? nil : location(for: imageID) }

    /// The directory for a new image: the highest priority with room for `size` (when known),
    /// the most free space among equals. When none has room the first is used and the write
    /// fails with "full" (413) as the data arrives.
    func directory(for size: Int64?) -> String {
        guard directories.count > 1 else { return dataDir }
        let free = directories.map { Self.freeSpace($0.path) }
        let needed = size ?? 0
        var best: Int?
        for (i, dir) in directories.enumerated() where free[i] >= needed {
            guard let b = best else { best = i; continue }
            if dir.priority > directories[b].priority || (dir.priority == directories[b].priority && free[i] > free[b]) { best = i }
        }
        return directories[best ?? 0].path
    }

    static func freeSpace(_ path: String) -> Int64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    public func handles(location: String) -> Bool { location.hasPrefix("file://") }

    func path(of location: String) throws -> FilePath {
        guard location.hasPrefix("file://") else { throw GlimpseError.notFound("Image data not found.") }
        return FilePath(String(location.dropFirst("file://".count)))
    }

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        let dir = directory(for: expectedSize)
        let path = FilePath("\(dir)/\(imageID)")
        do {
            let handle = try await FileSystem.shared.openFile(
                forWritingAt: path, options: .newFile(replaceExisting: true))
            return Writer(
                handle: handle, location: location(for: imageID, in: dir), permissions: filePermissions,
                thinBlock: thinProvisioning ? Int(chunkLength.bytes) : nil, fsync: fsync)
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
            for try await chunk in handle.readChunks(in: r, chunkLength: max(chunkLength, Self.minimumReadLength)) {
                try await sink(chunk)
            }
            try await handle.close()
        } catch {
            // Detached: in a cancelled task the close itself would be cancelled, and NIOFileSystem
            // treats a handle dropped unclosed as a fatal leak.
            await Task.detached { try? await handle.close() }.value
            throw error
        }
    }

    /// Reads are at least this long (`filesystem_store_chunk_size` is 64 KiB by default), so a
    /// streamed download costs few thread hops.
    static let minimumReadLength = ByteCount.mebibytes(1)

    public func openLocalFile(location: String) async throws -> LocalFile {
        let path = try path(of: location)
        do {
            let handle = try await FileSystem.shared.openFile(forReadingAt: path, options: .init())
            let size: Int64
            do {
                size = try await handle.info().size
            } catch {
                try? await handle.close()
                throw error
            }
            let descriptor = try handle.detachUnsafeFileDescriptor()
            return LocalFile(handle: NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor.rawValue), size: size)
        } catch {
            throw Self.mapError(error)
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

    /// An abandoned write leaves nothing until its commit links the file into place; a write
    /// committed but never recorded leaves that file, deleted `withObject`.
    public func deleteLeftovers(_ token: String, withObject: Bool) async throws {
        if withObject, handles(location: token) { try await delete(location: token) }
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
        let permissions: Int
        /// With thin provisioning, the granularity of holes (`filesystem_store_chunk_size`).
        let thinBlock: Int?
        /// Whether commit waits for the data to reach the disk; then writeback of each
        /// `writebackStep` is started as soon as it is written, so commit waits only for the tail.
        let fsync: Bool
        var offset: Int64 = 0
        /// Where the writeback started so far ends.
        var writebackStarted: Int64 = 0
        /// With thin provisioning, the end of the last chunk actually written.
        var written: Int64 = 0
        var finished = false

        init(handle: WriteFileHandle, location: String, permissions: Int, thinBlock: Int?, fsync: Bool) {
            self.handle = handle
            self.location = location
            self.permissions = permissions
            self.thinBlock = thinBlock
            self.fsync = fsync
        }

        static let writebackStep: Int64 = 8 << 20

        /// The file's place: there is something to delete only once commit linked it there.
        var leftovers: String? { location }

        func write(_ buffer: ByteBuffer) async throws {
            guard let block = thinBlock else { return try await writeOut(buffer) }
            // Thin provisioning: cut the data at block boundaries of the file and leave a hole
            // wherever a whole piece is zeros.
            var rest = buffer
            while rest.readableBytes > 0 {
                let room = Int(Int64(block) - offset % Int64(block))
                let piece = rest.readSlice(length: min(room, rest.readableBytes))!
                if piece.readableBytesView.allSatisfy({ $0 == 0 }) {
                    offset += Int64(piece.readableBytes)
                } else {
                    try await writeOut(piece)
                }
            }
        }

        func writeOut(_ buffer: ByteBuffer) async throws {
            do {
                offset += try await handle.write(contentsOf: buffer, toAbsoluteOffset: offset)
                written = offset
                if fsync, offset - writebackStarted >= Self.writebackStep { try await startWriteback() }
            } catch {
                throw FileBlobStore.mapError(error)
            }
        }

        /// Asks the kernel to start writing what is written so far to the disk, without waiting
        /// for it (sync_file_range(2)); the fsync at commit then has little left to do, and the
        /// disk works while the upload still streams.
        func startWriteback() async throws {
            let range = (start: writebackStarted, length: offset - writebackStarted)
            writebackStarted = offset
            guard let syncFileRange = Self.syncFileRange else { return }
            try await handle.withUnsafeDescriptor { fd in
                _ = syncFileRange(fd.rawValue, range.start, range.length, 2 /* SYNC_FILE_RANGE_WRITE */)
            }
        }

        typealias SyncFileRange = @convention(c) (CInt, Int64, Int64, CUnsignedInt) -> CInt
        /// glibc's sync_file_range(2), which Swift's Glibc module does not export (it needs
        /// _GNU_SOURCE); nil where there is none (only the early start of writeback is lost).
        static let syncFileRange: SyncFileRange? = {
            #if os(Linux)
            guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
            return unsafeBitCast(symbol, to: SyncFileRange.self)
            #else
            return nil
            #endif
        }()

        func commit() async throws -> String {
            finished = true
            do {
                if written < offset { try await handle.resize(to: .bytes(offset)) }  // trailing hole
                if permissions != 0 { try await handle.replacePermissions(FilePermissions(rawValue: .init(permissions))) }
                if fsync { try await handle.synchronize() }
                try await handle.close(makeChangesVisible: true)
            } catch {
                await Task.detached { [handle] in try? await handle.close(makeChangesVisible: false) }.value
                throw FileBlobStore.mapError(error)
            }
            return location
        }

        func cancel() async {
            guard !finished else { return }
            finished = true
            // Detached: a cancelled upload must still close (and discard) its file.
            await Task.detached { [handle] in try? await handle.close(makeChangesVisible: false) }.value
        }
    }
}
