import Crypto
import Foundation
import GlimpseDomain
import GlimpseStore
import GlimpseStoreDrivers
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// web-download's fetcher against real sockets: `WebOrigin` drops, stalls, throttles, lies
/// and redirects; the sink hashes what it gets, so every success is checked by SHA-512.
@Suite struct SafeWebFetcherTests {
    static let sha512 = SHA512.hash(data: WebOrigin.data).map { String(format: "%02x", $0) }.joined()

    struct Received: Sendable {
        var count: Int64
        var sha512: String
        var progress: [Int64]
    }

    /// Loopback reachable through `allowed_hosts = 127.0.0.1`, any port. The read timeout is long
    /// (the whole suite runs in parallel on two cores, and a starved origin must not look stalled)
    /// except where a test makes the origin stall on purpose.
    func fetcher(
        hosts: [String] = ["127.0.0.1"], resolver: SafeWebFetcher.Resolver? = nil,
        configure tweak: (inout SafeWebFetcher.Configuration) -> Void = { _ in }
    ) throws -> SafeWebFetcher {
        var c = SafeWebFetcher.Configuration(filtering: ImportFilteringOptions(allowedHosts: hosts, allowedPorts: []))
        c.readTimeout = .seconds(10)
        c.connectTimeout = .seconds(2)
        c.retryBackoff = .milliseconds(10)
        tweak(&c)
        return try SafeWebFetcher(configuration: c, resolver: resolver)
    }

    func fetch(_ f: SafeWebFetcher, _ url: String, limit: Int64 = 1 << 30,
               sink extra: (ByteBuffer) async throws -> Void = { _ in }) async throws -> Received {
        var hasher = SHA512()
        let progress = NIOLockedValueBox<[Int64]>([])
        var sunk: Int64 = 0
        let n = try await f.fetch(url, limit: limit, progress: { p in progress.withLockedValue { $0.append(p) } }) { buffer in
            try await extra(buffer)
            hasher.update(data: Array(buffer.readableBytesView))
            sunk += Int64(buffer.readableBytes)
        }
        #expect(n == sunk)
        return Received(count: n, sha512: hasher.finalize().map { String(format: "%02x", $0) }.joined(),
                        progress: progress.withLockedValue { $0 })
    }

    /// The error a fetch ends with (recording an issue if it succeeds).
    func failure(_ f: SafeWebFetcher, _ url: String, limit: Int64 = 1 << 30) async -> GlimpseError? {
        do {
            _ = try await fetch(f, url, limit: limit)
            Issue.record("\(url) should have failed")
            return nil
        } catch let e as GlimpseError {
            return e
        } catch {
            Issue.record("not a GlimpseError: \(error)")
            return nil
        }
    }

    // MARK: whole, resumed, failed

