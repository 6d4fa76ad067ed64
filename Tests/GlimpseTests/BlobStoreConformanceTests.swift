import Foundation
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
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
}
