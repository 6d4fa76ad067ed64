import Foundation
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOFileSystem
import Testing

/// The `BlobStore` contract (`BlobStoreConformance`) for the stores that need no server:
/// memory and file. The HTTP, Swift and S3 drivers run it in their own suites.
@Suite struct BlobStoreConformanceTests {
    static func temporaryDirectory(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-\(label)-\(UUID().uuidString)").path
    }

    /// Everything in `dir` whose name contains `marker` (temporary files included).
    static func files(in dir: String, containing marker: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(marker) }
    }

    static func fileStore() async throws -> (FileBlobStore, BlobStoreConformance) {
        let dir = temporaryDirectory("store")
        let file = FileBlobStore(id: "file", dataDir: dir, chunkLength: .kibibytes(64))
        try await file.prepare()
        return (file, BlobStoreConformance(name: "file", store: file) { marker in files(in: dir, containing: marker) })
    }

    @Test func memory() async throws {
        let memory = InMemoryBlobStore()
        try await BlobStoreConformance(name: "memory", store: memory) { marker in
            memory.objectLocations.filter { $0.contains(marker) }
        }.runAll()
    }

    @Test func file() async throws {
        try await Self.fileStore().1.runAll()
    }

    @Test func fileLargeObjectStreamsWithFlatMemory() async throws {
        try await Self.fileStore().1.largeObjectStreamsWithFlatMemory()
    }

    @Test func fileLocationsAreGlanceStoreURIs() async throws {
        let (store, conformance) = try await Self.fileStore()
        let location = try await conformance.write("abc", [1, 2, 3])
        #expect(location == "file://\(store.dataDir)/abc")
        #expect(location.hasPrefix("file:///"))
        #expect(FileManager.default.fileExists(atPath: "\(store.dataDir)/abc"))
    }

    /// A data directory that cannot be written (here: a path under a regular file, which fails
    /// even for root) makes uploads a 503 naming no path. Reads of a missing object stay 404.
    @Test func fileStoreWithoutItsDirectoryIsUnavailable() async throws {
        let blocker = Self.temporaryDirectory("blocker")
        FileManager.default.createFile(atPath: blocker, contents: Data([1]))
        let store = FileBlobStore(dataDir: "\(blocker)/sub")
        do {
            let writer = try await store.makeWriter(imageID: "x")
            await writer.cancel()
            Issue.record("a write into an impossible directory started")
        } catch let e as GlimpseError {
            #expect(e.code == .unavailable, "\(e)")
            #expect(!e.message.contains(blocker))
        }
    }

    @Test func fileStoreWithThinProvisioningAndSeveralDirectoriesConforms() async throws {
        let a = Self.temporaryDirectory("dirs-a"), b = Self.temporaryDirectory("dirs-b")
        let store = try FileBlobStore(id: "thin", options: StoreOptions(section: "thin", values: [
            "filesystem_store_datadirs": "\(a):100\n\(b):200", "filesystem_thin_provisioning": "true",
        ]))
        try await store.prepare()
        try await BlobStoreConformance(name: "file-thin", store: store) { marker in
            Self.files(in: a, containing: marker) + Self.files(in: b, containing: marker)
        }.runAll()
    }

    /// New images go to the highest-priority directory that has room for the declared size.
    @Test func fileStoreChoosesTheHighestPriorityDirectoryWithRoom() async throws {
        let low = Self.temporaryDirectory("low"), high = Self.temporaryDirectory("high")
        let store = try FileBlobStore(id: "f", options: StoreOptions(section: "f", values: [
            "filesystem_store_datadirs": "\(low):100, \(high):200",
        ]))
        try await store.prepare()
        let conformance = BlobStoreConformance(name: "f", store: store) { _ in [] }
        #expect(try await conformance.write("first", [1, 2, 3]) == "file://\(high)/first")
        // A small filesystem at the top priority: an image larger than its free space goes lower.
        let tiny = Self.temporaryDirectory("tiny")
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        guard mount("tmpfs", tiny, "tmpfs", 0, "size=1m") == 0 else {
            print("fileStoreChoosesTheHighestPriorityDirectoryWithRoom: cannot mount a tmpfs here; free-space choice not checked")
            return
        }
        defer { umount(tiny) }
        let withTiny = try FileBlobStore(id: "f", options: StoreOptions(section: "f", values: [
            "filesystem_store_datadirs": "\(low):100\n\(tiny):300",
        ]))
        let small = try await withTiny.makeWriter(imageID: "small", expectedSize: 1000)
        try await small.write(ByteBuffer(bytes: bytes(1000)))
        #expect(try await small.commit() == "file://\(tiny)/small")
        let big = try await withTiny.makeWriter(imageID: "big", expectedSize: 4 << 20)
        try await big.write(ByteBuffer(bytes: bytes(4 << 20)))
        #expect(try await big.commit() == "file://\(low)/big")
        // Without a declared size the top priority is tried, and running out of space is a 413.
        let unknown = try await withTiny.makeWriter(imageID: "unknown", expectedSize: nil)
        do {
            for _ in 0..<4 { try await unknown.write(ByteBuffer(bytes: bytes(1 << 20))) }
            _ = try await unknown.commit()
            Issue.record("4 MiB fitted in a 1 MiB filesystem")
        } catch let e as GlimpseError {
            await unknown.cancel()
            #expect(e.code == .payloadTooLarge, "\(e)")
            #expect(!e.message.contains(tiny))
        }
        #expect(Self.files(in: tiny, containing: "unknown").isEmpty)
    }

    /// Zero chunks become holes: the file reads back identical but occupies far fewer blocks.
    @Test func thinProvisioningWritesSparseFilesWithTheRightMode() async throws {
        let dir = Self.temporaryDirectory("sparse")
        let store = try FileBlobStore(id: "f", options: StoreOptions(section: "f", values: [
            "filesystem_store_datadir": dir, "filesystem_thin_provisioning": "true", "filesystem_store_file_perm": "640",
        ]))
        try await store.prepare()
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let data = zeros + [7, 7, 7] + zeros + zeros
        let conformance = BlobStoreConformance(name: "sparse", store: store) { _ in [] }
        let location = try await conformance.write("sparse", data, chunk: 1 << 20)
        #expect(try await conformance.read(location) == data)
        var info = stat()
        #expect(stat("\(dir)/sparse", &info) == 0)
        #expect(Int(info.st_size) == data.count)
        #expect(Int(info.st_blocks) * 512 < 256 << 10, "allocated \(Int(info.st_blocks) * 512) bytes")
        #expect(info.st_mode & 0o777 == 0o640)
    }
}
