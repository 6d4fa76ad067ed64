import GlimpseCatalog
import GlimpseDomain
import GlimpseInspector
import GlimpseStore
import Logging
import NIOCore

extension ImageService {
    /// `PUT /v2/images/{id}/file`: queued → saving → active, streaming the body once through the
    /// size limit, the hashes and a staged store write. On any failure (bad size, client gone,
    /// store error) the write is cancelled and the image returns to `queued` with no data.
    ///
    /// v1 semantics come with `expectedChecksum` and `killOnMismatch`: a declared size or checksum
    /// that the data does not match kills the image (`killed`, no data kept) instead of
    /// returning it to `queued`.
    public func upload<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int64?, expectedChecksum: String? = nil, killOnMismatch: Bool = false,
        storeID: String? = nil, principal: Principal
    ) async throws -> Image where Body.Element == ByteBuffer {
        let store = try uploadStore(storeID)
        let (saving, lease) = try await beginUpload(id, declaredSize: declaredSize, storeID: store.id, principal: principal)
        return try await ingest(
            saving, into: store, lease: lease, declaredSize: declaredSize, expectedChecksum: expectedChecksum, failure: .queued,
            mismatch: killOnMismatch ? .killed : .queued
        ) { feed in
            for try await chunk in body { try await feed(chunk) }
        }
    }

    /// Checks that data may be uploaded to the image and moves it queued → saving, starting
    /// the write's lease in the same transaction (see `WriteLeaseKeeper`).
    func beginUpload(_ id: String, declaredSize: Int64?, storeID: String, principal: Principal) async throws
        -> (image: Image, lease: WriteLease)
    {
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("upload_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to upload data to image \(id).")
        }
        guard image.status == .queued else {
            throw GlimpseError.conflict("Image status must be queued to upload data; it is \(image.status.rawValue).")
        }
        guard image.diskFormat != nil, image.containerFormat != nil else {
            throw GlimpseError.badRequest("Properties disk_format, container_format must be set prior to saving data.")
        }
        if let declaredSize, declaredSize > configuration.imageSizeCap {
            throw GlimpseError.tooLarge("Image exceeds the storage quota: the size limit is \(configuration.imageSizeCap) bytes.")
        }
        let lease = writeLeases.lease(imageID: id, storeID: storeID, imageStatus: .saving, at: now())
        let saving = try await catalog.modifyImage(id: id, expecting: .queued, lease: .start(lease)) { $0.status = .saving }
        return (saving, lease)
    }

    /// Streams the bytes `source` feeds through the size limit, the hashes and a staged write to
    /// `store`, then makes the `saving` image active. Any failure cancels the write
    /// and leaves the image `failure` (`mismatch` when the data contradicts the declared size or
    /// checksum), with no data. `lease` is the write's, started with the move to `saving` and
    /// ended with the move out of it (nil for an import task's write, whose task settles the
    /// image: `writeData` then holds a lease of its own).
    func ingest(
        _ saving: Image, into store: any BlobStore, lease: WriteLease?, declaredSize: Int64?, expectedChecksum: String?,
        failure: ImageStatus, mismatch: ImageStatus, source: (_ feed: (ByteBuffer) async throws -> Void) async throws -> Void
    ) async throws -> Image {
        let id = saving.id
        let data: StoredData
        do {
            data = try await writeData(
                saving, into: store, lease: lease, declaredSize: declaredSize, expectedChecksum: expectedChecksum, source: source)
        } catch {
            if let m = error as? Mismatch {
                await abandonUpload(saving, to: mismatch, lease: lease)
                throw GlimpseError.badRequest(m.message)
            }
            await abandonUpload(saving, to: failure, lease: lease)
            throw Self.uploadError(error)
        }
        let location = ImageLocation.stored(data.location, in: store.id)
        do {
            // Only the data fields and the status: what others changed meanwhile (a PATCH) stays.
            return try await catalog.modifyImage(id: id, expecting: .saving, lease: lease.map { WriteLease.Change.end($0.reference) }) { image in
                data.apply(to: &image)
                image.status = .active
                image.locations = [location]
            }
        } catch {
            // Deleted (or otherwise changed) while we were writing, or the write was taken over
            // by a node that presumed this one dead: the data must not outlive it.
            await deleteData(at: .stored(data.location, in: store.id))
            if let lease { await endWriteLease(lease) }
            if let e = error as? GlimpseError, e.isLeaseLost {
                throw GlimpseError(
                    .unavailable, "The upload of image \(id) took too long to be recorded; upload the data again.", underlying: error)
            }
            if let e = error as? GlimpseError, e.code == .notFound || e.code == .conflict {
                throw GlimpseError(.gone, "Image \(id) was deleted while its data was being uploaded.", underlying: error)
            }
            throw error
        }
    }

    /// What a completed write produced: where the data is, its size, its hashes and the
    /// virtual size the format inspector found.
    struct StoredData: Sendable {
        var location: String
        var size: Int64
        var checksum: String
        var hashAlgorithm: String
        var hashValue: String
        var virtualSize: Int64?
        /// Bytes each hash consumed (MD5, multihash): the image size, once each.
        var hashedBytes: (md5: Int64, multihash: Int64) = (0, 0)

        /// Sets the image's data fields (not its status or locations).
        func apply(to image: inout Image) {
            image.size = size
            image.virtualSize = virtualSize
            image.checksum = checksum
            image.osHashAlgo = hashAlgorithm
            image.osHashValue = hashValue
        }
    }

    /// The one data pipeline: every chunk `source` feeds passes the size limit, the declared
    /// size, the hashes, the format inspector (for `bare` containers, beside the hashes on the
    /// same chunks) and a staged write to `store`, which is committed only when all checks hold.
    /// On any failure the write is cancelled (nothing stays in the store) and the error is
    /// rethrown (`Mismatch` when the data contradicts what was declared, 415 when the inspector
    /// refuses the data).
    ///
    /// The write runs under a lease (see `WriteLeaseKeeper`): the caller's, or, without one
    /// (an import's copy into a store), one of its own that ends with the write. Either way the
    /// lease records what the writer would leave behind, so that another node can delete it if
    /// this process dies in the middle.
    func writeData(
        _ image: Image, into store: any BlobStore, lease given: WriteLease? = nil, declaredSize: Int64?, expectedChecksum: String?,
        source: (_ feed: (ByteBuffer) async throws -> Void) async throws -> Void
    ) async throws -> StoredData {
        let writer = try await store.makeWriter(imageID: image.id, expectedSize: declaredSize)
        var lease = given ?? writeLeases.lease(imageID: image.id, storeID: store.id, imageStatus: nil, at: now())
        lease.leftovers = writer.leftovers
        let own = given == nil ? lease : nil
        let hasher: ImageHasher
        do {
            if let own {
                try await catalog.startLease(own)
            } else if lease.leftovers != nil {
                _ = try await catalog.renewLeases([lease], at: now())
            }
            hasher = try ImageHasher(algorithm: configuration.hashingAlgorithm)
        } catch {
            await writer.cancel()
            if let own { await endWriteLease(own) }
            throw error
        }
        writeLeases.track(lease, writer: writer)
        defer { writeLeases.untrack(lease) }
        do {
            // Glance inspects bare containers in-line; the inspector keeps headers, not the image.
            var inspector = image.containerFormat == "bare" ? FormatInspector(options: configuration.inspector) : nil
            let cap = configuration.imageSizeCap
            var received: Int64 = 0
            // Socket reads are small (at most 64 KiB); they are gathered into batches of
            // `uploadBatchSize`, each hashed (MD5 and the multihash on threads of their own)
            // while it is written to the store and the next one is gathered. At most two
            // batches are alive besides the one being gathered.
            var batch = ByteBuffer()
            func flush(_ buffer: ByteBuffer) async throws {
                inspector?.feed(buffer)
                hasher.submit(buffer)
                try await writer.write(buffer)
                await hasher.waitForRoom()
            }
            try await source { chunk in
                let total = received + Int64(chunk.readableBytes)
                if total > cap {
                    throw GlimpseError.tooLarge("Image exceeds the storage quota: the size limit is \(cap) bytes.")
                }
                if let declaredSize, total > declaredSize {
                    throw Mismatch(message: "The image data is larger than the declared size (\(declaredSize) bytes).")
                }
                received = total
                if batch.readableBytes == 0, chunk.readableBytes >= Self.uploadBatchSize {
                    return try await flush(chunk)  // already big enough: no copy
                }
                var rest = chunk
                while rest.readableBytes > 0 {
                    if batch.capacity == 0 { batch = Self.batchAllocator.buffer(capacity: Self.uploadBatchSize) }
                    let room = Self.uploadBatchSize - batch.readableBytes
                    if rest.readableBytes <= room {
                        batch.writeBuffer(&rest)
                    } else {
                        var piece = rest.readSlice(length: room)!
                        batch.writeBuffer(&piece)
                    }
                    if batch.readableBytes == Self.uploadBatchSize {
                        let full = batch
                        batch = ByteBuffer()
                        try await flush(full)
                    }
                }
            }
            if batch.readableBytes > 0 {
                let last = batch
                batch = ByteBuffer()
                try await flush(last)
            }
            let size = received
            if let declaredSize, size != declaredSize {
                throw Mismatch(message: "The image data is \(size) bytes, not the declared \(declaredSize).")
            }
            let hashes = await hasher.finalize()
            if let expectedChecksum, expectedChecksum.lowercased() != hashes.checksum {
                throw Mismatch(message: "The checksum of the image data (\(hashes.checksum)) does not match the supplied checksum.")
            }
            // From the inspector for bare containers; otherwise a raw disk's virtual size is its
            // byte count and other formats stay unknown.
            var virtualSize: Int64? = image.diskFormat == "raw" ? size : nil
            if let report = inspector?.finish() {
                switch report.verdict(diskFormat: image.diskFormat, containerFormat: image.containerFormat, options: configuration.inspector) {
                case .refuse(let why):
                    logger.info("data refused by the format inspector", metadata: [
                        "image": "\(image.id)", "format": "\(report.format)", "reason": "\(why)",
                    ])
                    throw GlimpseError(.unsupportedMediaType, why)
                case .accept(let v):
                    virtualSize = v
                case .notInspected:
                    break
                }
            }
            let location = try await writer.commit()
            if let own { await endWriteLease(own) }
            return StoredData(
                location: location, size: size, checksum: hashes.checksum, hashAlgorithm: hashes.algorithm,
                hashValue: hashes.value, virtualSize: virtualSize, hashedBytes: hasher.hashedBytes)
        } catch {
            await writer.cancel()
            await hasher.drain()
            if let own { await endWriteLease(own) }
            throw error
        }
    }

    struct Mismatch: Error { let message: String }

    /// The size of the pieces the upload pipeline hashes and writes (socket reads are gathered
    /// into them).
    static let uploadBatchSize = 1 << 20
    static let batchAllocator = ByteBufferAllocator()

    /// Ends a failed upload: the image leaves `saving` for `status` (`queued`, or `killed` for
    /// v1's mismatches) with every data field cleared. If the image changed meanwhile (deleted
    /// during the upload), that change stands.
    func abandonUpload(_ saving: Image, to status: ImageStatus = .queued, lease: WriteLease? = nil) async {
        do {
            try await catalog.modifyImage(id: saving.id, expecting: .saving, lease: lease.map { WriteLease.Change.end($0.reference) }) { image in
                image.status = status
                image.clearData()
            }
        } catch {
            logger.info("upload cleanup found the image changed", metadata: ["image": "\(saving.id)", "error": "\(error)"])
            if let lease { await endWriteLease(lease) }
        }
    }

    /// Errors from the body stream (the client went away, a bad chunk) are not the server's fault.
    static func uploadError(_ error: any Error) -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        return GlimpseError(.badRequest, "The image data could not be read from the request.", underlying: error)
    }
}
