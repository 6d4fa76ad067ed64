import AsyncHTTPClient
import Crypto
import Foundation
@testable import GlimpseApp
import GlimpseDomain
import GlimpseStore
@testable import GlimpseStoreDrivers
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing

/// The real Swift (tempauth) that `shared/services/start-object-store.sh swift` starts, from
/// the variables it prints. Without `GLIMPSE_SWIFT_AUTH_URL` the suite is disabled, unless
/// `GLIMPSE_REQUIRE_OBJECT_STORE=1` asks for it, and then it fails.
enum SwiftServer {
    static let env = ProcessInfo.processInfo.environment
    static var authURL: String? { env["GLIMPSE_SWIFT_AUTH_URL"] }
    static var enabled: Bool { authURL != nil || env["GLIMPSE_REQUIRE_OBJECT_STORE"] == "1" }
    static var user: String { env["GLIMPSE_SWIFT_USER"] ?? "test:tester" }
    static var key: String { env["GLIMPSE_SWIFT_KEY"] ?? "testing" }
    /// Every container the tests use starts with this (an S3 driver's tests share the server).
    static let containerPrefix = "glimpse-test-swift"

    struct Unset: Error, CustomStringConvertible {
        var description: String { "GLIMPSE_REQUIRE_OBJECT_STORE=1 but GLIMPSE_SWIFT_AUTH_URL is not set" }
    }

    static func requireAuthURL() throws -> String {
        guard let authURL else { throw Unset() }
        return authURL
    }

    /// tempauth options for `container`, created on first put.
    static func tempauthOptions(_ container: String, _ extra: [String: String] = [:]) throws -> [String: String] {
        [
            "swift_store_auth_address": try requireAuthURL(), "swift_store_user": user, "swift_store_key": key,
            "swift_store_auth_version": "1", "swift_store_container": container, "swift_store_create_container_on_put": "true",
        ].merging(extra) { $1 }
    }

    static func makeClient() -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60))))
    }

    /// A tempauth login made by the test itself: (token, storage URL).
    static func login(_ http: HTTPClient) async throws -> (token: String, storageURL: String) {
        var request = HTTPClientRequest(url: try requireAuthURL())
        request.headers.add(name: "X-Auth-User", value: user)
        request.headers.add(name: "X-Auth-Key", value: key)
        let response = try await http.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok, let token = response.headers.first(name: "X-Auth-Token"),
              let url = response.headers.first(name: "X-Storage-Url")
        else { throw GlimpseError(.unavailable, "tempauth login failed: \(response.status)") }
        return (token, url)
    }

    static func get(_ http: HTTPClient, _ url: String, token: String, method: HTTPMethod = .GET) async throws -> (HTTPResponseStatus, HTTPHeaders, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "X-Auth-Token", value: token)
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (response.status, response.headers, Array(body.readableBytesView))
    }

    static func names(_ json: [UInt8]) -> [String] {
        (try? JSONValue.parse(json).arrayValue)?.compactMap { $0.objectValue?["name"]?.stringValue } ?? []
    }

    /// Every object in every `glimpse-test-swift*` container whose name contains `marker`:
    /// objects, manifests and segments alike, as `container/object`.
    static func listing(_ http: HTTPClient, containing marker: String) async throws -> [String] {
        let (token, url) = try await login(http)
        var found: [String] = []
        for container in try await containers(http, token: token, url: url) {
            var pageMarker = ""
            while true {
                let (status, _, body) = try await get(http, "\(url)/\(container)?format=json&marker=\(pageMarker)", token: token)
                guard status.code == 200 else { break }
                let page = names(body)
                if page.isEmpty { break }
                found += page.filter { $0.contains(marker) }.map { "\(container)/\($0)" }
                pageMarker = SwiftLocation.percentEncode(page[page.count - 1])
            }
        }
        return found
    }

    static func containers(_ http: HTTPClient, token: String, url: String) async throws -> [String] {
        let (_, _, body) = try await get(http, "\(url)?format=json&prefix=\(containerPrefix)", token: token)
        return names(body)
    }

    /// Deletes the test containers that are empty (a run's seeded containers are many).
    static func removeEmptyContainers(_ http: HTTPClient) async throws {
        let (token, url) = try await login(http)
        for container in try await containers(http, token: token, url: url) {
            _ = try await get(http, "\(url)/\(container)", token: token, method: .DELETE)
        }
    }
}

/// Runs `body` with a store built from `options` (after `tweak`), and a plain client for checks.
func withSwiftStore(
    _ options: [String: String], clock: @escaping @Sendable () -> Date = { Date() },
    tweak: (inout SwiftStoreConfiguration) -> Void = { _ in },
    _ body: (SwiftBlobStore, HTTPClient) async throws -> Void
) async throws {
    var configuration = try SwiftStoreConfiguration(options: StoreOptions(section: "swift", values: options))
    tweak(&configuration)
    let storeClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: SwiftBlobStore.clientConfiguration(configuration))
    let plain = SwiftServer.makeClient()
    do {
        try await body(SwiftBlobStore(id: "swift", configuration: configuration, client: storeClient, clock: clock), plain)
        try await storeClient.shutdown()
        try await plain.shutdown()
    } catch {
        try? await storeClient.shutdown()
        try? await plain.shutdown()
        throw error
    }
}

func conformance(_ name: String, _ store: SwiftBlobStore, _ http: HTTPClient) -> BlobStoreConformance {
    BlobStoreConformance(name: name, store: store) { marker in try await SwiftServer.listing(http, containing: marker) }
}

/// Small segments, so the 200 kB conformance objects span several.
func smallSegments(_ c: inout SwiftStoreConfiguration) {
    c.largeObjectSize = 64 << 10
    c.largeObjectChunkSize = 64 << 10
}

/// A clock tests can move.
final class MovableClock: Sendable {
    let offset = NIOLockedValueBox<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLockedValue { $0 }) }
    func advance(_ seconds: TimeInterval) { offset.withLockedValue { $0 += seconds } }
}

@Suite(.enabled(if: SwiftServer.enabled), .serialized)
struct SwiftStoreTests {
    static let container = SwiftServer.containerPrefix

