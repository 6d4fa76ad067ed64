import Crypto
import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore
import Testing

/// The `BlobStore` contract as one reusable checker. Every driver's suite builds one of these
/// around a live store (file, memory, http, swift, s3) and runs `runAll()`, plus the checks that
/// need a special set-up (`largeObjectStreamsWithFlatMemory`, `expectUnavailable`).
struct BlobStoreConformance {
    let name: String
    let store: any BlobStore
    /// Everything the store holds whose name contains the given marker: objects, temporary
    /// files, segments, multipart uploads. Used to prove that cancel and delete leave nothing.
    let listing: @Sendable (String) async throws -> [String]
    /// A prefix that makes this run's image ids unique on servers that outlive the test.
    let run = "t\(UInt32.random(in: .min ... .max))"

    func runAll() async throws {
        try await roundTripAndRanges()
        try await cancelLeavesNothingBehind()
        try await deleteIsIdempotentAndMissingIsNotFound()
        try await concurrentWritersToDistinctImages()
        try await emptyObject()
    }

    func write(_ id: String, _ data: [UInt8], chunk: Int = 10_000, declared: Int64? = nil) async throws -> String {
        let writer = try await store.makeWriter(imageID: id, expectedSize: declared)
        do {
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunk, data.count)
                try await writer.write(ByteBuffer(bytes: data[offset..<end]))
                offset = end
            }
            return try await writer.commit()
        } catch {
            await writer.cancel()
            throw error
        }
    }

    func read(_ location: String, _ range: Range<Int64>? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(location: location, range: range) { out += Array($0.readableBytesView) }
        return out
    }

    func roundTripAndRanges() async throws {
        let data = bytes(200_000)
        let location = try await write("\(run)-rt", data)
        #expect(store.handles(location: location), "\(name): store does not claim its own location")
        #expect(try await read(location) == data, "\(name)")
        #expect(try await read(location, 5..<17) == Array(data[5..<17]), "\(name)")
        #expect(try await read(location, 150_000..<200_000) == Array(data[150_000...]), "\(name)")
        #expect(try await read(location, 199_999..<200_000) == [data[199_999]], "\(name)")
        #expect(try await store.size(location: location) == 200_000, "\(name)")
        try await store.delete(location: location)
    }

    func emptyObject() async throws {
        let location = try await write("\(run)-empty", [])
        #expect(try await read(location) == [], "\(name)")
        #expect(try await store.size(location: location) == 0, "\(name)")
        try await store.delete(location: location)
    }

    func cancelLeavesNothingBehind() async throws {
        let id = "\(run)-cancelled"
        let writer = try await store.makeWriter(imageID: id)
        for seed in 0..<4 { try await writer.write(ByteBuffer(bytes: bytes(50_000, seed: UInt64(seed)))) }
        await writer.cancel()
        let left = try await listing(id)
        #expect(left.isEmpty, "\(name): cancel left \(left)")
        // A later write of the same image works.
        let location = try await write(id, [9, 9])
        #expect(try await read(location) == [9, 9], "\(name)")
        try await store.delete(location: location)
        let remains = try await listing(id)
        #expect(remains.isEmpty, "\(name): delete left \(remains)")
    }

    func deleteIsIdempotentAndMissingIsNotFound() async throws {
        let id = "\(run)-gone"
        let location = try await write(id, [1])
        try await store.delete(location: location)
        try await store.delete(location: location)
        #expect(try await listing(id).isEmpty, "\(name)")
        do {
            _ = try await read(location)
            Issue.record("\(name): read of deleted data succeeded")
        } catch let e as GlimpseError {
            #expect(e.code == .notFound, "\(name): \(e)")
            #expect(!e.message.contains("/"), "\(name): message leaks a path: \(e.message)")
        }
        do {
            _ = try await store.size(location: location)
            Issue.record("\(name): size of deleted data succeeded")
        } catch let e as GlimpseError {
            #expect(e.code == .notFound, "\(name): \(e)")
        }
    }

    func concurrentWritersToDistinctImages() async throws {
        let store = self
        let locations = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<6 {
                group.addTask { (i, try await store.write("\(run)-c\(i)", bytes(30_000, seed: UInt64(i)), chunk: 3000)) }
            }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        for (i, location) in locations {
            #expect(try await read(location) == bytes(30_000, seed: UInt64(i)), "\(name) #\(i)")
            try await self.store.delete(location: location)
        }
    }

    /// Writes and reads back `size` bytes in 1 MiB chunks, checks SHA-256 both ways, and
    /// checks the process's resident memory never grows by more than `memoryLimit` meanwhile.
    func largeObjectStreamsWithFlatMemory(size: Int64 = 1 << 30, memoryLimit: Int = 96 << 20) async throws {
        // One large round trip at a time in this process, so each measures only itself.
        try await LargeTransfers.shared.run { try await largeRoundTrip(size: size, memoryLimit: memoryLimit) }
    }

    private func largeRoundTrip(size: Int64, memoryLimit: Int) async throws {
        let chunk = 1 << 20
        var pattern = ByteBuffer(bytes: bytes(chunk, seed: 7))
        let sampler = RSSSampler()
        let baseline = sampler.start()
        var sent = SHA256()
        let writer = try await store.makeWriter(imageID: "\(run)-large")
        var written: Int64 = 0
        var counter: UInt64 = 0
        do {
            while written < size {
                let n = Int(min(Int64(chunk), size - written))
                // Vary each chunk so a store that deduplicates or repeats a chunk is caught.
                counter += 1
                pattern.setInteger(counter, at: 0)
                let slice = pattern.getSlice(at: 0, length: n)!
                sent.update(data: slice.readableBytesView)
                try await writer.write(slice)
                written += Int64(n)
            }
        } catch {
            await writer.cancel()
            throw error
        }
        let location = try await writer.commit()
        #expect(try await store.size(location: location) == size, "\(name)")
        var received = SHA256()
        var readBytes: Int64 = 0
        try await store.read(location: location, range: nil) { buffer in
            received.update(data: buffer.readableBytesView)
            readBytes += Int64(buffer.readableBytes)
        }
        let peak = await sampler.stop()
        #expect(readBytes == size, "\(name)")
        #expect(Array(sent.finalize()) == Array(received.finalize()), "\(name): SHA-256 differs")
        let growth = peak - baseline
        print("[\(name)] \(size >> 20) MiB round trip: resident memory grew by \(growth >> 20) MiB (limit \(memoryLimit >> 20) MiB)")
        #expect(growth < memoryLimit, "\(name): memory grew by \(growth >> 20) MiB")
        try await store.delete(location: location)
        #expect(try await listing("\(run)-large").isEmpty, "\(name)")
    }

    /// Every operation on a store whose server is down is a 503-class error that names no address.
    static func expectUnavailable(_ name: String, _ store: any BlobStore, location: String, secrets: [String] = []) async {
        func check(_ what: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("\(name): \(what) succeeded against a store that is down")
            } catch let e as GlimpseError {
                #expect(e.code == .unavailable, "\(name) \(what): \(e)")
                for secret in secrets + ["127.0.0.1", "http://"] {
                    #expect(!e.message.contains(secret), "\(name) \(what): message leaks \(secret): \(e.message)")
                }
            } catch {
                Issue.record("\(name): \(what) threw a non-Glimpse error: \(error)")
            }
        }
        await check("read") { try await store.read(location: location, range: nil) { _ in } }
        await check("size") { _ = try await store.size(location: location) }
        if !store.capabilities.readOnly {
            await check("write") {
                let writer = try await store.makeWriter(imageID: "down")
                do {
                    try await writer.write(ByteBuffer(bytes: bytes(1000)))
                    _ = try await writer.commit()
                } catch {
                    await writer.cancel()
                    throw error
                }
            }
            await check("delete") { try await store.delete(location: location) }
        }
    }
}

/// Runs large transfers one after another (the RSS they measure is the whole process's).
actor LargeTransfers {
    static let shared = LargeTransfers()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run(_ body: @Sendable () async throws -> Void) async throws {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        try await body()
    }
}

/// Samples this process's resident set size (from /proc/self/statm) every 20 ms.
final class RSSSampler: @unchecked Sendable {
    // @unchecked: `peak` is written by the sampling task only and read after it has ended.
    private var peak = 0
    private var task: Task<Void, Never>?

    static func resident() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func start() -> Int {
        let now = Self.resident()
        peak = now
        task = Task { [self] in
            while !Task.isCancelled {
                peak = max(peak, Self.resident())
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return now
    }

    func stop() async -> Int {
        task?.cancel()
        await task?.value
        return max(peak, Self.resident())
    }
}
