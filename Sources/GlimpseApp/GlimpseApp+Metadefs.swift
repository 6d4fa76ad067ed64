import GlimpseCatalog
import GlimpseCore
import Logging

extension GlimpseApp {
    /// `glimpse db load-metadefs`: Glance's metadata definition files into the catalog
    /// (`glance-manage db load_metadefs`). Returns one line per file, for the operator.
    public static func loadMetadefs(_ configuration: GlimpseConfiguration, path: String, logger: Logger) async throws -> [String] {
        let (catalog, executor) = try await openCatalog(configuration, logger: logger)
        do {
            let report = try await MetadefLoader(catalog: catalog).load(path: path)
            try await executor.close()
            return report.loaded.map { "loaded \($0)" } + report.skipped.map { "skipped \($0): the namespace already exists" }
                + report.failed.map { "failed \($0.0): \($0.1)" }
        } catch {
            try? await executor.close()
            throw error
        }
    }
}