    @Test func tempauthSegmentedDLO() async throws {
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container), tweak: smallSegments) { store, http in
            let check = conformance("swift tempauth dlo", store, http)
            try await check.runAll()
            // The location is glance_store's, with the auth address and no credentials.
            let location = try await check.write("\(check.run)-loc", bytes(150_000))
            let authURL = try SwiftServer.requireAuthURL()
            #expect(location == "swift+http://" + authURL.dropFirst("http://".count) + "/\(Self.container)/\(check.run)-loc")
            #expect(!location.contains(SwiftServer.key))
            // Three segments `<id>-<attempt>-0000n` and a DLO manifest naming their prefix.
            let (token, url) = try await SwiftServer.login(http)
            let (_, headers, _) = try await SwiftServer.get(http, "\(url)/\(Self.container)/\(check.run)-loc", token: token, method: .HEAD)
            let manifest = try #require(headers.first(name: "X-Object-Manifest"))
            #expect(manifest.hasPrefix("\(Self.container)/\(check.run)-loc-") && manifest.count == "\(Self.container)/\(check.run)-loc-".count + 9)
            let segments = try await SwiftServer.listing(http, containing: "\(check.run)-loc-")
            #expect(segments.sorted() == (1...3).map { "\(manifest)0000\($0)" })
            try await store.delete(location: location)
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-loc").isEmpty)

            // A segment an earlier, failed upload left in glance_store's naming does not join
            // the image: the manifest's prefix is this upload's own.
            let stale = "\(url)/\(Self.container)/\(check.run)-stale-00009"
            var put = HTTPClientRequest(url: stale)
            put.method = .PUT
            put.headers.add(name: "X-Auth-Token", value: token)
            put.body = .bytes(ByteBuffer(string: "stale bytes"))
            _ = try await http.execute(put, timeout: .seconds(30)).body.collect(upTo: 1 << 16)
            let data = bytes(150_000, seed: 5)
            let fresh = try await check.write("\(check.run)-stale", data)
            #expect(try await check.read(fresh) == data)
            try await store.delete(location: fresh)
            _ = try await SwiftServer.get(http, stale, token: token, method: .DELETE)
        }
    }

    /// A write whose process died (neither committed nor cancelled, or committed but never
    /// recorded) leaves segments, or an object; the writer's `leftovers` token is all another
    /// node needs to delete them.
    @Test func anAbandonedWritesLeftoversAreDeletedByItsToken() async throws {
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container), tweak: smallSegments) { store, http in
            let id = "leftovers-\(UInt32.random(in: .min ... .max))"
            let writer = try await store.makeWriter(imageID: id, expectedSize: 300_000)
            let token = try #require(writer.leftovers)
            // Two whole 64 KiB segments and no more: no PUT is left open.
            try await writer.write(ByteBuffer(bytes: bytes(2 * (64 << 10))))
            #expect(try await SwiftServer.listing(http, containing: "\(id)-").count == 2)
            try await store.deleteLeftovers(token, withObject: false)
            #expect(try await SwiftServer.listing(http, containing: id).isEmpty)
            try await store.deleteLeftovers(token, withObject: false)  // again: nothing left is fine
            await writer.cancel()

            // A single object stored but never recorded: only `withObject` deletes it.
            let single = try await store.makeWriter(imageID: "\(id)-single", expectedSize: 100)
            let singleToken = try #require(single.leftovers)
            try await single.write(ByteBuffer(bytes: bytes(100)))
            _ = try await single.commit()
            try await store.deleteLeftovers(singleToken, withObject: false)
            #expect(try await SwiftServer.listing(http, containing: "\(id)-single").count == 1)
            try await store.deleteLeftovers(singleToken, withObject: true)
            #expect(try await SwiftServer.listing(http, containing: "\(id)-single").isEmpty)
        }
    }

    @Test func tempauthSingleObjects() async throws {
        let options = try SwiftServer.tempauthOptions(Self.container, ["swift_store_segment_unknown_size": "false"])
        try await withSwiftStore(options) { store, http in
            let check = conformance("swift tempauth single", store, http)
            try await check.runAll()
            // A declared size under the threshold is one object too.
            let writer = try await store.makeWriter(imageID: "\(check.run)-one", expectedSize: 100_000)
            try await writer.write(ByteBuffer(bytes: bytes(100_000)))
            let location = try await writer.commit()
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-one") == ["\(Self.container)/\(check.run)-one"])
            try await store.delete(location: location)
        }
    }

    @Test func tempauthSLO() async throws {
        let options = try SwiftServer.tempauthOptions(Self.container, ["swift_store_large_object_manifest": "slo"])
        try await withSwiftStore(options, tweak: smallSegments) { store, http in
            let check = conformance("swift tempauth slo", store, http)
            try await check.runAll()
            let location = try await check.write("\(check.run)-slo", bytes(150_000))
            let (token, url) = try await SwiftServer.login(http)
            let (_, headers, _) = try await SwiftServer.get(http, "\(url)/\(Self.container)/\(check.run)-slo", token: token, method: .HEAD)
            #expect(headers.first(name: "X-Static-Large-Object") == "True")
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-slo").count == 4)
            try await store.delete(location: location)
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-slo").isEmpty)
        }
    }

    @Test func multipleContainers() async throws {
        let options = try SwiftServer.tempauthOptions(Self.container + "-mc", ["swift_store_multiple_containers_seed": "3"])
        try await withSwiftStore(options, tweak: smallSegments) { store, http in
            let check = conformance("swift seeded containers", store, http)
            try await check.runAll()
            let location = try await check.write("\(check.run)-seeded", bytes(1000))
            #expect(location.contains("/\(Self.container)-mc_\(check.run.prefix(3))/\(check.run)-seeded"))
            try await store.delete(location: location)
            try await SwiftServer.removeEmptyContainers(http)
        }
    }

    /// No auth service at all: the storage URL and a token (from a tempauth login the test makes).
    @Test func staticStorageURLAndToken() async throws {
        let http = SwiftServer.makeClient()
        let (token, url) = try await SwiftServer.login(http)
        try await http.shutdown()
        let options = [
            "swift_store_endpoint": url, "swift_store_auth_token": token, "swift_store_container": Self.container,
            "swift_store_create_container_on_put": "true",
        ]
        try await withSwiftStore(options, tweak: smallSegments) { store, http in
            let check = conformance("swift static url dlo", store, http)
            try await check.runAll()
            let location = try await check.write("\(check.run)-static", [1, 2, 3])
            #expect(location == "swift+http://\(url.dropFirst("http://".count))/\(Self.container)/\(check.run)-static")
            #expect(!location.contains(token))
            try await store.delete(location: location)
        }
        try await withSwiftStore(options.merging(["swift_store_segment_unknown_size": "false"]) { $1 }) { store, http in
            try await conformance("swift static url single", store, http).runAll()
        }
    }

    /// glance_store's references file: new locations are `swift+config://ref1/…`.
    @Test func referencesFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-swift-refs-\(UUID().uuidString).conf").path
        let text = """
            [DEFAULT]
            auth_version = 1

            [ref1]
            auth_address = \(try SwiftServer.requireAuthURL())
            user = "\(SwiftServer.user)"
            key = '\(SwiftServer.key)'

            [broken]
            user = nobody
            """
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let options = [
            "swift_store_config_file": file, "default_swift_reference": "ref1", "swift_store_container": Self.container,
            "swift_store_create_container_on_put": "true",
        ]
        try await withSwiftStore(options, tweak: smallSegments) { store, http in
            let check = conformance("swift references file", store, http)
            try await check.runAll()
            let location = try await check.write("\(check.run)-ref", [7])
            #expect(location == "swift+config://ref1/\(Self.container)/\(check.run)-ref")
            try await store.delete(location: location)
        }
    }

    @Test func reauthenticatesWhenSwiftRefusesTheCachedToken() async throws {
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container), tweak: smallSegments) { store, http in
            let check = conformance("swift reauth", store, http)
            let data = bytes(100_000)
            let location = try await check.write("\(check.run)-reauth", data)
            #expect(await store.loginsForTesting() == 1)
            await store.spoilTokenForTesting()
            #expect(try await check.read(location) == data)
            #expect(await store.loginsForTesting() == 2, "a refused token makes one new login, and the GET is sent again")
            await store.spoilTokenForTesting()
            #expect(try await store.size(location: location) == 100_000)
            #expect(await store.loginsForTesting() == 3)
            await store.spoilTokenForTesting()
            try await store.delete(location: location)
            #expect(await store.loginsForTesting() == 4)
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-reauth").isEmpty)
        }
    }

    /// A token about to expire is renewed before the next segment's PUT, so a long upload
    /// outlives it (the clock jumps to 30 s before tempauth's expiry between two segments).
    @Test func renewsANearlyExpiredTokenBeforeTheNextSegment() async throws {
        let clock = MovableClock()
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container), clock: clock.now, tweak: smallSegments) { store, http in
            let run = "t\(UInt32.random(in: .min ... .max))"
            let data = bytes(200_000)
            let writer = try await store.makeWriter(imageID: "\(run)-expiry", expectedSize: nil)
            try await writer.write(ByteBuffer(bytes: data[0..<70_000]))  // segment 1 done, 2 started
            #expect(await store.loginsForTesting() == 1)
            // tempauth's tokens here live a day; jump to 30 s before the store's token expires.
            clock.advance(86_400 - 30)
            try await writer.write(ByteBuffer(bytes: data[70_000...]))  // segments 3 and 4
            let location = try await writer.commit()
            #expect(await store.loginsForTesting() == 2, "one new login before segment 3")
            var out: [UInt8] = []
            try await store.read(location: location, range: nil) { out += Array($0.readableBytesView) }
            #expect(out == data)
            try await store.delete(location: location)
        }
    }

    /// A token refused while a segment streams cannot be retried (its bytes are gone): the
    /// upload fails as a 503, cancel leaves nothing, and the next upload logs in again.
    @Test func tokenRefusedDuringASegmentFailsThatUploadOnly() async throws {
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container), tweak: smallSegments) { store, http in
            let run = "t\(UInt32.random(in: .min ... .max))"
            let writer = try await store.makeWriter(imageID: "\(run)-refused", expectedSize: nil)
            try await writer.write(ByteBuffer(bytes: bytes(70_000)))
            await store.spoilTokenForTesting()
            do {
                try await writer.write(ByteBuffer(bytes: bytes(130_000)))
                _ = try await writer.commit()
                Issue.record("an upload whose segment was refused succeeded")
            } catch let e as GlimpseError {
                #expect(e.code == .unavailable, "\(e)")
            }
            await writer.cancel()
            #expect(try await SwiftServer.listing(http, containing: "\(run)-refused").isEmpty)
            let location = try await conformance("swift refused", store, http).write("\(run)-after", bytes(100_000))
            #expect(await store.loginsForTesting() == 2)
            try await store.delete(location: location)
        }
    }

    /// Locations an existing Glance database has: `user:key@` in the URI (read and deleted with
    /// those credentials), and `swift+config://ref1/…` without a references file (the section's account).
    @Test func legacyLocations() async throws {
        let authURL = try SwiftServer.requireAuthURL()
        try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container)) { store, http in
            let check = conformance("swift legacy", store, http)
            let data = bytes(50_000)
            let location = try await check.write("\(check.run)-legacy", data)
            let hostPath = authURL.dropFirst("http://".count)
            let legacy = "swift+http://test%3Atester:testing@\(hostPath)/\(Self.container)/\(check.run)-legacy"
            #expect(store.handles(location: legacy))
            // A store whose own account is unusable (a bogus static token) can still read it: the
            // credentials in the location log in.
            let (_, url) = try await SwiftServer.login(http)
            let other = [
                "swift_store_endpoint": url, "swift_store_auth_token": "AUTH_ftkbogus", "swift_store_auth_version": "1",
                "swift_store_container": Self.container,
            ]
            try await withSwiftStore(other) { bogus, _ in
                await #expect(throws: GlimpseError.self) { _ = try await bogus.size(location: location) }
                var out: [UInt8] = []
                try await bogus.read(location: legacy, range: 10..<20) { out += Array($0.readableBytesView) }
                #expect(out == Array(data[10..<20]))
                #expect(try await bogus.size(location: legacy) == 50_000)
            }
            // glance_store wrote `swift+config://<default_swift_reference>/…` with a references file.
            let config = "swift+config://ref1/\(Self.container)/\(check.run)-legacy"
            #expect(try await check.read(config) == data)
            try await withSwiftStore(other) { bogus, _ in
                try await bogus.delete(location: legacy)
            }
            #expect(try await SwiftServer.listing(http, containing: "\(check.run)-legacy").isEmpty)
            await #expect(throws: GlimpseError.self) { _ = try await store.size(location: location) }
        }
    }

    /// Keystone v3 through an in-process identity stand-in whose catalog points at the real
    /// Swift and whose "token" is a real tempauth token: password login scoped to the project of
    /// `project:user`, endpoint picked by service type, interface and region.
    @Test func keystoneV3CatalogEndpoint() async throws {
        let http = SwiftServer.makeClient()
        let (token, url) = try await SwiftServer.login(http)
        try await http.shutdown()
        let identity = IdentityStandIn(token: token, storageURL: url)
        try await identity.app().test(.live) { client in
            let options = [
                "swift_store_auth_address": "http://127.0.0.1:\(client.port!)/v3", "swift_store_auth_version": "3",
                "swift_store_user": "test:tester", "swift_store_key": "testing", "swift_store_region": "RegionOne",
                "swift_store_endpoint_type": "internalURL", "swift_store_container": Self.container,
                "swift_store_create_container_on_put": "true",
            ]
            try await withSwiftStore(options, tweak: smallSegments) { store, http in
                let check = conformance("swift keystone v3", store, http)
                try await check.runAll()
                let location = try await check.write("\(check.run)-v3", [1])
                #expect(location == "swift+http://127.0.0.1:\(client.port!)/v3/\(Self.container)/\(check.run)-v3")
                try await store.delete(location: location)
                #expect(await store.loginsForTesting() == 1)
            }
            let body = try #require(identity.lastBody.withLockedValue { $0 })
            let auth = try JSONValue.parse(Array(body.utf8)).objectValue?["auth"]?.objectValue
            let user = auth?["identity"]?.objectValue?["password"]?.objectValue?["user"]?.objectValue
            #expect(user?["name"]?.stringValue == "tester")
            #expect(user?["password"]?.stringValue == "testing")
            #expect(user?["domain"]?.objectValue?["id"]?.stringValue == "default")
            let project = auth?["scope"]?.objectValue?["project"]?.objectValue
            #expect(project?["name"]?.stringValue == "test")
            #expect(project?["domain"]?.objectValue?["id"]?.stringValue == "default")
        }
    }

    /// 1 GiB through DLO segments with flat memory (the conformance check).
    @Test func largeObjectThroughSegmentsWithFlatMemory() async throws {
        let options = try SwiftServer.tempauthOptions(Self.container, ["swift_store_large_object_chunk_size": "100"])
        try await withSwiftStore(options) { store, http in
            try await conformance("swift 100 MB segments", store, http).largeObjectStreamsWithFlatMemory()
        }
    }

    /// Upload and download rates of 1 GiB through the driver, one object and DLO segments
    /// (glance_store's 200 MB), with the growth of resident memory. Prints; asserts only memory.
    @Test func throughputOfOneGiB() async throws {
        let size: Int64 = 1 << 30
        for (label, declared) in [("single PUT", Optional(size)), ("200 MB DLO segments", nil)] {
            try await withSwiftStore(try SwiftServer.tempauthOptions(Self.container)) { store, http in
                let run = "t\(UInt32.random(in: .min ... .max))"
                let chunk = 1 << 20
                var pattern = ByteBuffer(bytes: bytes(chunk, seed: 3))
                let sampler = RSSSampler()
                let baseline = sampler.start()
                var sent = SHA256()
                let up = ContinuousClock.now
                let writer = try await store.makeWriter(imageID: "\(run)-rate", expectedSize: declared)
                var written: Int64 = 0
                var counter: UInt64 = 0
                do {
                    while written < size {
                        counter += 1
                        pattern.setInteger(counter, at: 0)
                        let slice = pattern.getSlice(at: 0, length: chunk)!
                        sent.update(data: slice.readableBytesView)
                        try await writer.write(slice)
                        written += Int64(chunk)
                    }
                } catch {
                    await writer.cancel()
                    throw error
                }
                let location = try await writer.commit()
                let upSeconds = Self.seconds(ContinuousClock.now - up)
                var received = SHA256()
                var readBytes: Int64 = 0
                let down = ContinuousClock.now
                try await store.read(location: location, range: nil) { buffer in
                    received.update(data: buffer.readableBytesView)
                    readBytes += Int64(buffer.readableBytes)
                }
                let downSeconds = Self.seconds(ContinuousClock.now - down)
                let growth = await sampler.stop() - baseline
                let mb = Double(size) / 1_048_576
                print(String(
                    format: "[swift %@] 1 GiB upload %.1f MiB/s (%.1f s), download %.1f MiB/s (%.1f s), resident memory grew by %d MiB",
                    label, mb / upSeconds, upSeconds, mb / downSeconds, downSeconds, growth >> 20))
                #expect(readBytes == size)
                #expect(Array(sent.finalize()) == Array(received.finalize()))
                #expect(growth < 96 << 20)
                try await store.delete(location: location)
                #expect(try await SwiftServer.listing(http, containing: "\(run)-rate").isEmpty)
            }
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// A Keystone v3 stand-in: `POST /v3/auth/tokens` answers with a fixed token and a catalog whose
/// only matching object-store endpoint (internal, RegionOne) is `storageURL`.
final class IdentityStandIn: Sendable {
    let token: String
    let storageURL: String
    let lastBody = NIOLockedValueBox<String?>(nil)

    init(token: String, storageURL: String) {
        self.token = token
        self.storageURL = storageURL
    }

    static func catalog(storageURL: String) -> String {
        """
        [{"type": "identity", "name": "keystone", "endpoints": [{"interface": "internal", "region_id": "RegionOne", "region": "RegionOne", "url": "http://127.0.0.1:1/identity"}]},
         {"type": "object-store", "name": "swift", "endpoints": [
           {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://127.0.0.1:1/v1/AUTH_public"},
           {"interface": "internal", "region_id": "RegionTwo", "region": "RegionTwo", "url": "http://127.0.0.1:1/v1/AUTH_two"},
           {"interface": "internal", "region_id": "RegionOne", "region": "RegionOne", "url": "\(storageURL)"}]}]
        """
    }

    func app() -> some ApplicationProtocol {
        let router = Router()
        router.post("/v3/auth/tokens") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            self.lastBody.withLockedValue { $0 = body }
            guard body.contains("\"testing\"") else { return Response(status: .unauthorized) }
            let doc = #"{"token": {"expires_at": "2099-01-01T00:00:00.000000Z", "catalog": \#(Self.catalog(storageURL: self.storageURL))}}"#
            return Response(
                status: .created, headers: [HTTPField.Name("X-Subject-Token")!: self.token, .contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: doc)))
        }
        return Application(router: router)
    }
}

