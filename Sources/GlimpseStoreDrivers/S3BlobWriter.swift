import AsyncHTTPClient
import Crypto
import GlimpseDomain
import GlimpseStore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A staged write of one image to S3. The strategy follows the declared size:
///
/// - **declared, below `s3_store_large_object_size`** (and at most 5 GiB, S3's limit for one
///   PUT): one PUT Object whose body streams as `write` is called. The end of the body (the
///   final `aws-chunked` chunk, or the last buffer when payloads are unsigned) is held back
///   until `commit()`, so an upload cancelled after its last byte still never completes.
/// - **declared, at or above it**: a multipart upload. Each part's length is known from the
///   declared size, so each UploadPart streams as the data arrives; up to
///   `s3_store_thread_pools` finished parts await their answers while the next one streams.
/// - **unknown** (chunked request bodies): an UploadPart needs its length before it starts, so
///   data is gathered one part (`s3_store_large_object_chunk_size`) at a time. At most two
///   parts are in memory per upload: one being sent and one filling. An image that ends
///   before its first part fills goes as one PUT; the multipart upload is created once the bytes
///   seen reach `s3_store_large_object_size` or a part fills. S3 allows 10,000 parts, so such an
///   image may reach 10,000 × the part size (about 98 GiB with 10 MB parts); beyond that the
///   upload fails with `.payloadTooLarge`. (A declared size raises the part size instead.)
///
/// `commit()` completes the upload (CompleteMultipartUpload with the parts' ETags); `cancel()`
/// and every failure abort it (AbortMultipartUpload) and stop any request in flight, so no
/// object or part remains. Streamed bodies are signed per `glimpse_s3_payload_signing`;
/// buffered ones carry their SHA-256.
final class S3BlobWriter: BlobWriter, @unchecked Sendable {
    // @unchecked: one upload task drives a writer (write…, then commit or cancel), as the
    // BlobWriter contract says, so its state is never touched by two tasks at once. The request
    // tasks it starts share only Sendable values (the client, the pipe) with it.

    enum Strategy { case singlePut, streamedParts, bufferedParts }
    enum Phase { case open, committed, ended }

    let store: S3BlobStore
    let key: String
    let expectedSize: Int64?
    let strategy: Strategy
    let partSize: Int64
    var phase = Phase.open
    var failure: GlimpseError?
    var written: Int64 = 0
    /// Set once a request that can make the object exist has been sent in full (the end of the
    /// single PUT, the buffered PUT, CompleteMultipartUpload): if the upload then fails (a lost
    /// answer, say), clean-up deletes the object too.
    var objectMayExist = false

    /// The single PUT, or the streamed part being sent.
    var body: StreamedBody?
    var uploadID: String? {
        didSet {
            let token = S3BlobStore.leftoversToken(key: key, uploadID: uploadID)
            leftoverToken.withLockedValue { $0 = token }
        }
    }
    /// `leftovers`, read by the node's lease keeper while the upload task writes: the key (an
    /// object stored but never recorded) and the open multipart upload's id, which an abandoned
    /// write leaves with its parts.
    let leftoverToken: NIOLockedValueBox<String>
    var leftovers: String? { leftoverToken.withLockedValue { $0 } }
    var nextPartNumber = 1
    /// Parts sent whose answers (ETags) are awaited, oldest first.
    var inFlight: [(number: Int, task: Task<S3BlobStore.S3Response, any Error>)] = []
    var etags: [(number: Int, etag: String)] = []
    /// Unknown size: the part being gathered, and its SHA-256 so far.
    var buffer = ByteBuffer()
    var bufferHash = SHA256()

    init(store: S3BlobStore, key: String, expectedSize: Int64?) {
        self.store = store
        self.key = key
        self.expectedSize = expectedSize
        self.leftoverToken = NIOLockedValueBox(S3BlobStore.leftoversToken(key: key, uploadID: nil))
        let configuration = store.configuration
        self.partSize = configuration.partSize(forDeclaredSize: expectedSize)
        if let size = expectedSize, size > 0 {
            // One PUT carries at most 5 GiB, whatever the threshold says.
            strategy = size < configuration.largeObjectSize && size <= S3BlobWriter.maximumSinglePut ? .singlePut : .streamedParts
        } else {
            strategy = .bufferedParts
        }
    }

