import AsyncHTTPClient
import Foundation
import GlimpseDomain
import GlimpseKeystone
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One Swift account: how to log in, and the token and storage URL of the last login.
///
/// Callers ask for `validGrant()` before every request, so a token that expires within the
/// expire-soon interval is renewed before the request is sent (each segment of a large upload is
/// its own request, so a long transfer outlives any one token). A request answered 401 reports
/// its token with `rejected(_:)`, which logs in again once however many requests saw that
/// token fail. Concurrent callers share one login.
actor SwiftSession {
    struct Grant: Sendable {
        var token: String
        var storageURL: String
        var expires: Date?
    }

    enum Method: Sendable {
        case login(SwiftStoreConfiguration.Account)
        case fixed(token: String)
    }

    struct Settings: Sendable {
        var endpoint: String?
        var region: String?
        var endpointType: String
        var serviceType: String
        var expireSoonInterval: TimeInterval
        var requestTimeout: TimeAmount
        var clock: @Sendable () -> Date
    }

    let method: Method
    let http: HTTPClient
    let settings: Settings
    private var grant: Grant?
    private var loggingIn = false
    private var waiters: [CheckedContinuation<Grant, any Error>] = []
    /// Logins made (tests check re-authentication with it).
    private(set) var logins = 0
    /// Containers known to exist in this account.
    private var containers: Set<String> = []

    init(method: Method, http: HTTPClient, settings: Settings) {
        self.method = method
        self.http = http
        self.settings = settings
        if case .fixed(let token) = method, let endpoint = settings.endpoint {
            grant = Grant(token: token, storageURL: endpoint, expires: nil)
        }
    }

    /// A token and storage URL that will not expire within the expire-soon interval.
    func validGrant() async throws -> Grant {
        if let grant, !expiresSoon(grant) { return grant }
        return try await login()
    }

    /// `token` was refused (401): logs in again, unless another caller already has. Returns nil
    /// when there is no way to get another token (a fixed token).
    func rejected(_ token: String) async throws -> Grant? {
        if case .fixed = method { return nil }
        if let grant, grant.token != token { return grant }
        grant = nil
        return try await login()
    }

    /// Drops `token` so the next request logs in; used where the refused request cannot be retried.
    func forget(_ token: String) {
        if case .login = method, grant?.token == token { grant = nil }
    }

    func knows(container: String) -> Bool { containers.contains(container) }
    func remember(container: String) { containers.insert(container) }
    func forget(container: String) { containers.remove(container) }

    /// Test hook: replaces the cached token with one Swift refuses, keeping its expiry, as a
    /// token revoked or expired early on the server looks.
    func spoilTokenForTesting() {
        // The token's own prefix (tempauth's `AUTH_tk`/`AUTH_ftk`) with a body no server issued.
        if let token = grant?.token { grant?.token = String(token.prefix(12)) + "spoiled" }
    }

    private func expiresSoon(_ grant: Grant) -> Bool {
        guard let expires = grant.expires else { return false }
        return expires.timeIntervalSince(settings.clock()) <= settings.expireSoonInterval
    }

    private func login() async throws -> Grant {
        guard case .login(let account) = method else {
            throw GlimpseError(.unavailable, "The object store has no storage URL configured.")
        }
        if loggingIn {
            return try await withCheckedThrowingContinuation { waiters.append($0) }
        }
        loggingIn = true
        let result: Result<Grant, any Error>
        do {
            logins += 1
            switch account.authVersion {
            case .v1: result = .success(try await loginV1(account))
            case .v3: result = .success(try await loginV3(account))
            }
        } catch {
            result = .failure(error)
        }
        loggingIn = false
        if case .success(let g) = result { grant = g }
        let waiting = waiters
        waiters = []
        for w in waiting { w.resume(with: result) }
        return try result.get()
    }

    // MARK: Swift v1 (tempauth, swauth, …)

    /// `GET <auth address>` with `X-Auth-User`/`X-Auth-Key` → `X-Storage-Url`, `X-Auth-Token`
    /// and (tempauth) `X-Auth-Token-Expires`, in seconds.
    private func loginV1(_ account: SwiftStoreConfiguration.Account) async throws -> Grant {
        var request = HTTPClientRequest(url: account.authAddress)
        request.method = .GET
        request.headers.add(name: "X-Auth-User", value: account.user ?? "")
        request.headers.add(name: "X-Auth-Key", value: account.key ?? "")
        let (status, headers, _) = try await exchange(request)
        guard (200..<300).contains(status.code) else { throw Self.loginRefused(status) }
        guard let token = headers.first(name: "X-Auth-Token") ?? headers.first(name: "X-Storage-Token"),
              let url = settings.endpoint ?? headers.first(name: "X-Storage-Url")
        else {
            throw GlimpseError(.unavailable, "The object store's auth service answered without a token or storage URL.")
        }
        let expires = headers.first(name: "X-Auth-Token-Expires").flatMap(Double.init).map { settings.clock().addingTimeInterval($0) }
        return Grant(token: token, storageURL: SwiftStoreConfiguration.trimSlashes(url), expires: expires)
    }

    // MARK: Keystone v3

    /// `POST <auth address>/v3/auth/tokens`, password (or application credential) method, scoped
    /// to the project; the storage URL comes from the catalog unless `swift_store_endpoint` is set.
    private func loginV3(_ account: SwiftStoreConfiguration.Account) async throws -> Grant {
        var request = HTTPClientRequest(url: Self.v3Base(account.authAddress) + "/auth/tokens")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: Self.v3AuthDocument(account).serialized()))
        let (status, headers, body) = try await exchange(request)
        guard status.code == 201 || status.code == 200 else { throw Self.loginRefused(status) }
        guard let token = headers.first(name: "X-Subject-Token"),
              let root = try? JSONValue.parse(Array(body.readableBytesView)),
              let document = root.objectValue?["token"]?.objectValue
        else {
            throw GlimpseError(.unavailable, "The identity service answered with a token Glimpse cannot read.")
        }
        let expires = document["expires_at"]?.stringValue.flatMap(Self.parseDate)
        let url: String
        if let endpoint = settings.endpoint {
            url = endpoint
        } else {
            guard let found = Self.endpoint(
                in: document["catalog"]?.arrayValue ?? [], serviceType: settings.serviceType,
                endpointType: settings.endpointType, region: settings.region)
            else {
                throw GlimpseError(.unavailable, "The identity service's catalog has no object-store endpoint for the configured region and interface.")
            }
            url = found
        }
        return Grant(token: token, storageURL: SwiftStoreConfiguration.trimSlashes(url), expires: expires)
    }

    /// The auth address as keystoneauth would reach v3: `…/v3` kept, `…/v2.0` replaced, else `/v3` appended.
    static func v3Base(_ address: String) -> String {
        var base = SwiftStoreConfiguration.trimSlashes(address)
        if base.hasSuffix("/v3") { return base }
        if base.hasSuffix("/v2.0") { base.removeLast(5) }
        return base + "/v3"
    }

    /// glance_store's convention: `swift_store_user = project:user`; otherwise the project comes
    /// from `project_name`/`project_id`.
    static func v3AuthDocument(_ a: SwiftStoreConfiguration.Account) -> JSONValue {
        func domain(id: String?, name: String?) -> JSONValue {
            if let name { return .object(JSONObject([("name", .string(name))])) }
            return .object(JSONObject([("id", .string(id ?? "default"))]))
        }
        if let id = a.applicationCredentialID, let secret = a.applicationCredentialSecret {
            // An application credential carries its own project scope.
            return .object(JSONObject([("auth", .object(JSONObject([
                ("identity", .object(JSONObject([
                    ("methods", .array([.string("application_credential")])),
                    ("application_credential", .object(JSONObject([("id", .string(id)), ("secret", .string(secret))]))),
                ]))),
            ])))]))
        }
        var user = a.user ?? ""
        var projectName = a.projectName
        if let colon = user.firstIndex(of: ":") {
            projectName = String(user[..<colon])
            user = String(user[user.index(after: colon)...])
        }
        var auth: [(String, JSONValue)] = [
            ("identity", .object(JSONObject([
                ("methods", .array([.string("password")])),
                ("password", .object(JSONObject([
                    ("user", .object(JSONObject([
                        ("name", .string(user)),
                        ("domain", domain(id: a.userDomainID, name: a.userDomainName)),
                        ("password", .string(a.key ?? "")),
                    ]))),
                ]))),
            ]))),
        ]
        if let projectName {
            auth.append(("scope", .object(JSONObject([("project", .object(JSONObject([
                ("name", .string(projectName)),
                ("domain", domain(id: a.projectDomainID, name: a.projectDomainName)),
            ])))]))))
        } else if let projectID = a.projectID {
            auth.append(("scope", .object(JSONObject([("project", .object(JSONObject([("id", .string(projectID))])))]))))
        }
        return .object(JSONObject([("auth", .object(JSONObject(auth)))]))
    }

    /// The first endpoint of a `serviceType` service with the interface `endpointType` names
    /// (`publicURL` → `public`) in `region` (any region when nil).
    static func endpoint(in catalog: [JSONValue], serviceType: String, endpointType: String, region: String?) -> String? {
        let interface = endpointType.hasSuffix("URL") ? String(endpointType.dropLast(3)) : endpointType
        for service in catalog {
            guard let s = service.objectValue, s["type"]?.stringValue == serviceType else { continue }
            for e in s["endpoints"]?.arrayValue ?? [] {
                guard let endpoint = e.objectValue, endpoint["interface"]?.stringValue == interface,
                      let url = endpoint["url"]?.stringValue
                else { continue }
                if let region, endpoint["region_id"]?.stringValue != region, endpoint["region"]?.stringValue != region { continue }
                return url
            }
        }
        return nil
    }

    /// Keystone's `expires_at`, read as the Keystone client reads it.
    static func parseDate(_ text: String) -> Date? { KeystoneClient.parseDate(text) }

    static func loginRefused(_ status: HTTPResponseStatus) -> GlimpseError {
        switch status.code {
        case 400, 401, 403, 404:
            GlimpseError(.unavailable, "The object store's auth service refused the image service's credentials (\(status.code)).")
        default:
            GlimpseError(.unavailable, "The object store's auth service is not available (\(status.code)).")
        }
    }

    private func exchange(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, HTTPHeaders, ByteBuffer) {
        do {
            let response = try await http.execute(request, timeout: settings.requestTimeout)
            let body = try await response.body.collect(upTo: 8 << 20)
            return (response.status, response.headers, body)
        } catch {
            throw SwiftErrors.transport(error, service: "The object store's auth service")
        }
    }
}