/// A server that accepts requests and never answers them in time.
enum SilentServer {
    static func app() -> some ApplicationProtocol {
        let router = Router()
        router.get("**") { _, _ in
            try await Task.sleep(for: .seconds(3))
            return Response(status: .ok)
        }
        router.head("**") { _, _ in
            try await Task.sleep(for: .seconds(3))
            return Response(status: .ok)
        }
        return Application(router: router)
    }
}

/// A misbehaving Swift proxy for the static-token mode (`/v1/AUTH_x`, container `c`): every
/// object PUT is answered 507 without reading its body; the first GET of `flaky` breaks off
/// after 100 kB, later ones honour `Range`.
final class MisbehavingSwift: Sendable {
    static let data = bytes(300_000, seed: 11)
    let ranges = NIOLockedValueBox<[String]>([])
    let down = NIOLockedValueBox(true)
    let deleted = NIOLockedValueBox<[String]>([])

    func app() -> some ApplicationProtocol {
        let router = Router()
        router.head("/v1/AUTH_x/c") { _, _ in Response(status: .noContent) }
        router.put("/v1/AUTH_x/c/{name}") { _, _ in Response(status: .init(code: 507)) }
        // DELETEs fail (503) while `down`, then succeed and are recorded.
        router.delete("/v1/AUTH_x/c/{name}") { _, context in
            let name = context.parameters.get("name") ?? ""
            if self.down.withLockedValue({ $0 }) { return Response(status: .serviceUnavailable) }
            self.deleted.withLockedValue { $0.append(name) }
            return Response(status: .noContent)
        }
        // A container that answers HEAD but is gone by the PUT (deleted in between).
        router.head("/v1/AUTH_x/gone") { _, _ in Response(status: .noContent) }
        router.put("/v1/AUTH_x/gone/{name}") { _, _ in Response(status: .notFound) }
        router.get("/v1/AUTH_x/c/flaky") { request, _ in
            let range = request.headers[.range] ?? "none"
            let first = self.ranges.withLockedValue { $0.append(range); return $0.count == 1 }
            let data = Self.data
            if first {
                return Response(
                    status: .ok, headers: [.contentLength: "\(data.count)"],
                    body: ResponseBody(contentLength: data.count) { writer in
                        try await writer.write(ByteBuffer(bytes: data[0..<100_000]))
                        throw CancellationError()  // the connection drops mid-body
                    })
            }
            guard range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).split(separator: "-")[0]) else {
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
            return Response(status: .partialContent, body: .init(byteBuffer: ByteBuffer(bytes: data[start...])))
        }
        return Application(router: router)
    }

    func options(_ port: Int, _ extra: [String: String] = [:]) -> [String: String] {
        ["swift_store_endpoint": "http://127.0.0.1:\(port)/v1/AUTH_x", "swift_store_auth_token": "tok", "swift_store_container": "c"]
            .merging(extra) { $1 }
    }
}

