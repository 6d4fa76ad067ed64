import AsyncHTTPClient
import Foundation
import GlimpseDomain
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// `[keystone_authtoken]`: how Glimpse finds Keystone and logs in as its own service user
/// (keystonemiddleware's option names).
public struct KeystoneConfiguration: Sendable, Equatable {
    /// `auth_url`: where tokens are validated (`http://host:5000` or `.../v3`).
    public var authURL: String
    /// `www_authenticate_uri`: what 401 answers tell clients (defaults to `auth_url`).
    public var wwwAuthenticateURI: String?
    public var username: String
    public var password: String
    public var projectName: String
    public var userDomainName = "Default"
    public var projectDomainName = "Default"
    /// `token_cache_time`: how long (seconds) a validated token is trusted before Keystone is
    /// asked again; this bounds how late a revocation takes effect.
    public var tokenCacheTime: TimeInterval = 300
    /// `service_token_roles`: roles a `X-Service-Token` must carry (any of them).
    public var serviceTokenRoles: Set<String> = ["service"]
    /// `http_connect_timeout` (seconds).
    public var connectTimeout: Int64 = 5
    /// `http_request_timeout`: a Keystone that does not answer within this is "down" (503).
    public var requestTimeout: Int64 = 10

    public init(authURL: String, username: String, password: String, projectName: String) {
        self.authURL = authURL
        self.username = username
        self.password = password
        self.projectName = projectName
    }

    /// `auth_url` without a trailing `/v3` or `/`.
    var base: String {
        var url = authURL
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/v3") { url.removeLast(3) }
        return url
    }

    /// The URI put in `WWW-Authenticate: Keystone uri="…"`.
    public var challengeURI: String { wwwAuthenticateURI ?? base }
}

/// What a validated token says about its bearer.
public struct TokenInfo: Sendable, Equatable {
    public var userID: String
    public var userName: String?
    public var projectID: String?
    public var projectName: String?
    public var domainID: String?
    public var roles: Set<String>
    public var expiresAt: Date
    /// `system` scope (`"all"`), for system-scoped tokens.
    public var systemScope: String?
}

/// Talks to Keystone v3 the way keystonemiddleware's `auth_token` does: logs in as the service
/// user (token cached until shortly before it expires), validates each user token with
/// `GET /v3/auth/tokens` (`X-Subject-Token`, no catalog), and caches the answers for at most
/// `token_cache_time`. A Keystone that cannot be reached is reported as `.unavailable`, so the
/// caller answers 503 instead of letting the request through.
public final class KeystoneClient: Sendable {
    public let configuration: KeystoneConfiguration
    public let http: HTTPClient
    let logger: Logger
    let clock: @Sendable () -> Date
    let serviceToken = NIOLockedValueBox<(token: String, expires: Date)?>(nil)
    let cache = NIOLockedValueBox<[String: (info: TokenInfo?, until: Date)]>([:])
    /// Most tokens cached at once; the oldest half is dropped beyond it.
    let cacheLimit = 10_000

    public init(
        configuration: KeystoneConfiguration, http: HTTPClient, logger: Logger = Logger(label: "glimpse.keystone"),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
        self.clock = clock
    }

