import Foundation
import Testing
import GlimpseAPI
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
import Logging
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore

/// An in-process Glimpse: the real router on an in-memory SQLite catalog and an in-memory store.
struct TestGlimpse {
    let app: Application<RouterResponder<GlimpseRequestContext>>
    let service: ImageService
    let store: InMemoryBlobStore
    let catalog: SQLCatalog
    let executor: SQLiteExecutor

    static func make(
        clock: (@Sendable () -> Date)? = nil, extraStores: [any BlobStore] = [],
        configure: (inout ImageServiceConfiguration) -> Void = { _ in }
    ) async throws -> TestGlimpse {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let clock = clock ?? { Date() }
        let catalog = SQLCatalog(executor: executor, clock: clock)
        try await catalog.migrate()
        let store = InMemoryBlobStore()
        var configuration = ImageServiceConfiguration()
        configure(&configuration)
        let stagingDir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-staging-\(UUID().uuidString)").path
        let stagingStore = try FileBlobStore(
            id: "os_glance_staging_store",
            options: StoreOptions(section: "os_glance_staging_store", values: ["filesystem_store_datadir": stagingDir]))
        try await stagingStore.prepare()
        let service = ImageService(
            catalog: catalog, defaultStore: store, otherStores: extraStores, configuration: configuration,
            staging: StagingArea(store: stagingStore, directory: stagingDir), clock: clock)
        let jobs = BackgroundJobs()
        let metadefs = MetadefService(catalog: catalog, configuration: configuration, clock: clock)
        let router = GlimpseRouter.build(service: service, configuration: APIConfiguration(), jobs: jobs, metadefs: metadefs)
        return TestGlimpse(
            app: Application(router: router, services: [jobs, TaskWorker(service: service, logger: Logger(label: "test.tasks"))]),
            service: service, store: store, catalog: catalog, executor: executor)
    }

    /// Runs `body` against the router, then closes the catalog (SQLiteNIO insists on it).
    func test<T>(_ body: @Sendable (Client) async throws -> T) async throws -> T {
        do {
            let result = try await app.test(.router) { client in try await body(Client(inner: client)) }
            try await executor.close()
            return result
        } catch {
            try? await executor.close()
            throw error
        }
    }
}

/// Identities used across the tests (noauth headers).
enum Who {
    static let admin: [String: String] = [:]
    static let alice: [String: String] = ["X-Project-Id": "proj-alice", "X-Roles": "member,reader", "X-User-Id": "alice"]
    static let bob: [String: String] = ["X-Project-Id": "proj-bob", "X-Roles": "member,reader", "X-User-Id": "bob"]
    static let aliceReader: [String: String] = ["X-Project-Id": "proj-alice", "X-Roles": "reader"]
}