/// What needs no Swift server: options, locations, the references file, the catalog, errors,
/// and a store whose server is down or silent.
@Suite struct SwiftStoreUnitTests {
    func configuration(_ values: [String: String]) throws -> SwiftStoreConfiguration {
        try SwiftStoreConfiguration(options: StoreOptions(section: "swift", values: values))
    }

    let tempauth = [
        "swift_store_auth_address": "http://swift.example:8080/auth/v1.0/", "swift_store_user": "acct:user",
        "swift_store_key": "s3cret", "swift_store_auth_version": "1",
    ]

    @Test func optionsUseGlanceStoreNamesAndDefaults() throws {
        let c = try configuration(tempauth)
        #expect(c.largeObjectSize == 5120 * 1_024_000)
        #expect(c.largeObjectChunkSize == 200 * 1_024_000)
        #expect(c.container == "glance")
        #expect(c.manifest == .dlo)
        #expect(c.segmentUnknownSize)
        #expect(!c.createContainerOnPut)
        #expect(c.endpointType == "publicURL" && c.serviceType == "object-store")
        #expect(c.expireSoonInterval == 60 && c.retryGetCount == 0)
        #expect(c.connectTimeout == .seconds(10) && c.readTimeout == .seconds(60))
        #expect(c.locationPrefix == "swift+http://swift.example:8080/auth/v1.0/")
        #expect(try configuration(["swift_store_auth_address": "https://ks.example/v3", "swift_store_user": "p:u", "swift_store_key": "k"])
            .locationPrefix == "swift+https://ks.example/v3/")
        let s = try configuration(["swift_store_endpoint": "http://swift.example/v1/AUTH_x/", "swift_store_auth_token": "tok"])
        #expect(s.locationPrefix == "swift+http://swift.example/v1/AUTH_x/")
        let sized = try configuration(tempauth.merging([
            "swift_store_large_object_size": "10", "swift_store_large_object_chunk_size": "2", "swift_store_read_timeout": "2.5",
        ]) { $1 })
        #expect(sized.largeObjectSize == 10_240_000 && sized.largeObjectChunkSize == 2_048_000)
        #expect(sized.readTimeout == .milliseconds(2500))
    }

    @Test func badOptionsAreConfigurationErrors() throws {
        let bad: [[String: String]] = [
            [:],
            ["swift_store_auth_address": "http://a/auth/v1.0"],
            tempauth.merging(["swift_store_auth_version": "2"]) { $1 },
            tempauth.merging(["swift_store_multiple_containers_seed": "33"]) { $1 },
            tempauth.merging(["swift_store_large_object_size": "0"]) { $1 },
            tempauth.merging(["swift_store_multi_tenant": "true"]) { $1 },
            tempauth.merging(["swift_store_large_object_manifest": "zip"]) { $1 },
            tempauth.merging(["swift_store_endpoint_type": "public"]) { $1 },
            tempauth.merging(["swift_store_auth_token": "t"]) { $1 },
            ["swift_store_auth_token": "t"],
            ["swift_store_config_file": "/nonexistent/glimpse-swift.conf"],
        ]
        for values in bad {
            #expect(throws: StoreConfigurationError.self, "\(values)") { try configuration(values) }
            do {
                _ = try configuration(values)
            } catch let e as StoreConfigurationError {
                #expect(!e.message.contains("s3cret"))
            }
        }
    }

    @Test func containerNamesFollowTheSeed() throws {
        let id = "fdae39a1-bac5-4238-aba4-69bcc726e848"
        #expect(try configuration(tempauth).containerName(forImage: id) == "glance")
        #expect(try configuration(tempauth.merging(["swift_store_multiple_containers_seed": "3"]) { $1 }).containerName(forImage: id) == "glance_fda")
        #expect(try configuration(tempauth.merging(["swift_store_multiple_containers_seed": "10"]) { $1 }).containerName(forImage: id) == "glance_fdae39a1-ba")
        #expect(try configuration(tempauth.merging(["swift_store_multiple_containers_seed": "2"]) { $1 })
            .containerName(forImage: "FDAE") == "glance_fd")
    }

    @Test func locationsInEveryGlanceStoreForm() throws {
        #expect(SwiftLocation.parse("swift+http://swift.example:8080/auth/v1.0/glance/abc")
            == SwiftLocation(account: .configured(address: "http://swift.example:8080/auth/v1.0"), container: "glance", object: "abc"))
        #expect(SwiftLocation.parse("swift+https://ks.example/v3/glance/abc")?.account == .configured(address: "https://ks.example/v3"))
        // swift:// means https.
        #expect(SwiftLocation.parse("swift://account:user:pass@authurl.com/container/obj")
            == SwiftLocation(account: .credentials(address: "https://authurl.com", user: "account:user", key: "pass"), container: "container", object: "obj"))
        #expect(SwiftLocation.parse("swift+http://test%3Atester:tes%40ting@h:8080/auth/v1.0/glance/i")?.account
            == .credentials(address: "http://h:8080/auth/v1.0", user: "test:tester", key: "tes@ting"))
        #expect(SwiftLocation.parse("swift+config://ref1/glance/abc") == SwiftLocation(account: .reference("ref1"), container: "glance", object: "abc"))
        #expect(SwiftLocation.parse("swift://user:pass@http://authurl.com/v1/container/obj") == nil)
        #expect(SwiftLocation.parse("swift+http://host/obj-only") == nil)
        #expect(SwiftLocation.parse("swift+http://user@host/c/o") == nil)
        #expect(SwiftLocation.parse("s3://bucket/obj") == nil)
        #expect(SwiftLocation.percentEncode("a b/ü-_.~") == "a%20b%2F%C3%BC-_.~")
    }

    /// Several swift stores can sit side by side: each claims the locations of its own accounts.
    @Test func handlesTheLocationsOfItsOwnAccounts() async throws {
        try await withSwiftStore(tempauth.merging(["swift_store_endpoint": "https://Storage.example/v1/AUTH_a"]) { $1 }) { store, _ in
            #expect(store.handles(location: "swift+http://swift.example:8080/auth/v1.0/glance/i"))
            #expect(store.handles(location: "swift://SWIFT.example:8080/auth/v1.0/glance/i"))
            #expect(store.handles(location: "swift+https://storage.example/v1/AUTH_a/glance/i"))
            #expect(!store.handles(location: "swift+http://other.example:8080/auth/v1.0/glance/i"))
            #expect(!store.handles(location: "swift+http://swift.example:8080/auth/v2/glance/i"))
            #expect(store.handles(location: "swift+http://a%3Ab:k@elsewhere.example/auth/v1.0/glance/i"))
            #expect(store.handles(location: "swift+config://ref1/glance/i"))
            #expect(!store.handles(location: "swift+config://ref2/glance/i"))
            #expect(!store.handles(location: "s3://swift.example:8080/glance/i"))
            await #expect(throws: GlimpseError.self) { try await store.read(location: "swift+http://other.example/v/glance/i", range: nil) { _ in } }
            #expect(store.discoveryProperties == [
                "container": .string("glance"), "large_object_size": .int(5120), "large_object_chunk_size": .int(200),
            ])
        }
    }

    @Test func referencesFileAsGlanceStoreReadsIt() throws {
        let text = """
            [DEFAULT]
            auth_version = 1
            # a comment
            [ref1]
            auth_address = http://swift.example/auth/v1.0
            user = "acct:user"
            key = 's3cret'

            [ks]
            auth_address: https://ks.example/v3
            user = p:u
            key = k
            auth_version = 3
            user_domain_name = Users
            project_domain_id = pd

            [incomplete]
            user = x
            """
        let refs = try SwiftReferencesFile.parse(text, defaultVersion: .v3)
        #expect(Set(refs.keys) == ["ref1", "ks"])
        #expect(refs["ref1"]?.user == "acct:user" && refs["ref1"]?.key == "s3cret" && refs["ref1"]?.authVersion == .v1)
        #expect(refs["ref1"]?.userDomainID == "default" && refs["ref1"]?.projectDomainID == "default")
        #expect(refs["ks"]?.authAddress == "https://ks.example/v3" && refs["ks"]?.authVersion == .v3)
        #expect(refs["ks"]?.userDomainName == "Users" && refs["ks"]?.userDomainID == nil && refs["ks"]?.projectDomainID == "pd")
        #expect(throws: StoreConfigurationError.self) { try SwiftReferencesFile.parse("[r]\nauth_address = \"x\nuser=u\nkey=k", defaultVersion: .v3) }
    }

    @Test func keystoneCatalogAndAuthDocument() throws {
        let catalog = try JSONValue.parse(Array(IdentityStandIn.catalog(storageURL: "http://right/v1/AUTH_p").utf8)).arrayValue ?? []
        #expect(SwiftSession.endpoint(in: catalog, serviceType: "object-store", endpointType: "internalURL", region: "RegionOne") == "http://right/v1/AUTH_p")
        #expect(SwiftSession.endpoint(in: catalog, serviceType: "object-store", endpointType: "internalURL", region: "RegionTwo") == "http://127.0.0.1:1/v1/AUTH_two")
        #expect(SwiftSession.endpoint(in: catalog, serviceType: "object-store", endpointType: "publicURL", region: nil) == "http://127.0.0.1:1/v1/AUTH_public")
        #expect(SwiftSession.endpoint(in: catalog, serviceType: "object-store", endpointType: "adminURL", region: nil) == nil)
        #expect(SwiftSession.endpoint(in: catalog, serviceType: "volume", endpointType: "publicURL", region: nil) == nil)
        #expect(SwiftSession.v3Base("http://ks:5000") == "http://ks:5000/v3")
        #expect(SwiftSession.v3Base("http://ks:5000/v3/") == "http://ks:5000/v3")
        #expect(SwiftSession.v3Base("http://ks:5000/v2.0") == "http://ks:5000/v3")

        var account = SwiftStoreConfiguration.Account(authAddress: "http://ks/v3", authVersion: .v3, user: "proj:alice", key: "pw")
        account.userDomainID = "default"
        account.projectDomainName = "Projects"
        let doc = SwiftSession.v3AuthDocument(account).serialized()
        #expect(doc.contains(#""user": {"name": "alice", "domain": {"id": "default"}, "password": "pw"}"#))
        #expect(doc.contains(#""scope": {"project": {"name": "proj", "domain": {"name": "Projects"}}}"#))
        account.user = "alice"
        account.projectName = nil
        account.projectID = "p-1"
        #expect(SwiftSession.v3AuthDocument(account).serialized().contains(#""scope": {"project": {"id": "p-1"}}"#))
        account.applicationCredentialID = "ac"
        account.applicationCredentialSecret = "acs"
        #expect(SwiftSession.v3AuthDocument(account).serialized().contains(#""methods": ["application_credential"]"#))
        #expect(SwiftSession.parseDate("2026-11-24T22:10:00.000000Z") == Date(timeIntervalSince1970: 1_795_558_200))
    }

    @Test func swiftAnswersMapToGlimpseErrors() {
        #expect(SwiftErrors.status(.notFound).code == .notFound)
        #expect(SwiftErrors.status(.insufficientStorage).code == .payloadTooLarge)
        #expect(SwiftErrors.status(.payloadTooLarge).code == .payloadTooLarge)
        #expect(SwiftErrors.status(.serviceUnavailable).code == .unavailable)
        #expect(SwiftErrors.status(.internalServerError).code == .unavailable)
        #expect(SwiftErrors.status(.unauthorized).code == .unavailable)
        #expect(SwiftErrors.status(.rangeNotSatisfiable).code == .rangeNotSatisfiable)
    }

    /// Nothing listening: every operation is a prompt 503 that names no address, token or key.
    @Test func storeWhoseServerIsDownIsUnavailable() async throws {
        let started = ContinuousClock.now
        let location = "swift+http://127.0.0.1:1/auth/v1.0/glance/x"
        try await withSwiftStore(tempauth.merging(["swift_store_auth_address": "http://127.0.0.1:1/auth/v1.0"]) { $1 }) { store, _ in
            await BlobStoreConformance.expectUnavailable("swift tempauth down", store, location: location, secrets: ["s3cret", "acct:user"])
        }
        let token = "AUTH_tk0123456789abcdef"
        try await withSwiftStore(["swift_store_endpoint": "http://127.0.0.1:1/v1/AUTH_x", "swift_store_auth_token": token]) { store, _ in
            await BlobStoreConformance.expectUnavailable(
                "swift static down", store, location: "swift+http://127.0.0.1:1/v1/AUTH_x/glance/x", secrets: [token, "AUTH_x"])
        }
        try await withSwiftStore(["swift_store_auth_address": "http://127.0.0.1:1/v3", "swift_store_user": "p:u", "swift_store_key": "s3cret"]) { store, _ in
            await BlobStoreConformance.expectUnavailable(
                "swift keystone down", store, location: "swift+http://127.0.0.1:1/v3/glance/x", secrets: ["s3cret"])
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// `glimpse serve` builds a swift store from `enabled_backends`; a bad option stops start-up
    /// with a message naming the section and option, not the key.
    @Test func applicationBuildsSwiftStores() async throws {
        let ini = try INIFile(parsing: """
            [DEFAULT]
            enabled_backends = fs:file, objects:swift
            [glance_store]
            default_backend = objects
            [fs]
            filesystem_store_datadir = \(FileManager.default.temporaryDirectory.path)/glimpse-swift-app-\(UUID().uuidString)
            [objects]
            swift_store_auth_version = 1
            swift_store_auth_address = http://127.0.0.1:1/auth/v1.0
            swift_store_user = a:u
            swift_store_key = s3cret
            swift_store_container = images
            """)
        let configuration = try GlimpseConfiguration.load(file: ini, environment: [:], flags: [:])
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let pool = GlimpseApp.ClientPool()
        let stores = try await GlimpseApp.makeStores(configuration, httpClient: http, clients: pool)
        let swift = try #require(stores.default as? SwiftBlobStore)
        #expect(swift.id == "objects" && swift.configuration.container == "images")
        await pool.shutdown()

        let bad = try INIFile(parsing: "[DEFAULT]\nenabled_backends = objects:swift\n[objects]\nswift_store_auth_address = http://a/auth/v1.0\nswift_store_key = s3cret\n")
        do {
            _ = try await GlimpseApp.makeStores(GlimpseConfiguration.load(file: bad, environment: [:], flags: [:]), httpClient: http, clients: pool)
            Issue.record("a swift store without a user was built")
        } catch let e as ConfigurationError {
            #expect(e.description.contains("[objects]") && !e.description.contains("s3cret"), "\(e)")
        }
        await pool.shutdown()
        try await http.shutdown()
    }

    /// Swift's 507 (out of space) is a 413 whether it comes before or after the body ends.
    @Test func outOfSpaceIsPayloadTooLarge() async throws {
        let swift = MisbehavingSwift()
        try await swift.app().test(.live) { client in
            try await withSwiftStore(swift.options(client.port!, ["swift_store_segment_unknown_size": "false"])) { store, _ in
                for size in [10, 64 << 20] {
                    let writer = try await store.makeWriter(imageID: "full", expectedSize: nil)
                    do {
                        var sent = 0
                        while sent < size {
                            let n = min(1 << 20, size - sent)
                            try await writer.write(ByteBuffer(bytes: [UInt8](repeating: 1, count: n)))
                            sent += n
                        }
                        _ = try await writer.commit()
                        Issue.record("a write into a full store succeeded")
                    } catch let e as GlimpseError {
                        #expect(e.code == .payloadTooLarge, "\(size) bytes: \(e)")
                    }
                    await writer.cancel()
                }
            }
        }
    }

    /// A container deleted after it was checked: the upload is a 503, not a 404.
    @Test func vanishedContainerIsUnavailable() async throws {
        let swift = MisbehavingSwift()
        try await swift.app().test(.live) { client in
            try await withSwiftStore(swift.options(client.port!, ["swift_store_container": "gone"])) { store, _ in
                for declared in [Int64?.none, 5] {
                    let writer = try await store.makeWriter(imageID: "img", expectedSize: declared)
                    do {
                        try await writer.write(ByteBuffer(bytes: [1, 2, 3, 4, 5]))
                        _ = try await writer.commit()
                        Issue.record("an upload into a vanished container succeeded")
                    } catch let e as GlimpseError {
                        #expect(e.code == .unavailable, "\(e)")
                    }
                    await writer.cancel()
                }
            }
        }
    }

    /// What a cancelled upload cannot delete while Swift is down is deleted once it is back.
    @Test func deletionsFailedWhileDownAreRetried() async throws {
        let swift = MisbehavingSwift()
        try await swift.app().test(.live) { client in
            try await withSwiftStore(swift.options(client.port!, ["swift_store_segment_unknown_size": "true"])) { store, _ in
                let writer = try await store.makeWriter(imageID: "img", expectedSize: nil)
                do {
                    try await writer.write(ByteBuffer(bytes: [1, 2, 3]))
                    _ = try await writer.commit()
                } catch {}
                await writer.cancel()  // the segment's DELETE gets 503: deferred
                #expect(store.deferredCleanups.count == 1)
                #expect(await store.retryPendingDeletions() == 1, "still down")
                swift.down.withLockedValue { $0 = false }
                let passes = store.deferredCleanups.passes
                let runner = Task { await store.deferredCleanups.run(interval: .milliseconds(50)) }
                // Until a pass of the runner has finished after the DELETE went through: the count
                // alone drops to 0 while a retry runs, and a pass cancelled while its DELETE is in
                // flight puts the clean-up back.
                for _ in 0..<500 {
                    let done = !swift.deleted.withLockedValue({ $0.isEmpty }) && store.deferredCleanups.passes > passes
                    if done && store.deferredCleanups.count == 0 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                runner.cancel()
                await runner.value
                #expect(store.deferredCleanups.count == 0)
                let deleted = swift.deleted.withLockedValue { $0 }
                #expect(deleted.count == 1 && deleted[0].hasPrefix("img-") && deleted[0].hasSuffix("-00001"), "\(deleted)")
            }
        }
    }

    /// `swift_store_retry_get_count`: a download that breaks off resumes with `Range` where it stopped.
    @Test func brokenDownloadResumesWithRange() async throws {
        let swift = MisbehavingSwift()
        try await swift.app().test(.live) { client in
            let location = "swift+http://127.0.0.1:\(client.port!)/v1/AUTH_x/c/flaky"
            try await withSwiftStore(swift.options(client.port!, ["swift_store_retry_get_count": "1"])) { store, _ in
                var out: [UInt8] = []
                try await store.read(location: location, range: nil) { out += Array($0.readableBytesView) }
                #expect(out == MisbehavingSwift.data)
                // The second request starts where the first stopped (what arrived of the 100 kB).
                let ranges = swift.ranges.withLockedValue { $0 }
                #expect(ranges.count == 2 && ranges.first == "none")
                let resumedAt = ranges.last.flatMap { Int($0.dropFirst("bytes=".count).dropLast()) } ?? -1
                #expect((1...100_000).contains(resumedAt), "\(ranges)")
            }
        }
        let again = MisbehavingSwift()
        try await again.app().test(.live) { client in
            let location = "swift+http://127.0.0.1:\(client.port!)/v1/AUTH_x/c/flaky"
            try await withSwiftStore(again.options(client.port!)) { store, _ in
                do {
                    try await store.read(location: location, range: nil) { _ in }
                    Issue.record("a broken download without retries succeeded")
                } catch let e as GlimpseError {
                    #expect(e.code == .unavailable)
                }
            }
        }
    }

    /// A server that takes requests and never answers: the read timeout makes it a 503.
    @Test func silentServerTimesOut() async throws {
        try await SilentServer.app().test(.live) { client in
            let endpoint = "http://127.0.0.1:\(client.port!)/v1/AUTH_x"
            let options = ["swift_store_endpoint": endpoint, "swift_store_auth_token": "tok", "swift_store_read_timeout": "0.5"]
            try await withSwiftStore(options) { store, _ in
                let started = ContinuousClock.now
                await BlobStoreConformance.expectUnavailable(
                    "swift silent", store, location: "swift+http://127.0.0.1:\(client.port!)/v1/AUTH_x/glance/x", secrets: ["tok"])
                #expect(ContinuousClock.now - started < .seconds(8))
            }
        }
    }
}