/// Sessions for accounts other than the store's own: references of the references file and the
/// credentials legacy locations carry. Created on first use, kept for the store's lifetime.
final class SwiftSessionRegistry: Sendable {
    let sessions = NIOLockedValueBox<[SwiftStoreConfiguration.Account: SwiftSession]>([:])

    func session(for account: SwiftStoreConfiguration.Account, make: () -> SwiftSession) -> SwiftSession {
        sessions.withLockedValue { all in
            if let s = all[account] { return s }
            let s = make()
            all[account] = s
            return s
        }
    }
}

/// Swift answers and transport failures as `GlimpseError`s whose messages name no URL,
/// container, token or key.
enum SwiftErrors {
    static func status(_ status: HTTPResponseStatus) -> GlimpseError {
        switch status.code {
        case 404, 410: GlimpseError.notFound("Image data not found in the object store.")
        case 401, 403: GlimpseError(.unavailable, "The object store refused the image service's credentials (\(status.code)).")
        case 413, 507: GlimpseError(.payloadTooLarge, "The object store has no room for this image (\(status.code)).")
        case 416: GlimpseError(.rangeNotSatisfiable, "The object store cannot serve that byte range.")
        case 409: GlimpseError(.conflict, "The object store already has data at this image's location.")
        default: GlimpseError(.unavailable, "The object store answered \(status.code).")
        }
    }

    /// Connection-level failures are the store being unavailable; the cause goes to `underlying` only.
    static func transport(_ error: any Error, service: String = "The object store") -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        if let e = error as? HTTPClientError, [.readTimeout, .connectTimeout, .deadlineExceeded].contains(e) {
            return GlimpseError(.unavailable, "\(service) timed out.", underlying: error)
        }
        return GlimpseError(.unavailable, "\(service) could not be reached.", underlying: error)
    }
}