    @Test func fetchesAFile_sha512Matches() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file")
            #expect(r.count == Int64(WebOrigin.data.count) && r.sha512 == Self.sha512)
            #expect(r.progress.last == r.count && r.progress == r.progress.sorted())
            let request = try #require(origin.requests.withLockedValue { $0.first })
            #expect(request.headers["host"] == "127.0.0.1:\(origin.port)" && request.headers["range"] == nil)
            #expect(request.headers["connection"] == "close")
        }
    }

    @Test func throttledSourceDroppingHalfway_resumesWithRange() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file?throttle=1&drop=150000")
            #expect(r.count == 300_000 && r.sha512 == Self.sha512)
            let requests = origin.requests.withLockedValue { $0 }
            #expect(requests.count == 2, "\(requests)")
            #expect(requests.last?.headers["range"] == "bytes=150000-")
            #expect(requests.last?.headers["if-range"] == "\"v1\"", "a changed source must not be spliced")
        }
    }

    @Test func repeatedDrops_resumeUntilDone() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file?drop=70000")
            #expect(r.sha512 == Self.sha512 && origin.requestCount == 5)
        }
    }

    @Test func rangesNotAdvertised_probedByTheResume() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file?advertise=0&drop=100000")
            #expect(r.sha512 == Self.sha512 && origin.requestCount == 3)
        }
    }

    @Test func dropWithoutRangeSupport_failsWithTheReason() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(), origin.base + "/file?ranges=0&drop=150000")
            #expect(e?.code == .unavailable)
            #expect(e?.message == "The download broke off after 150000 of 300000 bytes (the connection closed early), "
                + "and the source does not support range requests, so it cannot be resumed.")
        }
    }

    @Test func stalledSource_resumesAfterTheReadTimeout() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(configure: { $0.readTimeout = .seconds(1) }), origin.base + "/file?stall=100000")
            #expect(r.sha512 == Self.sha512)
            #expect(origin.requests.withLockedValue { $0.last?.headers["range"] }?.hasPrefix("bytes=") == true)
        }
    }

    @Test func stalledSourceWithoutRanges_failsSayingItStalled() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(configure: { $0.readTimeout = .seconds(1) }), origin.base + "/file?stall=100000&ranges=0")
            #expect(e?.message.contains("of 300000 bytes (no data arrived for 1 s)") == true, "\(String(describing: e))")
            #expect(e?.message.contains("does not support range requests") == true)
        }
    }

    @Test func slowSink_isNotAStall() async throws {
        try await WebOrigin.with { origin in
            var first = true
            let r = try await fetch(try fetcher(configure: { $0.readTimeout = .seconds(1) }), origin.base + "/file") { _ in
                if first {
                    first = false
                    try await Task.sleep(nanoseconds: 2_500_000_000)  // longer than the 1 s read timeout
                }
            }
            #expect(r.sha512 == Self.sha512 && origin.requestCount == 1)
        }
    }

    @Test func cancellation_endsTheFetchWithoutRetrying() async throws {
        try await WebOrigin.with { origin in
            let f = try fetcher()
            let task = Task { try await fetch(f, origin.base + "/file?stall=100000") }
            while origin.requestCount == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            try await Task.sleep(nanoseconds: 200_000_000)
            task.cancel()
            let started = ContinuousClock.now
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(origin.requestCount == 1, "\(origin.requests.withLockedValue { $0 })")
        }
    }

    struct SinkFailure: Error {}

    @Test func sinkErrors_passThroughAndAreNotRetried() async throws {
        try await WebOrigin.with { origin in
            await #expect(throws: SinkFailure.self) {
                _ = try await fetch(try fetcher(), origin.base + "/file") { _ in throw SinkFailure() }
            }
            #expect(origin.requestCount == 1)
        }
    }

    @Test func lengthLargerThanTheBody_withRanges_fails() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(), origin.base + "/file?lie=+5000")
            #expect(e?.code == .badRequest)
            #expect(e?.message == "The source declared 305000 bytes but has 300000 (it broke off after 300000).")
        }
    }

    @Test func lengthLargerThanTheBody_withoutRanges_fails() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(), origin.base + "/file?lie=+5000&ranges=0")
            #expect(e?.message.hasPrefix("The download broke off after 300000 of 305000 bytes") == true)
            #expect(e?.message.contains("does not support range requests") == true)
        }
    }

    @Test func lengthSmallerThanTheBody_fails() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(), origin.base + "/file?lie=-5000")
            #expect(e?.code == .badRequest)
            #expect(e?.message == "The source sent more data than its Content-Length declared.")
        }
    }

    @Test func changedSource_isNotSpliced() async throws {
        try await WebOrigin.with { origin in
            let e = await failure(try fetcher(), origin.base + "/file?changing=1&drop=150000")
            #expect(e?.message.hasPrefix("The source changed during the download") == true)
        }
    }

    @Test func chunkedBodyDroppingHalfway_resumes() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file?chunked=1&drop=150000")
            #expect(r.sha512 == Self.sha512 && origin.requestCount == 2, "\(origin.requests.withLockedValue { $0 })")
        }
    }

    @Test func bodyWithoutLength_endsAtClose() async throws {
        try await WebOrigin.with { origin in
            let r = try await fetch(try fetcher(), origin.base + "/file?nolength=1")
            #expect(r.sha512 == Self.sha512)
        }
    }

    @Test func sizeCap_withAndWithoutContentLength() async throws {
        try await WebOrigin.with { origin in
            let f = try fetcher()
            let declared = await failure(f, origin.base + "/file", limit: 100_000)
            #expect(declared?.code == .payloadTooLarge)
            #expect(declared?.message == "The image at the URL is 300000 bytes, more than the limit of 100000 bytes.")
            for url in ["/file?nolength=1", "/file?chunked=1"] {
                var sunk = 0
                do {
                    _ = try await f.fetch(origin.base + url, limit: 100_000, progress: { _ in }) { sunk += $0.readableBytes }
                    Issue.record("over the cap")
                } catch let e as GlimpseError {
                    #expect(e.code == .payloadTooLarge && e.message.contains("limit of 100000 bytes"))
                }
                #expect(sunk <= 100_000)
            }
        }
    }

    @Test func httpErrors_areReported() async throws {
        try await WebOrigin.with { origin in
            let f = try fetcher()
            #expect(await failure(f, origin.base + "/status/404")?.message == "The source answered HTTP 404 Not Found.")
            let e = await failure(f, origin.base + "/status/503")
            #expect(e?.code == .unavailable && e?.message.contains("HTTP 503") == true && origin.requestCount == 6, "\(origin.requests.withLockedValue { $0 })")
            let refused = await failure(f, "http://127.0.0.1:1/file")
            #expect(refused?.message == "The download failed: the source refused the connection (5 attempts).")
        }
    }

    // MARK: where connections go

    @Test func loopbackOrigin_isRefusedUnlessItsHostIsAllowed() async throws {
        try await WebOrigin.with { origin in
            let strict = try fetcher(hosts: [])
            #expect(throws: GlimpseError.self) { try strict.validate(origin.base + "/file") }
            #expect(await failure(strict, origin.base + "/file")?.message == "URL refused: '127.0.0.1' is a loopback address.")
            for spelling in ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "0.0.0.0"] {
                let e = await failure(strict, "http://\(spelling):\(origin.port)/file")
                #expect(e?.code == .badRequest && e?.message.hasPrefix("URL refused:") == true, "\(spelling)")
            }
            // A name that resolves to loopback, by the system's resolver.
            #expect(await failure(strict, "http://localhost:\(origin.port)/file")?.message
                == "URL refused: host 'localhost' resolves to a loopback address.")
            // Allowing 127.0.0.1 allows that spelling only.
            #expect(await failure(try fetcher(), "http://localhost:\(origin.port)/file")?.message
                == "URL refused: host 'localhost' is not allowed.")
            #expect(origin.requestCount == 0)
        }
    }

    @Test func namesResolvingToRefusedAddresses_areRefused() async throws {
        let table: [String: [String]] = [
            "metadata.test": ["169.254.169.254"], "intranet.test": ["10.1.2.3"], "mapped.test": ["::ffff:127.0.0.1"],
            "mixed.test": ["192.168.0.10", "fe80::1", "127.0.0.1"],
        ]
        let resolver: SafeWebFetcher.Resolver = { host in (table[host] ?? []).compactMap { IPAddress($0) } }
        let f = try fetcher(hosts: [], resolver: resolver)
        #expect(await failure(f, "http://metadata.test/latest/meta-data/")?.message
            == "URL refused: host 'metadata.test' resolves to a link-local address.")
        #expect(await failure(f, "http://intranet.test/x")?.message == "URL refused: host 'intranet.test' resolves to a private address.")
        #expect(await failure(f, "http://mapped.test/x")?.message == "URL refused: host 'mapped.test' resolves to a loopback address.")
        #expect(await failure(f, "http://mixed.test/x")?.message
            == "URL refused: host 'mixed.test' resolves to addresses that are not allowed (private, link-local, loopback).")
        #expect(await failure(f, "http://nowhere.test/x")?.message == "URL refused: host 'nowhere.test' has no address.")
    }

    @Test func connectionIsPinnedToTheCheckedAddress() async throws {
        try await WebOrigin.with { origin in
            // "origin.test" exists only in this resolver: the connection can only have gone to the
            // address it returned, and it was asked once per connection.
            let lookups = NIOLockedValueBox(0)
            let resolver: SafeWebFetcher.Resolver = { host in
                lookups.withLockedValue { $0 += 1 }
                return host == "origin.test" ? [IPAddress("127.0.0.2")!, IPAddress("127.0.0.1")!] : []
            }
            let f = try fetcher(hosts: ["origin.test"], resolver: resolver)
            let r = try await fetch(f, "http://origin.test:\(origin.port)/file?drop=150000")
            #expect(r.sha512 == Self.sha512)
            #expect(origin.requestCount >= 2 && lookups.withLockedValue { $0 } == origin.requestCount, "one lookup per connection")
            #expect(origin.requests.withLockedValue { $0.allSatisfy { $0.headers["host"] == "origin.test:\(origin.port)" } })
        }
    }

    // MARK: redirects

    @Test func redirects_areFollowedAndChecked() async throws {
        try await WebOrigin.with { origin in
            let f = try fetcher()
            #expect(try await fetch(f, origin.base + "/chain/4").sha512 == Self.sha512)  // five redirects
            #expect(await failure(f, origin.base + "/chain/5")?.message == "The source redirected more than 5 times.")
            let targets: [(String, String)] = [
                ("http://169.254.169.254/latest/meta-data/", "Redirect refused: host '169.254.169.254' is not allowed."),
                ("http://10.0.0.1/x", "Redirect refused: host '10.0.0.1' is not allowed."),
                ("http://localhost:\(origin.port)/file", "Redirect refused: host 'localhost' is not allowed."),
                ("file:///etc/passwd", "Redirect refused: scheme 'file' is not allowed."),
                ("http://0x7f.1:\(origin.port)/file", "Redirect refused: '0x7f.1' is not a canonical IPv4 address (use four decimal numbers, like 192.0.2.1)."),
            ]
            for (target, message) in targets {
                #expect(await failure(f, origin.base + "/to/" + target)?.message == message)
            }
            let ports = try fetcher(configure: { $0.filtering.allowedPorts = [origin.port] })
            #expect(await failure(ports, origin.base + "/to/http://127.0.0.1:1/file")?.message == "Redirect refused: port 1 is not allowed.")
        }
    }

    /// Address classes decide redirects when the lists do not: the origin listens on this
    /// machine's own non-loopback address, reached without any allowed_hosts.
    @Test func redirectsToRefusedAddresses_byAddressClass() async throws {
        let devices = try System.enumerateDevices()
        guard let own = devices.compactMap({ $0.address?.ipAddress }).compactMap({ IPAddress($0) })
            .first(where: { if case .v4 = $0 { $0.kind != .loopback } else { false } })
        else {
            print("redirectsToRefusedAddresses_byAddressClass: no non-loopback IPv4 address here; covered by the loopback tests only")
            return
        }
        try await WebOrigin.with(host: own.description) { origin in
            let lookups: SafeWebFetcher.Resolver = { host in
                ["metadata.test": ["169.254.169.254"], "self.test": ["127.0.0.1", "::1"]][host, default: []].compactMap { IPAddress($0) }
            }
            let f = try fetcher(hosts: [], resolver: lookups, configure: { $0.filtering.allowPrivateNetworks = own.kind == .private })
            #expect(try await fetch(f, origin.base + "/chain/1").sha512 == Self.sha512)
            let targets: [(String, String)] = [
                ("http://127.0.0.1:\(origin.port)/file", "Redirect refused: '127.0.0.1' is a loopback address."),
                ("http://169.254.169.254/latest/", "Redirect refused: '169.254.169.254' is a link-local address."),
                ("http://[::ffff:127.0.0.1]:\(origin.port)/file", "Redirect refused: '127.0.0.1' is a loopback address."),
                ("http://metadata.test/latest/", "Redirect refused: host 'metadata.test' resolves to a link-local address."),
                ("http://self.test:\(origin.port)/file", "Redirect refused: host 'self.test' resolves to a loopback address."),
            ]
            for (target, message) in targets {
                #expect(await failure(f, origin.base + "/to/" + target)?.message == message)
            }
            if own.kind != .private {
                #expect(await failure(f, origin.base + "/to/http://10.0.0.1/x")?.message == "Redirect refused: '10.0.0.1' is a private address.")
            }
        }
    }

    // MARK: TLS

    @Test func https_verifiesTheNameWhileConnectedByAddress() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", dir.path + "/key.pem", "-out", dir.path + "/cert.pem", "-days", "1",
                             "-subj", "/CN=origin.test", "-addext", "subjectAltName=DNS:origin.test"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl could not make a test certificate")
        let cert = try #require(try NIOSSLCertificate.fromPEMFile(dir.path + "/cert.pem").first)
        let key = try NIOSSLPrivateKey(file: dir.path + "/key.pem", format: .pem)
        let server = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: [.certificate(cert)], privateKey: .privateKey(key)))
        try await WebOrigin.with(tls: server) { origin in
            let resolver: SafeWebFetcher.Resolver = { _ in [IPAddress("127.0.0.1")!] }
            let trusting = try fetcher(hosts: ["origin.test", "other.test", "127.0.0.1"], resolver: resolver, configure: {
                $0.tls.trustRoots = .certificates([cert])
            })
            let r = try await fetch(trusting, "https://origin.test:\(origin.port)/file?drop=150000")
            #expect(r.sha512 == Self.sha512 && origin.requestCount == 2)
            let tlsFailure = "The TLS handshake with the source failed: its certificate is not trusted or not valid for the host."
            #expect(await failure(trusting, "https://other.test:\(origin.port)/file")?.message == tlsFailure)
            #expect(await failure(trusting, "https://127.0.0.1:\(origin.port)/file")?.message == tlsFailure)
            let systemRoots = try fetcher(hosts: ["origin.test"], resolver: resolver)
            #expect(await failure(systemRoots, "https://origin.test:\(origin.port)/file")?.message == tlsFailure)
            #expect(origin.requestCount == 2)
        }
    }
}
