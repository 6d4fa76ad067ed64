import Foundation
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
import NIOFileSystem
import NIOCore
import Testing

/// The `BlobStore` contract, run against every store available without a server.
@Suite struct BlobStoreConformanceTests {
    static func stores() async throws -> [(String, any BlobStore, () -> [String])] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-store-\(UUID().uuidString)").path
        let file = FileBlobStore(id: "file", dataDir: dir, chunkLength: .kibibytes(64))
        try await file.prepare()
        let memory = InMemoryBlobStore()
        return [
            ("file", file, { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }),
            ("memory", memory, { Array(repeating: "object", count: memory.objectCount) }),
        ]
    }

    func write(_ store: any BlobStore, _ id: String, _ data: [UInt8], chunk: Int = 10_000) async throws -> String {
        let writer = try await store.makeWriter(imageID: id)
        var offset = 0
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            try await writer.write(ByteBuffer(bytes: data[offset..<end]))
            offset = end
        }
        return try await writer.commit()
    }

    func read(_ store: any BlobStore, _ location: String, _ range: Range<Int64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(location: location, range: range) { out += Array($0.readableBytesView) }
        return out
    }

    @Test func roundTripAndRanges() async throws {
        for (name, store, _) in try await Self.stores() {
            let data = bytes(200_000)
            let location = try await write(store, "img-1", data)
            #expect(try await read(store, location) == data, "\(name)")
            #expect(try await read(store, location, 5..<17) == Array(data[5..<17]), "\(name)")
            #expect(try await read(store, location, 150_000..<200_000) == Array(data[150_000...]), "\(name)")
            #expect(try await store.size(location: location) == 200_000, "\(name)")
        }
    }

    @Test func fileLocationsAreGlanceStoreURIs() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-uri-\(UUID().uuidString)").path
        let store = FileBlobStore(dataDir: dir)
        try await store.prepare()
        let location = try await write(store, "abc", [1, 2, 3])
        #expect(location == "file://\(dir)/abc")
        #expect(location.hasPrefix("file:///"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/abc"))
    }

    @Test func cancelLeavesNothingBehind() async throws {
        for (name, store, listing) in try await Self.stores() {
            let writer = try await store.makeWriter(imageID: "cancelled")
            try await writer.write(ByteBuffer(bytes: bytes(50_000)))
            #expect(listing().isEmpty, "\(name): staged data visible before commit")
            await writer.cancel()
            #expect(listing().isEmpty, "\(name)")
            // A later write of the same image works.
            let location = try await write(store, "cancelled", [9, 9])
            #expect(try await read(store, location) == [9, 9], "\(name)")
        }
    }

    @Test func deleteIsIdempotentAndMissingIsNotFound() async throws {
        for (name, store, listing) in try await Self.stores() {
            let location = try await write(store, "gone", [1])
            try await store.delete(location: location)
            try await store.delete(location: location)
            #expect(listing().isEmpty, "\(name)")
            do {
                _ = try await read(store, location)
                Issue.record("\(name): read of deleted data succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .notFound, "\(name)")
                #expect(!e.message.contains("/"), "\(name): message leaks a path: \(e.message)")
            }
        }
    }

    @Test func concurrentWritersToDistinctImages() async throws {
        for (name, store, _) in try await Self.stores() {
            let locations = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<6 {
                    group.addTask { (i, try await write(store, "c\(i)", bytes(30_000, seed: UInt64(i)), chunk: 3000)) }
                }
                return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            for (i, location) in locations {
                #expect(try await read(store, location) == bytes(30_000, seed: UInt64(i)), "\(name) #\(i)")
            }
        }
    }
}
