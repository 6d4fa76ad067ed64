import Foundation
import GlimpseAPI
import GlimpseCatalog
import GlimpseCore
import GlimpseStore
import GlimpseStoreDrivers
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Wiring: concrete catalog and stores from the configuration, the service, the router, and
/// the HTTP server as one `Service` in one `ServiceGroup`.
public enum GlimpseApp {
    /// Opens the catalog (creating the SQLite file's directory) and migrates it.
    public static func openCatalog(_ configuration: GlimpseConfiguration, logger: Logger) async throws -> (SQLCatalog, SQLiteExecutor) {
        let path = try configuration.sqlitePath()
        if path != ":memory:" {
            let dir = (absolutePath(path) as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let executor = try await SQLiteExecutor.open(path: path, poolSize: configuration.sqlitePoolSize, logger: logger)
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        return (catalog, executor)
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        var joined = cwd + "/" + path
        while joined.contains("/./") { joined = joined.replacingOccurrences(of: "/./", with: "/") }
        return joined
    }

    public static func makeStores(_ configuration: GlimpseConfiguration) async throws -> (default: any BlobStore, others: [any BlobStore]) {
        var stores: [FileBlobStore] = []
        for fs in configuration.fileStores {
            let store = FileBlobStore(id: fs.id, dataDir: absolutePath(fs.dataDir))
            try await store.prepare()
            stores.append(store)
        }
        let def = stores.first { $0.id == configuration.defaultStoreID } ?? stores[0]
        return (def, stores.filter { $0.id != def.id })
    }

    /// Builds the application; `onServerRunning` receives the bound port (useful with port 0).
    public static func buildApplication(
        _ configuration: GlimpseConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> (some ApplicationProtocol, SQLiteExecutor) {
        let (catalog, executor) = try await openCatalog(configuration, logger: logger)
        let stores = try await makeStores(configuration)
        let service = ImageService(
            catalog: catalog, defaultStore: stores.default, otherStores: stores.others,
            configuration: configuration.service, logger: logger)
        let router =
            configuration.role == .api
            ? GlimpseRouter.build(service: service, configuration: configuration.api)
            : GlimpseRouter.buildRegistry(service: service, configuration: configuration.api)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
            configuration: .init(address: .hostname(configuration.bindHost, port: configuration.bindPort), serverName: nil),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.bindPort) },
            logger: logger)
        return (app, executor)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully (requests in flight finish).
    public static func serve(_ configuration: GlimpseConfiguration, logger: Logger) async throws {
        let (app, executor) = try await buildApplication(configuration, logger: logger) { port in
            logger.notice("glimpse listening", metadata: ["role": "\(configuration.role.rawValue)", "host": "\(configuration.bindHost)", "port": "\(port)"])
        }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await executor.close()
    }
}
