import AsyncHTTPClient
import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOHTTP1

/// A staged write into Swift.
///
/// Bytes go through a `ByteBufferPipe` into a chunked PUT running beside the caller, so at most
/// a couple of chunks are in memory whatever the image size. Segmented writes start a new PUT
/// every `largeObjectChunkSize` bytes, lazily, so no empty segment is written; each PUT first
/// gets a token that is not about to expire.
///
/// Segments are `<id>-<attempt>-00001`, `-00002`, …, where `<attempt>` is random per writer
/// (glance_store writes `<id>-00001`). The DLO manifest's prefix then covers this upload's
/// segments only: segments a failed earlier attempt left behind can never join the image, and
/// their deferred deletion can never hit a later upload's segments. glance_store reads and
/// deletes such images through the manifest, as it does its own. Nothing is readable at the location before `commit()`: a single PUT completes only
/// when its body ends there, and segments are reachable only through the manifest written last.
/// `cancel()` aborts the PUT in flight and deletes every object this writer started.
actor SwiftBlobWriter: BlobWriter {
    struct Upload {
        let name: String
        let pipe: ByteBufferPipe
        /// The PUT; returns the object's ETag. Its errors are already `GlimpseError`s.
        let task: Task<String?, any Error>
        var bytes: Int64 = 0
    }

    struct Segment {
        let name: String
        let size: Int64
        let etag: String?
    }

    enum State { case open, committing, committed, failed, cancelled }

    let store: SwiftBlobStore
    let session: SwiftSession
    let container: String
    let object: String
    let segmented: Bool
    let location: String
    /// `<id>-<attempt>-`: what every segment name of this writer starts with.
    let segmentPrefix: String
    private var state = State.open
    private var upload: Upload?
    private var segments: [Segment] = []
    /// Every object name a PUT was started for: what `cancel()` deletes.
    private var started: [String] = []

    init(store: SwiftBlobStore, session: SwiftSession, container: String, object: String, segmented: Bool, location: String) {
        self.store = store
        self.session = session
        self.container = container
        self.object = object
        self.segmented = segmented
        self.location = location
        let attempt = String(UInt32.random(in: .min ... .max), radix: 16)
        segmentPrefix = object + "-" + String(repeating: "0", count: 8 - attempt.count) + attempt + "-"
    }

    var chunkSize: Int64 { store.configuration.largeObjectChunkSize }

    /// The container, this attempt's segment prefix (`<id>-<attempt>-`: completed segment PUTs
    /// stay when the process dies, and nothing else uses the prefix) and the object (a chunked
    /// PUT cut off by the process's death can still be stored, short).
    nonisolated var leftovers: String? {
        SwiftBlobStore.leftoversToken(container: container, prefix: segmented ? segmentPrefix : nil, object: object)
    }

    func segmentName(_ number: Int) -> String {
        let digits = String(number)
        return segmentPrefix + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    func write(_ buffer: ByteBuffer) async throws {
        guard state == .open else { throw GlimpseError(.internal, "The upload to the object store has already ended.") }
        var buffer = buffer
        do {
            while buffer.readableBytes > 0 {
                if upload == nil { try await startUpload(segmented ? segmentName(segments.count + 1) : object) }
                guard state == .open, let current = upload else { throw CancellationError() }
                var n = buffer.readableBytes
                if segmented { n = Int(min(Int64(n), chunkSize - current.bytes)) }
                let slice = buffer.readSlice(length: n)!
                try await current.pipe.send(slice)
                guard state == .open else { throw CancellationError() }
                upload?.bytes += Int64(n)
                if segmented, let u = upload, u.bytes >= chunkSize { try await finishUpload() }
            }
        } catch {
            if state == .open { state = .failed }
            throw SwiftErrors.transport(error)
        }
    }

    func commit() async throws -> String {
        guard state == .open else { throw GlimpseError(.internal, "The upload to the object store has already ended.") }
        state = .committing
        do {
            if upload != nil { try await finishUpload() }
            if !segmented && started.isEmpty || segmented && segments.isEmpty {
                // Nothing was written: a plain empty object, never a manifest of no segments.
                try await put(object, body: ByteBuffer())
            } else if segmented {
                try await putManifest()
            }
            guard state == .committing else { throw CancellationError() }
            state = .committed
            return location
        } catch {
            if state == .committing { state = .failed }
            throw SwiftErrors.transport(error)
        }
    }

    func cancel() async {
        guard state != .committed, state != .cancelled else { return }
        state = .cancelled
        if let current = upload {
            current.pipe.close(CancellationError())
            _ = try? await current.task.value
            upload = nil
        }
        let names = started
        started = []
        guard !names.isEmpty else { return }
        let store = store, session = session, container = container
        // An unstructured task, awaited: the caller's task may itself be cancelled (a client went
        // away), and the clean-up requests must still be sent. What Swift cannot take now (it is
        // down) is deleted by the store's pending-deletions service once it is back.
        await Task {
            await store.deleteOrDefer(session, container: container, names: names)
        }.value
    }

    // MARK: PUTs

    /// Starts a chunked PUT of `name` fed from a new pipe.
    private func startUpload(_ name: String) async throws {
        let grant = try await session.validGrant()
        guard state == .open || state == .committing else { throw CancellationError() }
        let pipe = ByteBufferPipe()
        var request = store.request(
            grant, .PUT, container: container, object: name, query: nil,
            headers: [("Content-Type", "application/octet-stream")])
        request.body = .stream(pipe, length: .unknown)
        let client = store.client, session = session, container = container
        // An unstructured task because the PUT must run while the caller keeps calling `write`;
        // `commit()` and `cancel()` always await it, so it never outlives the writer's work.
        let task = Task { () async throws -> String? in
            defer { pipe.close(UploadEnded()) }
            do {
                let response = try await client.execute(request, timeout: .hours(24))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if response.status == .unauthorized {
                    // The body is gone and cannot be sent again; make the next request log in.
                    await session.forget(grant.token)
                }
                guard (200..<300).contains(response.status.code) else {
                    throw await Self.putFailure(response.status, session: session, container: container)
                }
                return response.headers.first(name: "ETag").map { $0.replacingQuotes() }
            } catch {
                let mapped = SwiftErrors.transport(error)
                pipe.close(mapped)
                throw mapped
            }
        }
        started.append(name)
        upload = Upload(name: name, pipe: pipe, task: task)
    }

    /// Ends the body of the PUT in flight and waits for Swift's answer.
    private func finishUpload() async throws {
        guard let current = upload else { return }
        current.pipe.finish()
        let etag = try await current.task.value
        guard state == .open || state == .committing else { throw CancellationError() }
        upload = nil
        segments.append(Segment(name: current.name, size: current.bytes, etag: etag))
    }

    /// A PUT whose body is in memory (an empty object, a manifest).
    private func put(_ name: String, query: String? = nil, headers: [(String, String)] = [], body: ByteBuffer) async throws {
        started.append(name)
        let reply = try await store.send(
            session, .PUT, container: container, object: name, query: query,
            headers: [("Content-Type", "application/octet-stream")] + headers, body: body)
        guard (200..<300).contains(reply.status.code) else {
            throw await Self.putFailure(reply.status, session: session, container: container)
        }
    }

    /// A PUT answered 404 means the container went away since it was checked: a 503 (not a
    /// 404 for the client), and the container is checked again on the next upload.
    static func putFailure(_ status: HTTPResponseStatus, session: SwiftSession, container: String) async -> GlimpseError {
        guard status.code == 404 else { return SwiftErrors.status(status) }
        await session.forget(container: container)
        return GlimpseError(.unavailable, "The object store's container for images is gone.")
    }

    private func putManifest() async throws {
        let total = segments.reduce(Int64(0)) { $0 + $1.size }
        switch store.configuration.manifest {
        case .dlo:
            // glance_store's kind of manifest: `X-Object-Manifest: <container>/<segment prefix>`, no body.
            let prefix = SwiftLocation.percentEncode(container) + "/" + SwiftLocation.percentEncode(segmentPrefix)
            try await put(object, headers: [("X-Object-Manifest", prefix)], body: ByteBuffer())
            try await waitForListing(total: total)
        case .slo:
            let entries = segments.map { s -> JSONValue in
                .object(JSONObject([
                    ("path", .string("/\(container)/\(s.name)")),
                    ("etag", s.etag.map { .string($0) } ?? .null),
                    ("size_bytes", .int(s.size)),
                ]))
            }
            try await put(object, query: "multipart-manifest=put", body: ByteBuffer(string: JSONValue.array(entries).serialized()))
        }
    }

    /// A DLO is assembled from a container listing, which Swift updates asynchronously: wait
    /// (briefly) until the manifest's size counts every segment, so a read right after commit
    /// is complete. A listing that stays short fails the commit rather than serve short data.
    private func waitForListing(total: Int64) async throws {
        var delay: UInt64 = 50_000_000
        for _ in 0..<12 {
            let reply = try await store.send(session, .HEAD, container: container, object: object)
            guard (200..<300).contains(reply.status.code) else { throw SwiftErrors.status(reply.status) }
            if reply.headers.first(name: "Content-Length").flatMap(Int64.init) == total { return }
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 1_000_000_000)
        }
        throw GlimpseError(.unavailable, "The object store did not list every segment of the image in time.")
    }
}

/// Closes a PUT's pipe once the request has ended, so a producer never waits on it.
struct UploadEnded: Error {}

extension String {
    fileprivate func replacingQuotes() -> String { filter { $0 != "\"" } }
}