    var signsPayloads: Bool { store.configuration.payloadSigning == .streaming }

    /// S3's limit for one PUT Object.
    static let maximumSinglePut: Int64 = 5 << 30

    // MARK: BlobWriter

    func write(_ data: ByteBuffer) async throws {
        if let failure { throw failure }
        guard phase == .open else { throw GlimpseError(.internal, "The S3 upload has already ended.") }
        let n = Int64(data.readableBytes)
        guard n > 0 else { return }
        if let expectedSize, written + n > expectedSize {
            throw GlimpseError.badRequest("The image data is larger than the declared size (\(expectedSize) bytes).")
        }
        do {
            switch strategy {
            case .singlePut: try await writeSingle(data)
            case .streamedParts: try await writeStreamedParts(data)
            case .bufferedParts: try await writeBuffered(data)
            }
            written += n
        } catch {
            throw fail(error)
        }
    }

    func commit() async throws -> String {
        if let failure {
            await cleanUp()
            throw failure
        }
        guard phase == .open else { throw GlimpseError(.internal, "The S3 upload has already ended.") }
        do {
            if let expectedSize, written != expectedSize {
                throw GlimpseError.badRequest("The image data is \(written) bytes, not the declared \(expectedSize).")
            }
            switch strategy {
            case .singlePut:
                if let body {
                    self.body = nil
                    objectMayExist = true
                    let response = try await body.finish()
                    guard response.status.code / 100 == 2 else {
                        throw S3BlobStore.serviceError(response, operation: "PutObject", missing: .unavailable)
                    }
                } else {
                    try await putBuffered()
                }
            case .streamedParts:
                try await completeMultipart()
            case .bufferedParts:
                if uploadID == nil {
                    try await putBuffered()
                } else {
                    if buffer.readableBytes > 0 || (etags.isEmpty && inFlight.isEmpty) { try await sendBufferedPart() }
                    try await completeMultipart()
                }
            }
            phase = .committed
            buffer = ByteBuffer()
            return store.location(forKey: key)
        } catch {
            let e = fail(error)
            await cleanUp()
            throw e
        }
    }

    func cancel() async {
        guard phase != .committed else { return }
        await cleanUp()
    }

    // MARK: single PUT

    func objectOperation(_ method: HTTPMethod, query: [(name: String, value: String)] = []) -> S3BlobStore.S3Operation {
        S3BlobStore.S3Operation(method: method, bucket: store.configuration.bucket, key: key, query: query)
    }

    func writeSingle(_ data: ByteBuffer) async throws {
        if body == nil {
            var put = objectOperation(.PUT)
            put.headers.append((name: "content-type", value: "application/octet-stream"))
            body = StreamedBody(store: store, operation: put, name: "PutObject", length: expectedSize!, holdBack: true)
        }
        try await body!.write(data)
    }

    /// PUT Object with the gathered bytes (an image of unknown size that fit in one part).
    func putBuffered() async throws {
        var put = objectOperation(.PUT)
        put.headers.append((name: "content-type", value: "application/octet-stream"))
        put.payloadHash = signsPayloads ? SigV4Signer.hex(bufferHash.finalize()) : SigV4Signer.unsignedPayload
        var request = store.prepare(put)
        request.body = .bytes(buffer)
        objectMayExist = true
        let response = try await S3BlobStore.execute(store.client, request, timeout: store.dataDeadline)
        guard response.status.code / 100 == 2 else {
            throw S3BlobStore.serviceError(response, operation: "PutObject", missing: .unavailable)
        }
    }

    // MARK: multipart