    /// The client configuration Keystone calls use (timeouts from the configuration).
    public static func httpConfiguration(_ c: KeystoneConfiguration) -> HTTPClient.Configuration {
        HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(c.connectTimeout), read: .seconds(c.requestTimeout)))
    }

    /// The bearer of `token`, or nil when Keystone says the token is not valid (unknown,
    /// expired, revoked). Throws `.unavailable` when Keystone cannot answer.
    public func validate(_ token: String) async throws -> TokenInfo? {
        let now = clock()
        if let hit = cache.withLockedValue({ $0[token] }), hit.until > now {
            if let info = hit.info, info.expiresAt <= now { return nil }
            return hit.info
        }
        var info = try await fetchTokenInfo(token, retryOnServiceAuthFailure: true)
        if let i = info, i.expiresAt <= now { info = nil }
        // Valid tokens are trusted until they expire or token_cache_time passes; refusals are
        // remembered briefly too, so a flood of bad tokens does not become a flood on Keystone.
        let until = min(info?.expiresAt ?? now.addingTimeInterval(10), now.addingTimeInterval(configuration.tokenCacheTime))
        cache.withLockedValue { cache in
            if cache.count >= cacheLimit {
                for key in cache.sorted(by: { $0.value.until < $1.value.until }).prefix(cacheLimit / 2).map(\.key) {
                    cache[key] = nil
                }
            }
            cache[token] = (info, until)
        }
        return info
    }

    /// Forgets every cached validation (used by tests and on configuration reload).
    public func clearCache() {
        cache.withLockedValue { $0.removeAll() }
    }

    func fetchTokenInfo(_ token: String, retryOnServiceAuthFailure: Bool) async throws -> TokenInfo? {
        let service = try await serviceAuthToken()
        var request = HTTPClientRequest(url: configuration.base + "/v3/auth/tokens?nocatalog")
        request.method = .GET
        request.headers.add(name: "X-Auth-Token", value: service)
        request.headers.add(name: "X-Subject-Token", value: token)
        request.headers.add(name: "OpenStack-Identity-Access-Rules", value: "1")
        request.headers.add(name: "Accept", value: "application/json")
        let (status, body) = try await send(request)
        switch status.code {
        case 200:
            return try Self.parseToken(body)
        case 404:
            return nil
        case 401 where retryOnServiceAuthFailure:
            // Our own token expired or was revoked: log in again, once.
            serviceToken.withLockedValue { $0 = nil }
            return try await fetchTokenInfo(token, retryOnServiceAuthFailure: false)
        case 400, 401, 403:
            logger.error("Keystone refused the token validation call", metadata: ["status": "\(status.code)"])
            throw GlimpseError(.unavailable, "The identity service refused the image service's credentials.")
        default:
            throw GlimpseError(.unavailable, "The identity service is not available (\(status.code)).")
        }
    }

    /// The service user's token, logging in when there is none or it is about to expire.
    func serviceAuthToken() async throws -> String {
        let now = clock()
        if let current = serviceToken.withLockedValue({ $0 }), current.expires > now.addingTimeInterval(60) {
            return current.token
        }
        let c = configuration
        let document = JSONValue.object(JSONObject([
            ("auth", .object(JSONObject([
                ("identity", .object(JSONObject([
                    ("methods", .array([.string("password")])),
                    ("password", .object(JSONObject([
                        ("user", .object(JSONObject([
                            ("name", .string(c.username)),
                            ("domain", .object(JSONObject([("name", .string(c.userDomainName))]))),
                            ("password", .string(c.password)),
                        ]))),
                    ]))),
                ]))),
                ("scope", .object(JSONObject([
                    ("project", .object(JSONObject([
                        ("name", .string(c.projectName)),
                        ("domain", .object(JSONObject([("name", .string(c.projectDomainName))]))),
                    ]))),
                ]))),
            ]))),
        ]))
        var request = HTTPClientRequest(url: c.base + "/v3/auth/tokens?nocatalog")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: document.serialized()))
        let (status, body, headers) = try await sendWithHeaders(request)
        guard status.code == 201 || status.code == 200, let token = headers.first(name: "X-Subject-Token") else {
            logger.error("the image service could not log in to Keystone", metadata: ["status": "\(status.code)"])
            throw GlimpseError(.unavailable, "The image service could not authenticate to the identity service.")
        }
        let expires = (try? Self.parseToken(body))?.expiresAt ?? now.addingTimeInterval(300)
        serviceToken.withLockedValue { $0 = (token, expires) }
        return token
    }

    func send(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, ByteBuffer) {
        let (status, body, _) = try await sendWithHeaders(request)
        return (status, body)
    }

    func sendWithHeaders(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, ByteBuffer, HTTPHeaders) {
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.requestTimeout))
            let body = try await response.body.collect(upTo: 4 << 20)
            return (response.status, body, response.headers)
        } catch let error as GlimpseError {
            throw error
        } catch {
            logger.error("Keystone could not be reached", metadata: ["error": "\(error)"])
            throw GlimpseError(.unavailable, "The identity service is not available.", underlying: error)
        }
    }

    /// Reads `{"token": {...}}` from a v3 token response.
    static func parseToken(_ body: ByteBuffer) throws -> TokenInfo {
        guard let root = try? JSONValue.parse(Array(body.readableBytesView)), let token = root.objectValue?["token"]?.objectValue,
              let user = token["user"]?.objectValue, let userID = user["id"]?.stringValue,
              let expiresText = token["expires_at"]?.stringValue, let expires = parseDate(expiresText)
        else {
            throw GlimpseError(.unavailable, "The identity service answered with a token document Glimpse cannot read.")
        }
        let project = token["project"]?.objectValue
        let roles = Set((token["roles"]?.arrayValue ?? []).compactMap { $0.objectValue?["name"]?.stringValue?.lowercased() })
        var system: String?
        if let s = token["system"]?.objectValue, s["all"]?.boolValue == true { system = "all" }
        return TokenInfo(
            userID: userID, userName: user["name"]?.stringValue, projectID: project?["id"]?.stringValue,
            projectName: project?["name"]?.stringValue,
            domainID: project?["domain"]?.objectValue?["id"]?.stringValue ?? user["domain"]?.objectValue?["id"]?.stringValue,
            roles: roles, expiresAt: expires, systemScope: system)
    }

    /// Keystone's `expires_at`: ISO 8601 with fractional seconds (`2026-11-24T22:10:00.000000Z`).
    public static func parseDate(_ text: String) -> Date? {
        var t = text
        if let dot = t.firstIndex(of: ".") {
            let zone = t[dot...].firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) ?? t.endIndex
            t.removeSubrange(dot..<zone)
        }
        if !t.hasSuffix("Z"), !t.contains("+"), t.count == 19 { t += "Z" }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: t)
    }
}
