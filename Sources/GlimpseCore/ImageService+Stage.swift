import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import NIOCore

extension ImageService {
    /// `PUT /v2/images/{id}/stage`: `queued → uploading`, the body streamed into the staging
    /// area under `image_size_cap` (a staged write: an interrupted stage leaves nothing), and
    /// the staged size recorded. Any failure returns the image to `queued` with nothing staged.
    public func stage<Body: AsyncSequence>(
        _ id: String, body: Body, declaredSize: Int64?, principal: Principal
    ) async throws -> Image where Body.Element == ByteBuffer {
        guard configuration.enabledImportMethods.contains("glance-direct"), let staging else {
            throw GlimpseError.notFound("The glance-direct import method is not available at this site.")
        }
        let image = try await visibleImage(id, principal: principal)
        guard policy.allows("modify_image", image, principal: principal) else {
            throw GlimpseError.forbidden("You are not authorized to modify image \(id).")
        }
        guard image.status == .queued else {
            throw GlimpseError.conflict("Image status must be queued to stage data; it is \(image.status.rawValue).")
        }
        if let declaredSize, declaredSize > configuration.imageSizeCap {
            throw GlimpseError.tooLarge("The incoming image is too large: the size limit is \(configuration.imageSizeCap) bytes.")
        }
        if try await staging.stagedSize(id) != nil {
            throw GlimpseError.conflict("The image \(id) has data on staging")
        }
        // The stage's lease (see `WriteLeaseKeeper`) starts with the move to `uploading` and
        // ends with the staged size recorded, or with the image queued again.
        let lease = writeLeases.lease(imageID: id, storeID: staging.store.id, imageStatus: .uploading, at: now())
        try await catalog.modifyImage(id: id, expecting: .queued, lease: .start(lease)) { $0.status = .uploading }

        let size: Int64
        do {
            let writer = try await staging.store.makeWriter(imageID: id, expectedSize: declaredSize)
            var tracked = lease
            tracked.leftovers = writer.leftovers
            writeLeases.track(tracked, writer: writer)
            defer { writeLeases.untrack(tracked) }
            do {
                if tracked.leftovers != nil { _ = try await catalog.renewLeases([tracked], at: now()) }
                var total: Int64 = 0
                let cap = configuration.imageSizeCap
                for try await chunk in body {
                    total += Int64(chunk.readableBytes)
                    if total > cap {
                        throw GlimpseError.tooLarge("The incoming image is too large: the size limit is \(cap) bytes.")
                    }
                    try await writer.write(chunk)
                }
                if let declaredSize, total != declaredSize {
                    throw GlimpseError.badRequest("The staged data is \(total) bytes, not the declared \(declaredSize).")
                }
                _ = try await writer.commit()
                size = total
            } catch {
                await writer.cancel()
                throw error
            }
        } catch {
            do {
                try await catalog.modifyImage(id: id, expecting: .uploading, lease: .end(lease.reference)) { image in
                    image.status = .queued
                    image.size = nil
                }
            } catch {
                await endWriteLease(lease)
            }
            throw Self.uploadError(error)
        }
        let host = configuration.workerSelfReferenceURL
        do {
            return try await catalog.modifyImage(id: id, expecting: .uploading, lease: .end(lease.reference)) { image in
                image.size = size
                if let host { image.properties[Self.stageHostKey] = host }
            }
        } catch let e as GlimpseError where e.code == .conflict || e.code == .notFound {
            // Deleted (or otherwise changed) while staging, or taken over by a node that
            // presumed this one dead: the staged data must not outlive it.
            await staging.remove(id)
            await endWriteLease(lease)
            if e.isLeaseLost {
                throw GlimpseError(
                    .unavailable, "The stage of image \(id) took too long to be recorded; stage the data again.", underlying: e)
            }
        }
        throw GlimpseError(.gone, "Image \(id) was deleted while its data was being staged.")
    }
}
