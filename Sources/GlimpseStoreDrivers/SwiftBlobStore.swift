import AsyncHTTPClient
import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOHTTP1

/// glance_store's `swift` driver (single-tenant): image data as objects in an OpenStack Swift
/// account, reached with tempauth (v1), Keystone v3, or a fixed storage URL and token.
///
/// - Writes stream: an image is one chunked PUT, or, when its declared size reaches
///   `swift_store_large_object_size` (or it has none), segments `<id>-00001…` of
///   `swift_store_large_object_chunk_size`, each its own chunked PUT, then a manifest (DLO by
///   default, as glance_store writes; SLO on request). `cancel()` deletes every object it started.
/// - Locations are glance_store's: `swift+http(s)://<auth address>/<container>/<id>` without
///   credentials, or `swift+config://<ref>/<container>/<id>` with a references file. Legacy
///   locations with `user:key@` are read and deleted with the credentials they carry.
/// - Reads stream with `Range` (manifests included) and resume a broken download
///   `swift_store_retry_get_count` times.
/// - Tokens are cached per account, renewed before they expire and after a 401 (the refused
///   request is sent again when it has no streamed body).
/// - Errors are `GlimpseError`s: 404 → `.notFound`, 413/507 → `.payloadTooLarge`, connection
///   failures, timeouts, 5xx and refused credentials → `.unavailable`.
///
/// Give it an `HTTPClient` built from `clientConfiguration(_:)`, so the connect and read timeouts
/// of the configuration apply.
public struct SwiftBlobStore: BlobStore, DefersCleanups {
    public let id: String
    public let capabilities = BlobStoreCapabilities(readOnly: false, randomAccess: true, thinProvisioning: false)
    public let configuration: SwiftStoreConfiguration
    let client: HTTPClient
    let settings: SwiftSession.Settings
    let defaultSession: SwiftSession
    let otherSessions = SwiftSessionRegistry()
    public let deferredCleanups = DeferredCleanups()

    public init(id: String, options: StoreOptions, client: HTTPClient) throws {
        try self.init(id: id, configuration: SwiftStoreConfiguration(options: options), client: client)
    }

    /// `clock` decides when a token counts as expiring soon (tests move it forward).
    public init(
        id: String, configuration: SwiftStoreConfiguration, client: HTTPClient, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.id = id
        self.configuration = configuration
        self.client = client
        settings = SwiftSession.Settings(
            endpoint: configuration.endpoint, region: configuration.region, endpointType: configuration.endpointType,
            serviceType: configuration.serviceType, expireSoonInterval: configuration.expireSoonInterval,
            requestTimeout: configuration.connectTimeout + configuration.readTimeout, clock: clock)
        switch configuration.authentication {
        case .account(let account): defaultSession = SwiftSession(method: .login(account), http: client, settings: settings)
        case .token(let token): defaultSession = SwiftSession(method: .fixed(token: token), http: client, settings: settings)
        }
    }

    /// The HTTP client configuration the store expects: its connect and read timeouts, no
    /// redirects (a token is never sent elsewhere), no decompression, and no retried connection
    /// attempts: a refused connection (Swift stopped) is a 503 at once, not after the connect
    /// timeout of backing-off retries; an unanswered one still waits for the connect timeout.
    /// Connections an object store client opens to one host at most.
    public static let objectStoreConnectionsPerHost = 256