    func createMultipartUpload() async throws {
        var create = objectOperation(.POST, query: [(name: "uploads", value: "")])
        create.headers.append((name: "content-type", value: "application/octet-stream"))
        let response = try await store.perform(create)
        guard response.status == .ok, let id = S3XML.first("UploadId", in: response.body), !id.isEmpty else {
            throw S3BlobStore.serviceError(response, operation: "CreateMultipartUpload", missing: .unavailable)
        }
        uploadID = id
    }

    func uploadPartOperation(_ number: Int) -> S3BlobStore.S3Operation {
        objectOperation(.PUT, query: [(name: "partNumber", value: "\(number)"), (name: "uploadId", value: uploadID!)])
    }

    func writeStreamedParts(_ data: ByteBuffer) async throws {
        var rest = data
        while rest.readableBytes > 0 {
            if body == nil { try await startStreamedPart() }
            let take = Int(min(Int64(rest.readableBytes), body!.remaining))
            try await body!.write(rest.readSlice(length: take)!)
            if body!.remaining == 0 {
                let part = body!
                body = nil
                try await part.finishSending()
                inFlight.append((number: part.partNumber, task: part.task))
            }
        }
    }

    func startStreamedPart() async throws {
        if uploadID == nil { try await createMultipartUpload() }
        while inFlight.count >= store.configuration.threadPools { try await collectOldestPart() }
        let number = nextPartNumber
        nextPartNumber += 1
        let length = min(partSize, expectedSize! - Int64(number - 1) * partSize)
        body = StreamedBody(
            store: store, operation: uploadPartOperation(number), name: "UploadPart", length: length, holdBack: false,
            partNumber: number)
    }

    func writeBuffered(_ data: ByteBuffer) async throws {
        if uploadID == nil, written + Int64(data.readableBytes) >= store.configuration.largeObjectSize {
            try await createMultipartUpload()
        }
        var rest = data
        while rest.readableBytes > 0 {
            let take = Int(min(Int64(rest.readableBytes), partSize - Int64(buffer.readableBytes)))
            var slice = rest.readSlice(length: take)!
            if signsPayloads { slice.withUnsafeReadableBytes { bufferHash.update(bufferPointer: $0) } }
            buffer.writeBuffer(&slice)
            if Int64(buffer.readableBytes) == partSize {
                if uploadID == nil { try await createMultipartUpload() }
                try await sendBufferedPart()
                // Later parts are likely full: take the whole part's memory at once.
                buffer = ByteBufferAllocator().buffer(capacity: Int(partSize))
            }
        }
    }

    /// Sends the gathered bytes as the next part, after the previous part has been answered
    /// (so at most two parts are held: this one and the one that fills next).
    func sendBufferedPart() async throws {
        guard Int64(nextPartNumber) <= S3StoreConfiguration.maximumPartCount else {
            // Without a declared size the part size cannot grow to fit: 10,000 parts is the most.
            throw GlimpseError.tooLarge(
                "An image uploaded without a declared size may be at most \(S3StoreConfiguration.maximumPartCount * partSize) bytes in this store.")
        }
        while !inFlight.isEmpty { try await collectOldestPart() }
        let number = nextPartNumber
        nextPartNumber += 1
        var operation = uploadPartOperation(number)
        operation.payloadHash = signsPayloads ? SigV4Signer.hex(bufferHash.finalize()) : SigV4Signer.unsignedPayload
        bufferHash = SHA256()
        var request = store.prepare(operation)
        request.body = .bytes(buffer)
        buffer = ByteBuffer()
        let client = store.client
        let deadline = store.dataDeadline
        let prepared = request
        inFlight.append((number: number, task: Task { try await S3BlobStore.execute(client, prepared, timeout: deadline) }))
    }

    func collectOldestPart() async throws {
        let (number, task) = inFlight.removeFirst()
        let response = try await task.value
        guard response.status == .ok, let etag = response.headers.first(name: "etag") else {
            throw S3BlobStore.serviceError(response, operation: "UploadPart", missing: .unavailable)
        }
        etags.append((number: number, etag: etag))
    }

