import AsyncHTTPClient
import Foundation
import GlimpseAPI
import GlimpseCatalog
import GlimpseCore
import GlimpseKeystone
import GlimpsePolicy
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
    /// Opens the catalog (PostgreSQL for a `postgresql://` connection; otherwise SQLite, creating
    /// the file's directory) and migrates it.
    public static func openCatalog(_ configuration: GlimpseConfiguration, logger: Logger) async throws -> (SQLCatalog, any SQLExecutor) {
        if configuration.usesPostgres {
            var options = PostgresExecutor.Options()
            options.poolSize = configuration.databasePoolSize
            options.statementTimeout = .milliseconds(configuration.databaseStatementTimeoutMilliseconds)
            let executor = try await PostgresExecutor.open(url: configuration.databaseConnection, options: options, logger: logger)
            let catalog = SQLCatalog(executor: executor)
            do {
                try await catalog.migrate()
            } catch {
                try? await executor.close()
                throw error
            }
            return (catalog, executor)
        }
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

    /// The configured stores, plus a read-only http store (as glance_store always has one)
    /// for external locations when none is configured.
    public static func makeStores(_ configuration: GlimpseConfiguration, httpClient: HTTPClient, clients: ClientPool) async throws
        -> (default: any BlobStore, others: [any BlobStore])
    {
        var stores: [any BlobStore] = []
        for entry in configuration.stores {
            do {
                stores.append(try await makeStore(entry, httpClient: httpClient, clients: clients))
            } catch let error as StoreConfigurationError {
                throw ConfigurationError(error.message)
            }
        }
        if !stores.contains(where: { $0 is HTTPBlobStore }) { stores.append(HTTPBlobStore(client: httpClient)) }
        guard let def = stores.first(where: { $0.id == configuration.defaultStoreID }) else {
            throw ConfigurationError("the default store \(configuration.defaultStoreID) is not configured")
        }
        return (def, stores.filter { $0.id != def.id })
    }

    static func makeStore(_ entry: GlimpseConfiguration.StoreConfiguration, httpClient: HTTPClient, clients: ClientPool)
        async throws -> any BlobStore
    {
        /// Object stores get their own HTTP client: their timeouts are per store.
        func timeouts(_ prefix: String, read: Int64) throws -> (TimeAmount, TimeAmount) {
            (.seconds(Int64(try entry.options.int("\(prefix)_connect_timeout", default: 10))),
             .seconds(Int64(try entry.options.int("\(prefix)_read_timeout", default: Int(read)))))
        }
        switch entry.type {
        case "s3":
            let (connect, read) = try timeouts("glimpse_s3", read: 120)
            let client = clients.make(S3BlobStore.clientConfiguration(connectTimeout: connect, readTimeout: read))
            return try S3BlobStore(id: entry.id, options: entry.options, client: client)
        case "swift":
            let swift = try SwiftStoreConfiguration(options: entry.options)
            return SwiftBlobStore(id: entry.id, configuration: swift, client: clients.make(SwiftBlobStore.clientConfiguration(swift)))
        case "file":
            let store = try FileBlobStore(id: entry.id, options: entry.options, resolve: absolutePath)
            try await store.prepare()
            return store
        case "http":
            return HTTPBlobStore(id: entry.id, client: httpClient)
        default:
            throw ConfigurationError("store type \(entry.type) of \(entry.id) is not built yet")
        }
    }

    /// The staging area: a file store of its own (Glance's `os_glance_staging_store`), or a
    /// Swift or S3 store every node reaches, with the directory as the node's plugin scratch.
    static func makeStaging(_ configuration: GlimpseConfiguration, httpClient: HTTPClient, clients: ClientPool) async throws
        -> StagingArea
    {
        let dir = absolutePath(configuration.stagingPath)
        do {
            let store = try FileBlobStore(
                id: "os_glance_staging_store",
                options: StoreOptions(section: "os_glance_staging_store", values: ["filesystem_store_datadir": dir]),
                resolve: absolutePath)
            try await store.prepare()
            if let shared = configuration.sharedStaging {
                let remote = try await makeStore(shared, httpClient: httpClient, clients: clients)
                guard remote.location(forImageID: "probe") != nil else {
                    throw ConfigurationError("[os_glance_staging_store]: a \(shared.type) store cannot stage data")
                }
                return StagingArea(shared: remote, scratchStore: store, scratchDirectory: dir)
            }
            return StagingArea(store: store, directory: dir)
        } catch let error as StoreConfigurationError {
            throw ConfigurationError("staging area: \(error.message)")
        } catch {
            throw ConfigurationError("staging area \(dir) cannot be used: \(error)")
        }
    }

    /// The operator's policy (`policy.yaml` and `policy.d` over Glance's defaults) and property
    /// protections, read once at start-up; a bad file stops start-up with a clear message.
    public static func loadPolicy(_ configuration: GlimpseConfiguration) throws -> (ImagePolicy, PropertyProtections?) {
        let enforcer: PolicyEnforcer
        do {
            enforcer = try PolicyEnforcer.load(policyFile: configuration.resolve(configuration.policyFile), policyDirs: configuration.policyDirs)
        } catch {
            throw ConfigurationError("[oslo_policy] policy_file \(configuration.policyFile): \(error)")
        }
        guard let file = configuration.propertyProtectionFile else { return (ImagePolicy(enforcer: enforcer), nil) }
        let path = configuration.resolve(file)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("property_protection_file \(file) cannot be read")
        }
        do {
            let protections = try PropertyProtections(
                iniText: text, format: configuration.propertyProtectionFormat == "policies" ? .policies : .roles, enforcer: enforcer)
            return (ImagePolicy(enforcer: enforcer), protections)
        } catch {
            throw ConfigurationError("property_protection_file \(file): \(error)")
        }
    }

    /// Builds the application; `onServerRunning` receives the bound port (useful with port 0).
    public static func buildApplication(
        _ configuration: GlimpseConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> (some ApplicationProtocol, Resources) {
        var configuration = configuration
        (configuration.service.policy, configuration.service.propertyProtections) = try loadPolicy(configuration)
        let (catalog, executor) = try await openCatalog(configuration, logger: logger)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPBlobStore.clientConfiguration())
        let jobs = BackgroundJobs()
        let stores: (default: any BlobStore, others: [any BlobStore])
        let clients = ClientPool()
        do {
            stores = try await makeStores(configuration, httpClient: httpClient, clients: clients)
        } catch {
            await clients.shutdown()
            try? await httpClient.shutdown()
            try? await executor.close()
            throw error
        }
        for i in configuration.service.storeDetails.indices {
            let id = configuration.service.storeDetails[i].id
            if let store = ([stores.default] + stores.others).first(where: { $0.id == id }) {
                configuration.service.storeDetails[i].properties = store.discoveryProperties
            }
        }
        let staging: StagingArea
        let webFetcher: SafeWebFetcher
        do {
            staging = try await makeStaging(configuration, httpClient: httpClient, clients: clients)
        } catch {
            await clients.shutdown()
            try? await httpClient.shutdown()
            try? await executor.close()
            throw error
        }
        do {
            webFetcher = try SafeWebFetcher(configuration: configuration.webDownload)
        } catch {
            await clients.shutdown()
            try? await httpClient.shutdown()
            try? await executor.close()
            throw ConfigurationError("web-download: the TLS trust roots cannot be loaded")
        }
        let service = ImageService(
            catalog: catalog, defaultStore: stores.default, otherStores: stores.others,
            configuration: configuration.service, staging: staging, logger: logger, webFetcher: webFetcher)
        let keystone = configuration.keystone.map {
            KeystoneClient(configuration: $0, http: HTTPClient(eventLoopGroupProvider: .singleton,
                                                              configuration: KeystoneClient.httpConfiguration($0)), logger: logger)
        }
        let router =
            configuration.role == .api
            ? GlimpseRouter.build(
                service: service, configuration: configuration.api, jobs: jobs, keystone: keystone,
                metadefs: MetadefService(catalog: catalog, configuration: configuration.service))
            : GlimpseRouter.buildRegistry(service: service, configuration: configuration.api, jobs: jobs, keystone: keystone)
        // Every node (registry too: v1 uploads run there) keeps its write leases alive and undoes
        // the writes of nodes that died.
        var services: [any Service] = [jobs, WriteLeaseKeeper(service: service, logger: logger)]
        if configuration.role == .api { services.append(TaskWorker(service: service, logger: logger)) }
        let cleanups = ([stores.default] + stores.others).compactMap { ($0 as? any DefersCleanups)?.deferredCleanups }
        if !cleanups.isEmpty { services.append(StoreCleanup(cleanups: cleanups)) }
        if configuration.role == .api, configuration.service.delayedDelete, configuration.scrubber.runInAPI {
            services.append(ScrubberService(scrubber: Scrubber(service: service, configuration: configuration.scrubber), logger: logger))
        }
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: GlimpseRouter.channelHandlers())),
            configuration: .init(address: .hostname(configuration.bindHost, port: configuration.bindPort), serverName: nil),
            services: services,
            onServerRunning: { [bindPort = configuration.bindPort] channel in
                await onServerRunning(channel.localAddress?.port ?? bindPort)
            },
            logger: logger)
        return (app, Resources(executor: executor, httpClient: httpClient, keystoneHTTP: keystone?.http, storeClients: clients))
    }

    /// Finishes what abandoned uploads left while an object store was down (Swift segments to
    /// delete, S3 multipart uploads to abort), once it is back; runs until shutdown.
    struct StoreCleanup: Service {
        let cleanups: [DeferredCleanups]

        func run() async throws {
            try await cancelWhenGracefulShutdown { [cleanups] in
                await withDiscardingTaskGroup { group in
                    for cleanup in cleanups { group.addTask { await cleanup.run() } }
                }
            }
        }
    }

    /// HTTP clients made for stores, shut down with the rest.
    public final class ClientPool: @unchecked Sendable {
        // @unchecked: filled during start-up on one task, read at shutdown.
        var clients: [HTTPClient] = []
        func make(_ configuration: HTTPClient.Configuration) -> HTTPClient {
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients.append(client)
            return client
        }
        func shutdown() async {
            for client in clients { try? await client.shutdown() }
        }
    }

    /// What must be closed after the service group ends.
    public struct Resources: Sendable {
        let executor: any SQLExecutor
        let httpClient: HTTPClient
        let keystoneHTTP: HTTPClient?
        let storeClients: ClientPool

        public func close() async throws {
            await storeClients.shutdown()
            try? await httpClient.shutdown()
            try? await keystoneHTTP?.shutdown()
            try await executor.close()
        }
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully (requests in flight finish).
    public static func serve(_ configuration: GlimpseConfiguration, logger: Logger) async throws {
        let (app, resources) = try await buildApplication(configuration, logger: logger) { port in
            logger.notice("glimpse listening", metadata: ["role": "\(configuration.role.rawValue)", "host": "\(configuration.bindHost)", "port": "\(port)"])
        }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await resources.close()
    }
}
