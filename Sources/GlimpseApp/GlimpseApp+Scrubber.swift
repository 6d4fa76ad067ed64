import AsyncHTTPClient
import GlimpseCore
import GlimpseStoreDrivers
import Logging
import ServiceLifecycle
import UnixSignals

extension GlimpseApp {
    /// The scrubber on the configured catalog and stores (`glimpse scrub`), closed after `body`.
    public static func withScrubber<T: Sendable>(
        _ configuration: GlimpseConfiguration, logger: Logger, _ body: (Scrubber) async throws -> T
    ) async throws -> T {
        let (catalog, executor) = try await openCatalog(configuration, logger: logger)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPBlobStore.clientConfiguration())
        let clients = ClientPool()
        let resources = Resources(executor: executor, httpClient: httpClient, keystoneHTTP: nil, storeClients: clients)
        do {
            let stores = try await makeStores(configuration, httpClient: httpClient, clients: clients)
            let service = ImageService(
                catalog: catalog, defaultStore: stores.default, otherStores: stores.others,
                configuration: configuration.service, logger: logger)
            let result = try await body(Scrubber(service: service, configuration: configuration.scrubber, logger: logger))
            try await resources.close()
            return result
        } catch {
            try? await resources.close()
            throw error
        }
    }

    /// `glimpse scrub --daemon`: a pass every `wakeup_time` until SIGTERM or SIGINT.
    public static func runScrubberDaemon(_ configuration: GlimpseConfiguration, logger: Logger) async throws {
        try await withScrubber(configuration, logger: logger) { scrubber in
            let group = ServiceGroup(
                configuration: .init(
                    services: [ScrubberService(scrubber: scrubber, logger: logger)], gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
        }
    }
}
