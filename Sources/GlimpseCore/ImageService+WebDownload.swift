import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore

extension ImageService {
    /// web-download's URI checks that need no network (`[import_filtering_opts]`), at request
    /// time, as Glance's `validate_import_uri`; the address checks happen when the task connects.
    func validateWebURI(_ uri: String) throws {
        guard let webFetcher else { throw GlimpseError.badRequest("web-download is not available at this site.") }
        do {
            try webFetcher.validate(uri)
        } catch let e as GlimpseError {
            throw GlimpseError.badRequest("URI for web-download does not pass filtering: \(e.message)")
        }
    }

    /// Downloads `uri` into the staging area, replacing whatever an earlier attempt left: the
    /// fetcher resumes broken transfers with Range requests, caps the size at `image_size_cap`
    /// and re-checks every redirect and resolved address; the staged write becomes visible
    /// only when the whole body has arrived.
    func downloadToStaging(_ id: String, from uri: String, staging: StagingArea, progress: TaskProgress) async throws {
        guard let webFetcher else { throw GlimpseError.badRequest("web-download is not available at this site.") }
        await staging.remove(id)
        let writer = try await staging.store.makeWriter(imageID: id, expectedSize: nil)
        do {
            let reported = ProgressThrottle()
            _ = try await webFetcher.fetch(uri, limit: configuration.imageSizeCap, progress: { bytes in
                if reported.shouldReport(bytes) { progress.report("Downloaded \(bytes >> 20) MiB") }
            }) { chunk in
                try await writer.write(chunk)
            }
            _ = try await writer.commit()
        } catch {
            await writer.cancel()
            throw error
        }
    }

    func glanceDownloadToStaging(_ image: Image, request: JSONValue, staging: StagingArea, progress: TaskProgress) async throws {
        throw GlimpseError.badRequest("glance-download is not available at this site.")
    }
}

/// Reports progress at most every 16 MiB.
final class ProgressThrottle: @unchecked Sendable {
    // @unchecked: called from one fetch at a time, sequentially.
    var last: Int64 = 0
    func shouldReport(_ bytes: Int64) -> Bool {
        guard bytes - last >= 1 << 24 else { return false }
        last = bytes
        return true
    }
}