    func completeMultipart() async throws {
        while !inFlight.isEmpty { try await collectOldestPart() }
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in etags.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(S3XML.escape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var complete = objectOperation(.POST, query: [(name: "uploadId", value: uploadID!)])
        complete.headers.append((name: "content-type", value: "application/xml"))
        // Completing a large upload can take a while; S3 keeps the connection alive meanwhile.
        objectMayExist = true
        let response = try await store.perform(complete, body: ByteBuffer(string: xml), timeout: .hours(1))
        // S3 may answer 200 and still report an error in the body.
        guard response.status == .ok, S3XML.first("Code", in: response.body) == nil else {
            throw S3BlobStore.serviceError(response, operation: "CompleteMultipartUpload", missing: .unavailable)
        }
        uploadID = nil
    }

    // MARK: failure and clean-up

    /// Records the first failure as a client-safe error; later calls rethrow it.
    func fail(_ error: any Error) -> GlimpseError {
        if let failure { return failure }
        let mapped: GlimpseError
        if let e = error as? GlimpseError {
            mapped = e
        } else if error is CancellationError {
            mapped = GlimpseError(.unavailable, "The S3 upload was cancelled.", underlying: error)
        } else {
            mapped = S3BlobStore.transportError(error)
        }
        failure = mapped
        return mapped
    }

    /// Ends every request in flight and aborts the multipart upload. Idempotent; never throws.
    func cleanUp() async {
        phase = .ended
        if let body {
            self.body = nil
            // Belt and braces: a PUT whose body was held back cannot complete, but if the
            // server stored the object anyway, it goes below.
            if case .success(let response) = await body.abandon(), strategy == .singlePut, response.status.code / 100 == 2 {
                objectMayExist = true
            }
        }
        for (_, task) in inFlight { task.cancel() }
        for (_, task) in inFlight { _ = await task.result }
        inFlight = []
        if let id = uploadID {
            uploadID = nil
            await abort(id)
        }
        if objectMayExist {
            objectMayExist = false
            let (store, bucket, key) = (store, store.configuration.bucket, key)
            do {
                try await store.deleteObject(bucket: bucket, key: key)
            } catch {
                store.deferredCleanups.add([{ try await store.deleteObject(bucket: bucket, key: key) }])
            }
        }
        buffer = ByteBuffer()
    }

    /// AbortMultipartUpload, tried three times: its whole point is that no parts remain. When
    /// the server stays unreachable it is left to the store's deferred clean-ups.
    func abort(_ id: String) async {
        let operation = objectOperation(.DELETE, query: [(name: "uploadId", value: id)])
        let store = store
        @Sendable func attempt() async throws {
            let response = try await store.perform(operation)
            guard response.status.code / 100 == 2 || response.status == .notFound else {
                throw GlimpseError(.unavailable, "The multipart upload could not be aborted.")
            }
        }
        for _ in 0..<3 {
            if (try? await attempt()) != nil { return }
        }
        store.deferredCleanups.add([attempt])
    }
}

/// One request whose body streams through a `ByteBufferPipe` as the writer gets data: a PUT
/// Object or an UploadPart of known length. With payload signing on, the body is `aws-chunked`
/// (64 KiB chunks, each signed, chained from the request's signature); otherwise it is the raw
/// bytes under `UNSIGNED-PAYLOAD`.
final class StreamedBody: @unchecked Sendable {
    // @unchecked: owned by one S3BlobWriter and used only by the task driving it; the request
    // task shares only the (Sendable) pipe with it.
    let pipe: ByteBufferPipe
    let task: Task<S3BlobStore.S3Response, any Error>
    let name: String
    let length: Int64
    let partNumber: Int
    private(set) var sent: Int64 = 0
    private var chunker: AWSChunkSigner?
    private var pending = ByteBuffer()
    private var held: ByteBuffer?
    private let holdBack: Bool

    var remaining: Int64 { length - sent }

    /// The request has answered (before its body ended, or after): nothing more is sent.
    struct RequestEnded: Error {}

