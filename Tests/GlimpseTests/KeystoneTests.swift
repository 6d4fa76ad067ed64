import AsyncHTTPClient
import Foundation
import GlimpseAPI
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseKeystone
import GlimpseStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// An in-process Keystone v3 stand-in: enough of `/v3/auth/tokens` to exercise the token
/// validation edge cases (expired, revoked, scoped to another project, service re-login).
final class KeystoneStandIn: Sendable {
    struct Token: Sendable {
        var user: String
        var project: String?
        var roles: [String]
        var expires: Date
    }

    let tokens = NIOLockedValueBox<[String: Token]>([:])
    let serviceTokens = NIOLockedValueBox<Set<String>>([])
    let validations = NIOLockedValueBox(0)
    let logins = NIOLockedValueBox(0)

    func add(_ id: String, user: String, project: String?, roles: [String], expires: Date = Date().addingTimeInterval(3600)) {
        tokens.withLockedValue { $0[id] = Token(user: user, project: project, roles: roles, expires: expires) }
    }

    func revoke(_ id: String) { _ = tokens.withLockedValue { $0.removeValue(forKey: id) } }

    /// Forgets the service user's tokens, as a Keystone restart with new keys would.
    func expireServiceTokens() { serviceTokens.withLockedValue { $0.removeAll() } }