    public static func clientConfiguration(_ configuration: SwiftStoreConfiguration) -> HTTPClient.Configuration {
        var c = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout, read: configuration.readTimeout))
        c.decompression = .disabled
        c.connectionPool.retryConnectionEstablishment = false
        // Every upload and download in flight holds a connection for its whole length; with
        // AsyncHTTPClient's default of 8 per host, the ninth waits only the connect timeout for
        // one and fails (seen with 32 clients on three nodes).
        c.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = objectStoreConnectionsPerHost
        return c
    }

    /// A location is this store's when it names one of its accounts: its auth address or storage
    /// URL (`swift_store_endpoint`) without credentials, a reference it knows, or credentials of
    /// its own (any store can read those). So several swift stores can be configured side by side.
    public func handles(location: String) -> Bool {
        guard let loc = SwiftLocation.parse(location) else { return false }
        return owns(loc)
    }

    func owns(_ loc: SwiftLocation) -> Bool {
        switch loc.account {
        case .credentials:
            return true
        case .reference(let name):
            return configuration.references[name] != nil
        case .configured(let address):
            return configuration.ownAddresses.contains(SwiftStoreConfiguration.addressKey(address))
        }
    }

    /// What `GET /v2/info/stores/detail` shows for a swift store, as Glance does (sizes in MB).
    public var discoveryProperties: [String: JSONValue] {
        [
            "container": .string(configuration.container),
            "large_object_size": .int(configuration.largeObjectSize / SwiftStoreConfiguration.megabyte),
            "large_object_chunk_size": .int(configuration.largeObjectChunkSize / SwiftStoreConfiguration.megabyte),
        ]
    }

    // MARK: Writing

    public func location(forImageID imageID: String) -> String? {
        configuration.locationPrefix + configuration.containerName(forImage: imageID) + "/" + imageID
    }

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        guard !imageID.isEmpty, !imageID.contains("/") else {
            throw GlimpseError(.badRequest, "An image id cannot name a Swift object.")
        }
        let container = configuration.containerName(forImage: imageID)
        let segmented = expectedSize.map { $0 >= configuration.largeObjectSize } ?? configuration.segmentUnknownSize
        try await ensureContainer(container, in: defaultSession)
        return SwiftBlobWriter(
            store: self, session: defaultSession, container: container, object: imageID, segmented: segmented,
            location: configuration.locationPrefix + container + "/" + imageID)
    }

    /// glance_store's `_create_container_if_missing`, remembered per account.
    func ensureContainer(_ container: String, in session: SwiftSession) async throws {
        if await session.knows(container: container) { return }
        let head = try await send(session, .HEAD, container: container)
        switch head.status.code {
        case 200..<300:
            break
        case 404:
            guard configuration.createContainerOnPut else {
                throw GlimpseError(.unavailable, "The object store has no container for images and swift_store_create_container_on_put is off.")
            }
            let put = try await send(session, .PUT, container: container, body: ByteBuffer())
            guard (200..<300).contains(put.status.code) else { throw SwiftErrors.status(put.status) }
        default:
            throw SwiftErrors.status(head.status)
        }
        await session.remember(container: container)
    }

    // MARK: Reading

    public func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        let (session, loc) = try resolve(location)
        if let range, range.isEmpty { return }
        var offset = range?.lowerBound ?? 0
        let end: Int64? = range.flatMap { $0.upperBound == Int64.max ? nil : $0.upperBound }
        var retriesLeft = configuration.retryGetCount
        var first = true
        while true {
            var headers: [(String, String)] = []
            if offset > 0 || end != nil {
                headers.append(("Range", "bytes=\(offset)-\(end.map { String($0 - 1) } ?? "")"))
            }
            let response = try await open(session, .GET, container: loc.container, object: loc.object, headers: headers)
            if !first && response.status == .ok && offset > 0 {
                throw GlimpseError(.unavailable, "The object store ignored the range of a resumed download.")
            }
            first = false
            // A server that ignores Range answers 200 with everything: cut the range out ourselves.
            var window = BodyWindow(skip: response.status == .ok ? offset : 0, remaining: end.map { $0 - offset } ?? Int64.max)
            let announced = response.headers.first(name: "Content-Length").flatMap(Int64.init)
            var received: Int64 = 0
            var iterator = response.body.makeAsyncIterator()
            var broken: (any Error)?
            while window.remaining > 0 {
                let next: ByteBuffer?
                do {
                    next = try await iterator.next()
                } catch {
                    broken = error
                    break
                }
                guard let chunk = next else { break }
                received += Int64(chunk.readableBytes)
                let wanted = window.take(chunk)
                if wanted.readableBytes > 0 {
                    offset += Int64(wanted.readableBytes)
                    try await sink(wanted)
                }
            }
            if window.remaining == 0 { return }
            if broken == nil, announced.map({ received >= $0 }) ?? true { return }
            // The body broke off (or ended short of its Content-Length): resume, or give up.
            guard retriesLeft > 0 else {
                throw SwiftErrors.transport(broken ?? GlimpseError(.unavailable, "The object store ended a download early."))
            }
            retriesLeft -= 1
        }
    }

    public func size(location: String) async throws -> Int64 {
        let (session, loc) = try resolve(location)
        let reply = try await send(session, .HEAD, container: loc.container, object: loc.object)
        guard (200..<300).contains(reply.status.code) else { throw SwiftErrors.status(reply.status) }
        guard let size = reply.headers.first(name: "Content-Length").flatMap(Int64.init) else {
            throw GlimpseError(.unavailable, "The object store did not report the size of the image data.")
        }
        return size
    }

    // MARK: Deleting

    /// glance_store's order: an SLO goes with `?multipart-manifest=delete`; a DLO's segments
    /// (listed by the manifest's prefix) go before the manifest, so a failed delete can be repeated.
    public func delete(location: String) async throws {
        let (session, loc) = try resolve(location)
        let head = try await send(session, .HEAD, container: loc.container, object: loc.object)
        if head.status.code == 404 { return }
        guard (200..<300).contains(head.status.code) else { throw SwiftErrors.status(head.status) }
        if head.headers.first(name: "X-Static-Large-Object")?.lowercased() == "true" {
            let reply = try await send(
                session, .DELETE, container: loc.container, object: loc.object, query: "multipart-manifest=delete",
                headers: [("Accept", "application/json")])
            try Self.checkBulkDelete(reply)
            return
        }
        if let manifest = head.headers.first(name: "X-Object-Manifest") {
            let value = SwiftLocation.percentDecode(manifest)
            if let slash = value.firstIndex(of: "/") {
                let container = String(value[..<slash])
                let prefix = String(value[value.index(after: slash)...])
                let names = try await list(session, container: container, prefix: prefix)
                try await deleteObjects(session, container: container, names: names)
            }
        }
        try await deleteObject(session, container: loc.container, object: loc.object)
    }

    /// Container, segment prefix (empty for a single PUT) and object, one per line (Swift
    /// names hold no newline).
    static func leftoversToken(container: String, prefix: String?, object: String) -> String {
        container + "\n" + (prefix ?? "") + "\n" + object
    }

    /// Deletes what an abandoned write left (`SwiftBlobWriter.leftovers`): its segments, and
    /// with `withObject` the object (a whole or cut-off PUT, or a manifest).
    public func deleteLeftovers(_ token: String, withObject: Bool) async throws {
        let parts = token.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[0].isEmpty else { return }
        let (container, prefix, object) = (parts[0], parts[1], parts[2])
        if withObject, !object.isEmpty { try await deleteObject(defaultSession, container: container, object: object) }
        if !prefix.isEmpty {
            let names = try await list(defaultSession, container: container, prefix: prefix)
            try await deleteObjects(defaultSession, container: container, names: names)
        }
    }

    /// DELETE one object; one that is not there counts as deleted.
    func deleteObject(_ session: SwiftSession, container: String, object: String) async throws {
        let reply = try await send(session, .DELETE, container: container, object: object)
        guard (200..<300).contains(reply.status.code) || reply.status.code == 404 else { throw SwiftErrors.status(reply.status) }
    }

    /// Deletes `names`, a few at a time; the first failure is thrown after all were tried.
    func deleteObjects(_ session: SwiftSession, container: String, names: [String]) async throws {
        var failure: (any Error)?
        var pending = names[...]
        while !pending.isEmpty {
            let batch = pending.prefix(8)
            pending = pending.dropFirst(batch.count)
            await withTaskGroup(of: (any Error)?.self) { group in
                for name in batch {
                    group.addTask {
                        do {
                            try await deleteObject(session, container: container, object: name)
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                for await error in group where failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Deletes what an abandoned write started; what cannot be deleted now (the server is down)
    /// is kept in `deferredCleanups`, so nothing stays orphaned once the server is back.
    func deleteOrDefer(_ session: SwiftSession, container: String, names: [String]) async {
        var pending = names[...]
        while !pending.isEmpty {
            let batch = pending.prefix(8)
            pending = pending.dropFirst(batch.count)
            let failed = await withTaskGroup(of: String?.self) { group in
                for name in batch {
                    group.addTask { (try? await deleteObject(session, container: container, object: name)) == nil ? name : nil }
                }
                return await group.reduce(into: [String]()) { if let name = $1 { $0.append(name) } }
            }
            deferredCleanups.add(failed.map { name in { try await deleteObject(session, container: container, object: name) } })
        }
    }

    /// Tries every deferred deletion once; returns how many are still waiting.
    @discardableResult
    public func retryPendingDeletions() async -> Int { await deferredCleanups.retry() }

    /// Every object name in `container` starting with `prefix` (paged by marker).
    func list(_ session: SwiftSession, container: String, prefix: String) async throws -> [String] {
        var names: [String] = []
        var marker = ""
        while true {
            var query = "format=json&prefix=\(SwiftLocation.percentEncode(prefix))"
            if !marker.isEmpty { query += "&marker=\(SwiftLocation.percentEncode(marker))" }
            let reply = try await send(session, .GET, container: container, query: query, limit: 32 << 20)
            if reply.status.code == 404 { return names }
            guard (200..<300).contains(reply.status.code) else { throw SwiftErrors.status(reply.status) }
            if reply.status.code == 204 { return names }
            guard let page = try? JSONValue.parse(Array(reply.body.readableBytesView)).arrayValue else {
                throw GlimpseError(.unavailable, "The object store answered a listing Glimpse cannot read.")
            }
            let batch = page.compactMap { $0.objectValue?["name"]?.stringValue }
            if batch.isEmpty { return names }
            names += batch
            marker = batch[batch.count - 1]
        }
    }

    /// A `?multipart-manifest=delete` answer is 200 with a bulk-delete report in the body.
    static func checkBulkDelete(_ reply: Reply) throws {
        if reply.status.code == 404 { return }
        guard (200..<300).contains(reply.status.code) else { throw SwiftErrors.status(reply.status) }
        guard let report = try? JSONValue.parse(Array(reply.body.readableBytesView)).objectValue,
              let status = report["Response Status"]?.stringValue
        else { return }
        if status.hasPrefix("2") || status.hasPrefix("404") { return }
        throw GlimpseError(.unavailable, "The object store could not delete every segment (\(status.prefix(3))).")
    }

    // MARK: Accounts and requests

    /// The account a location belongs to: its reference, the credentials it carries, or ours.
    func resolve(_ location: String) throws -> (SwiftSession, SwiftLocation) {
        guard let loc = SwiftLocation.parse(location), owns(loc) else { throw GlimpseError.notFound("Image data not found.") }
        switch loc.account {
        case .configured:
            return (defaultSession, loc)
        case .reference(let name):
            // Without a references file, `references` holds the section's account under
            // `default_swift_reference`, as glance_store's SwiftParams does.
            if name == configuration.defaultReference { return (defaultSession, loc) }
            guard let account = configuration.references[name] else { throw GlimpseError.notFound("Image data not found.") }
            return (session(for: account), loc)
        case .credentials(let address, let user, let key):
            if case .account(let mine) = configuration.authentication, mine.user == user, mine.key == key,
               SwiftStoreConfiguration.trimSlashes(mine.authAddress) == SwiftStoreConfiguration.trimSlashes(address)
            {
                return (defaultSession, loc)
            }
            var account = SwiftStoreConfiguration.Account(
                authAddress: address, authVersion: configuration.authVersion, user: user, key: key)
            account.userDomainID = "default"
            account.projectDomainID = "default"
            return (session(for: account), loc)
        }
    }

    func session(for account: SwiftStoreConfiguration.Account) -> SwiftSession {
        otherSessions.session(for: account) { SwiftSession(method: .login(account), http: client, settings: settings) }
    }

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    func request(
        _ grant: SwiftSession.Grant, _ method: HTTPMethod, container: String, object: String?, query: String?,
        headers: [(String, String)]
    ) -> HTTPClientRequest {
        var url = grant.storageURL + "/" + SwiftLocation.percentEncode(container)
        if let object { url += "/" + SwiftLocation.percentEncode(object) }
        if let query { url += "?" + query }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "X-Auth-Token", value: grant.token)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return request
    }

    /// One request with a body held in memory (or none), collected answer; sent again once
    /// after a fresh login when Swift refuses the token.
    func send(
        _ session: SwiftSession, _ method: HTTPMethod, container: String, object: String? = nil, query: String? = nil,
        headers: [(String, String)] = [], body: ByteBuffer? = nil, limit: Int = 1 << 20
    ) async throws -> Reply {
        var grant = try await session.validGrant()
        var retried = false
        while true {
            var request = request(grant, method, container: container, object: object, query: query, headers: headers)
            if let body { request.body = .bytes(body) }
            let reply: Reply
            do {
                let response = try await client.execute(request, timeout: settings.requestTimeout)
                let bytes = try await response.body.collect(upTo: limit)
                reply = Reply(status: response.status, headers: response.headers, body: bytes)
            } catch {
                throw SwiftErrors.transport(error)
            }
            if reply.status == .unauthorized, !retried, let fresh = try await session.rejected(grant.token) {
                grant = fresh
                retried = true
                continue
            }
            return reply
        }
    }

    /// A request whose answer is streamed: returns a 2xx response with its body unread, or throws.
    func open(
        _ session: SwiftSession, _ method: HTTPMethod, container: String, object: String, headers: [(String, String)]
    ) async throws -> HTTPClientResponse {
        var grant = try await session.validGrant()
        var retried = false
        while true {
            let request = request(grant, method, container: container, object: object, query: nil, headers: headers)
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .hours(24))
            } catch {
                throw SwiftErrors.transport(error)
            }
            if (200..<300).contains(response.status.code) { return response }
            _ = try? await response.body.collect(upTo: 1 << 20)
            if response.status == .unauthorized, !retried, let fresh = try await session.rejected(grant.token) {
                grant = fresh
                retried = true
                continue
            }
            throw SwiftErrors.status(response.status)
        }
    }

    // MARK: Test hooks

    /// Makes the cached token of the store's account one Swift refuses.
    func spoilTokenForTesting() async { await defaultSession.spoilTokenForTesting() }

    /// Logins made for the store's own account so far.
    func loginsForTesting() async -> Int { await defaultSession.logins }
}