    /// Starts the request. `holdBack` keeps the end of the body until `finish()`.
    init(
        store: S3BlobStore, operation: S3BlobStore.S3Operation, name: String, length: Int64, holdBack: Bool,
        partNumber: Int = 0
    ) {
        self.name = name
        self.length = length
        self.partNumber = partNumber
        self.holdBack = holdBack
        var operation = operation
        let encodedLength: Int64
        let streaming = store.configuration.payloadSigning == .streaming
        if streaming {
            operation.payloadHash = SigV4Signer.streamingPayload
            operation.headers.append((name: "content-encoding", value: "aws-chunked"))
            operation.headers.append((name: "x-amz-decoded-content-length", value: "\(length)"))
            encodedLength = AWSChunkSigner.encodedLength(decodedLength: length, chunkSize: S3BlobStore.signingChunkSize)
        } else {
            operation.payloadHash = SigV4Signer.unsignedPayload
            encodedLength = length
        }
        let (unsent, signed) = store.sign(operation)
        chunker = streaming ? AWSChunkSigner(seed: signed) : nil
        let pipe = ByteBufferPipe(capacity: 4)
        var request = unsent
        request.body = .stream(pipe, length: .known(encodedLength))
        self.pipe = pipe
        let client = store.client
        let deadline = store.dataDeadline
        let prepared = request
        task = Task {
            do {
                let response = try await S3BlobStore.execute(client, prepared, timeout: deadline)
                pipe.close(RequestEnded())
                return response
            } catch {
                pipe.close(error)
                throw error
            }
        }
    }

    func write(_ data: ByteBuffer) async throws {
        sent += Int64(data.readableBytes)
        do {
            if chunker != nil {
                let size = S3BlobStore.signingChunkSize
                var rest = data
                while rest.readableBytes > 0 {
                    if pending.readableBytes == 0, rest.readableBytes >= size {
                        try await sendChunk(rest.readSlice(length: size)!)
                        continue
                    }
                    if pending.capacity < size { pending.reserveCapacity(size) }
                    var slice = rest.readSlice(length: min(size - pending.readableBytes, rest.readableBytes))!
                    pending.writeBuffer(&slice)
                    if pending.readableBytes == size { try await sendPending() }
                }
                if sent == length, pending.readableBytes > 0 { try await sendPending() }
            } else if holdBack {
                if let previous = held { try await pipe.send(previous) }
                held = data
            } else {
                try await pipe.send(data)
            }
        } catch {
            throw await failure()
        }
    }

    private func sendPending() async throws {
        let chunk = pending
        pending = ByteBuffer()
        try await sendChunk(chunk)
    }

    private func sendChunk(_ chunk: ByteBuffer) async throws {
        var frame = ByteBufferAllocator().buffer(capacity: chunk.readableBytes + 128)
        chunker!.frame(chunk, into: &frame)
        try await pipe.send(frame)
    }

    /// Sends what was held back and ends the body, without waiting for the answer.
    func finishSending() async throws {
        do {
            if chunker != nil {
                try await sendChunk(ByteBuffer())
            } else if let last = held {
                held = nil
                try await pipe.send(last)
            }
            pipe.finish()
        } catch {
            throw await failure()
        }
    }

    /// Ends the body and returns the answer.
    func finish() async throws -> S3BlobStore.S3Response {
        try await finishSending()
        return try await task.value
    }

    /// Stops the request (the body never ends, so the server discards it) and returns how it ended.
    func abandon() async -> Result<S3BlobStore.S3Response, any Error> {
        held = nil
        pending = ByteBuffer()
        pipe.close(CancellationError())
        return await task.result
    }

    /// Sending failed because the request ended: its outcome says why.
    private func failure() async -> GlimpseError {
        switch await task.result {
        case .success(let response) where response.status.code / 100 == 2:
            return GlimpseError(.unavailable, "The S3 store ended the upload early.")
        case .success(let response):
            return S3BlobStore.serviceError(response, operation: name, missing: .unavailable)
        case .failure(let error):
            return S3BlobStore.transportError(error)
        }
    }
}