struct Client: Sendable {
    let inner: any TestClientProtocol

    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, body: ByteBuffer? = nil,
        contentType: String? = nil, as who: [String: String] = Who.admin, headers extra: [String: String] = [:]
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        for (k, v) in who.merging(extra, uniquingKeysWith: { $1 }) { headers[HTTPField.Name(k)!] = v }
        var payload = body
        if let json {
            payload = ByteBuffer(string: json)
            headers[.contentType] = contentType ?? "application/json"
        } else if let contentType {
            headers[.contentType] = contentType
        }
        return try await inner.execute(uri: uri, method: method, headers: headers, body: payload)
    }

    /// Creates an image and returns its id.
    func create(_ json: String = #"{"name": "img", "disk_format": "raw", "container_format": "bare"}"#,
                as who: [String: String] = Who.admin) async throws -> String {
        let r = try await send(.post, "/v2/images", json: json, as: who)
        guard r.status == .created, let id = r.json["id"]?.stringValue else {
            throw TestFailure("create failed: \(r.status) \(String(buffer: r.body))")
        }
        return id
    }

    func upload(_ id: String, _ data: [UInt8], as who: [String: String] = Who.admin) async throws -> TestResponse {
        try await send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: data), contentType: "application/octet-stream", as: who)
    }

    func patch(_ id: String, _ ops: String, as who: [String: String] = Who.admin,
               mediaType: String = "application/openstack-images-v2.1-json-patch") async throws -> TestResponse {
        try await send(.patch, "/v2/images/\(id)", json: ops, contentType: mediaType, as: who)
    }

    func ids(_ query: String, as who: [String: String] = Who.admin) async throws -> [String] {
        let r = try await send(.get, "/v2/images" + (query.isEmpty ? "" : "?" + query), as: who)
        guard r.status == .ok else { throw TestFailure("list \(query) failed: \(r.status) \(String(buffer: r.body))") }
        return r.json["images"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension TestResponse {
    var json: JSONObject { (try? JSONValue.parse(Array(body.readableBytesView)))?.objectValue ?? JSONObject() }
}

/// Deterministic pseudo-random bytes.
func bytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

/// A clock that moves one second forward on every reading, so creation times are distinct.
final class SteppingClock: Sendable {
    let counter = NIOLockedValueBox<Double>(1_700_000_000)
    func now() -> Date {
        counter.withLockedValue { t in
            t += 1
            return Date(timeIntervalSince1970: t)
        }
    }
}

/// The catalog backends every catalog test runs against: SQLite in memory and on disk, and
/// PostgreSQL when `GLIMPSE_PG_URL` names a server (`scripts/test.sh` starts one through
/// ../shared/services/start-postgres.sh). With `GLIMPSE_REQUIRE_POSTGRES=1` a missing server
/// fails the test instead of leaving PostgreSQL out.
enum CatalogBackends {
    static func each(
        clock: @escaping @Sendable () -> Date = { Date() }, _ body: (String, SQLCatalog) async throws -> Void
    ) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-cat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try await run("sqlite-memory", try await SQLiteExecutor.open(path: ":memory:"), clock: clock, body)
        try await run("sqlite-file", try await SQLiteExecutor.open(path: dir.appendingPathComponent("c.db").path, poolSize: 3), clock: clock, body)
        if let schema = try await PostgresTestSchema.create() {
            do {
                try await run("postgres", schema.executor, clock: clock, body)
            } catch {
                await schema.drop()
                throw error
            }
            await schema.drop()
        }
    }

    static func run(
        _ name: String, _ executor: any SQLExecutor, clock: @escaping @Sendable () -> Date, _ body: (String, SQLCatalog) async throws -> Void
    ) async throws {
        let catalog = SQLCatalog(executor: executor, clock: clock)
        do {
            try await catalog.migrate()
            try await body(name, catalog)
            try await executor.close()
        } catch {
            try? await executor.close()
            throw error
        }
    }
}

/// A schema of its own on the test PostgreSQL server, dropped afterwards.
struct PostgresTestSchema {
    let executor: PostgresExecutor
    let name: String
    let url: String

    static var url: String? { ProcessInfo.processInfo.environment["GLIMPSE_PG_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    static func create() async throws -> PostgresTestSchema? {
        guard let url else {
            if ProcessInfo.processInfo.environment["GLIMPSE_REQUIRE_POSTGRES"] == "1" {
                Issue.record("GLIMPSE_REQUIRE_POSTGRES=1 but GLIMPSE_PG_URL is not set")
            }
            return nil
        }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await PostgresExecutor.open(url: url)
        _ = try await admin.query("CREATE SCHEMA \(name)", [])
        try await admin.close()
        var options = PostgresExecutor.Options()
        options.searchPath = name
        options.poolSize = 12
        return PostgresTestSchema(executor: try await PostgresExecutor.open(url: url, options: options), name: name, url: url)
    }

    func drop() async {
        guard let admin = try? await PostgresExecutor.open(url: url) else { return }
        _ = try? await admin.query("DROP SCHEMA \(name) CASCADE", [])
        try? await admin.close()
    }
}