    static func document(_ t: Token) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let roles = t.roles.map { #"{"id": "r-\#($0)", "name": "\#($0)"}"# }.joined(separator: ", ")
        let project = t.project.map { #", "project": {"id": "\#($0)", "name": "\#($0)-name", "domain": {"id": "default"}}"# } ?? ""
        return #"{"token": {"user": {"id": "\#(t.user)", "name": "\#(t.user)-name", "domain": {"id": "default"}}, "expires_at": "\#(f.string(from: t.expires))", "roles": [\#(roles)]\#(project)}}"#
    }

    func app() -> some ApplicationProtocol {
        let router = Router()
        router.post("/v3/auth/tokens") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            guard String(buffer: body).contains("\"glance-secret\"") else { return Response(status: .unauthorized) }
            let id = "svc-" + UUID().uuidString
            self.logins.withLockedValue { $0 += 1 }
            self.serviceTokens.withLockedValue { _ = $0.insert(id) }
            let doc = Self.document(Token(user: "glance", project: "service", roles: ["admin", "service"], expires: Date().addingTimeInterval(3600)))
            return Response(status: .created, headers: [HTTPField.Name("X-Subject-Token")!: id, .contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: doc)))
        }
        router.get("/v3/auth/tokens") { request, _ in
            self.validations.withLockedValue { $0 += 1 }
            guard let auth = request.headers[HTTPField.Name("X-Auth-Token")!], self.serviceTokens.withLockedValue({ $0.contains(auth) })
            else { return Response(status: .unauthorized) }
            guard let subject = request.headers[HTTPField.Name("X-Subject-Token")!],
                  let t = self.tokens.withLockedValue({ $0[subject] })
            else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: Self.document(t))))
        }
        return Application(router: router)
    }

    /// Runs `body` with the stand-in on a free port and a client configured for it.
    func run(
        clock: @escaping @Sendable () -> Date = { Date() }, cacheTime: TimeInterval = 300,
        _ body: @Sendable (KeystoneClient, String) async throws -> Void
    ) async throws {
        try await app().test(.live) { c in
            let url = "http://127.0.0.1:\(c.port!)"
            try await Self.withClient(url: url, clock: clock, cacheTime: cacheTime) { try await body($0, url) }
        }
    }

    static func withClient(
        url: String, clock: @escaping @Sendable () -> Date = { Date() }, cacheTime: TimeInterval = 300,
        _ body: @Sendable (KeystoneClient) async throws -> Void
    ) async throws {
        var conf = KeystoneConfiguration(authURL: url + "/v3", username: "glance", password: "glance-secret", projectName: "service")
        conf.tokenCacheTime = cacheTime
        conf.requestTimeout = 2
        conf.connectTimeout = 1
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: KeystoneClient.httpConfiguration(conf))
        do {
            try await body(KeystoneClient(configuration: conf, http: http, clock: clock))
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

@Suite struct KeystoneClientTests {
    @Test func validatesAndCaches() async throws {
        let ks = KeystoneStandIn()
        ks.add("t-alice", user: "alice", project: "p1", roles: ["member", "reader"])
        try await ks.run { (client, _) async throws in
            let info = try #require(try await client.validate("t-alice"))
            #expect(info.userID == "alice" && info.projectID == "p1" && info.roles == ["member", "reader"])
            #expect(try await client.validate("t-alice") != nil)
            #expect(ks.validations.withLockedValue { $0 } == 1, "the second check comes from the cache")
            #expect(ks.logins.withLockedValue { $0 } == 1)
            #expect(try await client.validate("nonsense") == nil)
        }
    }

    @Test func expiredTokensAreRefused() async throws {
        let ks = KeystoneStandIn()
        ks.add("t-old", user: "alice", project: "p1", roles: ["member"], expires: Date().addingTimeInterval(-5))
        ks.add("t-soon", user: "alice", project: "p1", roles: ["member"], expires: Date().addingTimeInterval(30))
        let offset = NIOLockedValueBox<TimeInterval>(0)
        try await ks.run(clock: { Date().addingTimeInterval(offset.withLockedValue { $0 }) }) { (client, _) async throws in
            #expect(try await client.validate("t-old") == nil)
            #expect(try await client.validate("t-soon") != nil)
            offset.withLockedValue { $0 = 60 }
            #expect(try await client.validate("t-soon") == nil, "a cached token stops working when it expires")
        }
    }

    @Test func revocationIsHonouredWithinTheCacheTime() async throws {
        let ks = KeystoneStandIn()
        ks.add("t-bob", user: "bob", project: "p2", roles: ["member"])
        let offset = NIOLockedValueBox<TimeInterval>(0)
        try await ks.run(clock: { Date().addingTimeInterval(offset.withLockedValue { $0 }) }, cacheTime: 30) { (client, _) async throws in
            #expect(try await client.validate("t-bob") != nil)
            ks.revoke("t-bob")
            offset.withLockedValue { $0 = 10 }
            #expect(try await client.validate("t-bob") != nil, "still cached")
            offset.withLockedValue { $0 = 31 }
            #expect(try await client.validate("t-bob") == nil, "revoked after token_cache_time")
        }
    }

    @Test func reLogsInWhenItsOwnTokenIsRejected() async throws {
        let ks = KeystoneStandIn()
        ks.add("t-1", user: "u1", project: "p1", roles: ["reader"])
        ks.add("t-2", user: "u2", project: "p1", roles: ["reader"])
        try await ks.run { (client, _) async throws in
            #expect(try await client.validate("t-1") != nil)
            ks.expireServiceTokens()
            #expect(try await client.validate("t-2") != nil)
            #expect(ks.logins.withLockedValue { $0 } == 2)
        }
    }

    @Test func keystoneDownIsUnavailable() async throws {
        try await KeystoneStandIn.withClient(url: "http://127.0.0.1:9") { (client) async throws in
            do {
                _ = try await client.validate("anything")
                Issue.record("must not validate without Keystone")
            } catch let e as GlimpseError {
                #expect(e.code == .unavailable)
            }
        }
    }
}

/// The middleware in front of the real router: 401 with the challenge, 503 without Keystone,
/// the token's project deciding what is visible.
@Suite struct KeystoneMiddlewareTests {
    func glimpse(_ keystone: KeystoneClient) async throws -> (Application<RouterResponder<GlimpseRequestContext>>, SQLiteExecutor) {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor)
        try await catalog.migrate()
        let service = ImageService(catalog: catalog, defaultStore: InMemoryBlobStore())
        let jobs = BackgroundJobs()
        let router = GlimpseRouter.build(service: service, configuration: APIConfiguration(), jobs: jobs, keystone: keystone)
        return (Application(router: router, services: [jobs]), executor)
    }

    @Test func tokensDecideWhoIsCalling() async throws {
        let ks = KeystoneStandIn()
        ks.add("t-p1", user: "alice", project: "p1", roles: ["member", "reader"])
        ks.add("t-p2", user: "bob", project: "p2", roles: ["member", "reader"])
        ks.add("t-p2-reader", user: "carol", project: "p2", roles: ["reader"])
        ks.add("t-nova", user: "nova", project: "service", roles: ["service"])
        try await ks.run { (keystone, url) async throws in
            let (app, executor) = try await glimpse(keystone)
            try await app.test(.router) { c in
                func send(_ m: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields = [:], json: String? = nil) async throws -> TestResponse {
                    var h = headers
                    if json != nil { h[.contentType] = "application/json" }
                    return try await c.execute(uri: uri, method: m, headers: h, body: json.map { ByteBuffer(string: $0) })
                }
                func tok(_ t: String) -> HTTPFields { [HTTPField.Name("X-Auth-Token")!: t] }
                // Open paths need no token.
                #expect(try await send(.get, "/").status == .multipleChoices)
                #expect(try await send(.get, "/versions").status == .ok)
                #expect(try await send(.get, "/healthcheck").status == .ok)
                // No token, a bad token, a bad service token: 401 naming Keystone.
                for headers in [[:], tok("forged"), tok("t-p1") + [HTTPField.Name("X-Service-Token")!: "forged"]] as [HTTPFields] {
                    let r = try await send(.get, "/v2/images", headers)
                    #expect(r.status == .unauthorized)
                    #expect(r.headers[HTTPField.Name("WWW-Authenticate")!] == "Keystone uri=\"\(url)\"")
                }
                // Identity headers are not trusted under Keystone.
                let spoof = try await send(.get, "/v2/images", [HTTPField.Name("X-Roles")!: "admin", HTTPField.Name("X-Project-Id")!: "p1"])
                #expect(spoof.status == .unauthorized)
                // The token's project owns what it creates; another project cannot see it.
                let created = try await send(.post, "/v2/images", tok("t-p1"), json: #"{"name": "a", "visibility": "private"}"#)
                #expect(created.status == .created)
                let id = try #require(created.json["id"]?.stringValue)
                #expect(created.json["owner"] == .string("p1"))
                #expect(try await send(.get, "/v2/images/\(id)", tok("t-p1")).status == .ok)
                #expect(try await send(.get, "/v2/images/\(id)", tok("t-p2")).status == .notFound)
                // A reader cannot create.
                #expect(try await send(.post, "/v2/images", tok("t-p2-reader"), json: #"{"name": "b"}"#).status == .forbidden)
                // Only admin may publicise by default.
                #expect(try await send(.post, "/v2/images", tok("t-p1"), json: #"{"name": "c", "visibility": "public"}"#).status == .forbidden)
            }
            try await executor.close()
        }
    }

    @Test func keystoneDownIsA503NotAnOpenDoor() async throws {
        try await KeystoneStandIn.withClient(url: "http://127.0.0.1:9") { (keystone) async throws in
            let (app, executor) = try await glimpse(keystone)
            try await app.test(.router) { c in
                let r = try await c.execute(uri: "/v2/images", method: .get, headers: [HTTPField.Name("X-Auth-Token")!: "t"], body: nil)
                #expect(r.status == .serviceUnavailable)
                #expect(!String(buffer: r.body).contains("127.0.0.1:9"))
            }
            try await executor.close()
        }
    }
}
