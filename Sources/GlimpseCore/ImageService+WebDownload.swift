import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore

extension ImageService {
    /// web-download's URI checks that need no network (`[import_filtering_opts]`).
    func validateWebURI(_ uri: String) throws {
        throw GlimpseError.badRequest("web-download is not available yet.")
    }

    /// Downloads `uri` into the staging area (replacing anything staged before).
    func downloadToStaging(_ id: String, from uri: String, staging: StagingArea, progress: TaskProgress) async throws {
        throw GlimpseError.badRequest("web-download is not available yet.")
    }

    func glanceDownloadToStaging(_ image: Image, request: JSONValue, staging: StagingArea, progress: TaskProgress) async throws {
        throw GlimpseError.badRequest("glance-download is not available yet.")
    }
}
