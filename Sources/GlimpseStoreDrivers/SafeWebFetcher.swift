import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The `WebFetching` of web-download: a small HTTP/1.1 client on SwiftNIO whose connections go
/// only to addresses `ImportFilteringOptions` allows.
///
/// Async-http-client resolves names itself, so the address it connects to could differ from the
/// one checked (DNS rebinding); here each connection attempt resolves the name once, checks every
/// address, and connects to the allowed ones in turn by address, sending the name in `Host` and
/// in TLS SNI, and verifying the certificate against the name (or the literal address).
///
/// A response body is streamed with back-pressure (`NIOAsyncChannel`); a read timeout counts only
/// the time the socket waits for data that was asked for, so a slow sink never times out.
/// After an interruption (reset, early close, stall, a 5xx) it asks for the rest with
/// `Range: bytes=N-` and `If-Range`; a 200 to that means the source cannot resume (or changed),
/// a 416 that it never had the length it declared.
public struct SafeWebFetcher: WebFetching {
    public struct Configuration: Sendable {
        public var filtering = ImportFilteringOptions()
        /// Per address tried.
        public var connectTimeout: TimeAmount = .seconds(30)
        /// How long a connection may wait for bytes it asked for before it counts as stalled.
        public var readTimeout: TimeAmount = .seconds(60)
        public var maxRedirects = 5
        /// Consecutive attempts without progress before a fetch gives up (the first request included).
        public var attempts = 5
        /// Wait before the n-th consecutive retry: `retryBackoff × 2^(n-1)`, at most 30 s.
        public var retryBackoff: TimeAmount = .seconds(1)
        /// Trust roots and verification for https sources (the system's roots by default).
        public var tls: TLSConfiguration = .makeClientConfiguration()
        public var userAgent = "Glimpse"

        public init(filtering: ImportFilteringOptions = .init()) {
            self.filtering = filtering
        }
    }

    /// Names → addresses, once per connection attempt.
    public typealias Resolver = @Sendable (_ host: String) async throws -> [IPAddress]

    public let configuration: Configuration
    let resolver: Resolver
    let sslContext: NIOSSLContext
    let group: any EventLoopGroup

    /// Throws if the TLS configuration cannot be loaded (for example unreadable trust roots).
    public init(
        configuration: Configuration = .init(), resolver: Resolver? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.resolver = resolver ?? { try await SystemResolver.resolve($0) }
        self.sslContext = try NIOSSLContext(configuration: configuration.tls)
        self.group = group
    }

    public func validate(_ url: String) throws {
        try configuration.filtering.validate(url)
    }

    // MARK: the download

    /// What one request ended in, when it did not throw.
    enum Outcome {
        case complete
        case redirect(String)
        /// A failure worth another attempt; the text says what happened.
        case interrupted(String)
    }

    /// What is known about the entity across requests.
    struct Transfer {
        var delivered: Int64 = 0
        /// The entity's length (Content-Length of the first 200, or a Content-Range's).
        var total: Int64?
        /// A strong ETag, else Last-Modified, of the first answer: sent as `If-Range`.
        var validator: String?
        var redirects = 0
        var redirected = false
        var interruptions = 0
        /// What broke the last attempt, for the message when resuming turns out impossible.
        var lastInterruption: String?
    }

    public func fetch(
        _ text: String, limit: Int64, progress: @Sendable (Int64) async -> Void,
        into sink: (ByteBuffer) async throws -> Void
    ) async throws -> Int64 {
        var url = try configuration.filtering.validate(text)
        var t = Transfer()
        var failures = 0
        while true {
            let before = t.delivered
            let outcome: Outcome
            do {
                outcome = try await exchange(url, &t, limit: limit, progress: progress, sink: sink)
            } catch let e as GlimpseError where t.redirected && e.message.hasPrefix("URL refused: ") {
                throw GlimpseError(.badRequest, "Redirect refused: " + e.message.dropFirst("URL refused: ".count))
            }
            switch outcome {
            case .complete:
                return t.delivered
            case .redirect(let location):
                guard t.delivered == 0 else {
                    throw GlimpseError(.badRequest, "The source answered a resumed download with a redirect; it cannot be resumed.")
                }
                t.redirects += 1
                guard t.redirects <= configuration.maxRedirects else {
                    throw GlimpseError(.badRequest, "The source redirected more than \(configuration.maxRedirects) times.")
                }
                do {
                    url = try configuration.filtering.validate(url.resolvedText(location))
                } catch let e as GlimpseError {
                    throw GlimpseError(.badRequest, "Redirect refused: " + e.message.dropFirst("URL refused: ".count))
                }
                t.redirected = true
                failures = 0
            case .interrupted(let reason):
                try Task.checkCancellation()  // a cancelled import is not a broken source
                failures = t.delivered > before ? 1 : failures + 1
                t.interruptions += 1
                // A source that gives a few bytes per connection makes progress every time; this
                // bounds it all the same.
                guard failures < configuration.attempts, t.interruptions < configuration.attempts * 20 else {
                    if t.delivered == 0 {
                        throw GlimpseError(.unavailable, "The download failed: \(reason) (\(failures) attempts).")
                    }
                    throw GlimpseError(
                        .unavailable,
                        "The download broke off after \(Self.bytes(t.delivered, of: t.total)): \(reason); gave up after \(t.interruptions == failures ? failures : t.interruptions) attempts to resume.")
                }
                let shift = min(failures - 1, 10)
                let wait = min(configuration.retryBackoff.nanoseconds << shift, 30_000_000_000)
                t.lastInterruption = reason
                try await Task.sleep(nanoseconds: UInt64(max(0, wait)))
            }
        }
    }

    /// One connection, one request.
    func exchange(
        _ url: ImportURL, _ t: inout Transfer, limit: Int64, progress: @Sendable (Int64) async -> Void,
        sink: (ByteBuffer) async throws -> Void
    ) async throws -> Outcome {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        switch try await connect(url) {
        case .open(let c): channel = c
        case .failed(let reason): return .interrupted(reason)
        }
        let grace = min(configuration.readTimeout, .seconds(1))
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target)
            head.headers.add(name: "Host", value: url.hostHeader)
            head.headers.add(name: "User-Agent", value: configuration.userAgent)
            head.headers.add(name: "Accept", value: "*/*")
            head.headers.add(name: "Accept-Encoding", value: "identity")
            head.headers.add(name: "Connection", value: "close")
            let resuming = t.delivered > 0
            if resuming {
                head.headers.add(name: "Range", value: "bytes=\(t.delivered)-")
                if let v = t.validator { head.headers.add(name: "If-Range", value: v) }
            }
            var parts = inbound.makeAsyncIterator()
            let response: HTTPResponseHead
            do {
                // A failed write (the connection closed, a TLS handshake failed) shows on the
                // inbound side with its real cause.
                try? await outbound.write(contentsOf: [.head(head), .end(nil)])
                guard case .head(let h)? = try await parts.next() else {
                    return .interrupted("the connection closed before the source answered")
                }
                response = h
            } catch {
                return try Self.interruption(error, readTimeout: configuration.readTimeout)
            }

            let status = response.status.code
            let h = response.headers
            switch status {
            case 301, 302, 303, 307, 308:
                guard let location = h.first(name: "Location") else {
                    throw GlimpseError(.badRequest, "The source answered HTTP \(status) without a Location.")
                }
                return .redirect(location)
            case 200 where !resuming:
                if let length = h.first(name: "Content-Length").flatMap({ Int64($0) }), !h.contains(name: "Transfer-Encoding") {
                    guard length <= limit else {
                        throw GlimpseError.tooLarge("The image at the URL is \(length) bytes, more than the limit of \(limit) bytes.")
                    }
                    t.total = length
                }
                t.validator = Self.validator(h)
            case 200:
                if let old = t.validator, let new = Self.validator(h), old != new {
                    throw GlimpseError(.badRequest, "The source changed during the download (after \(Self.bytes(t.delivered, of: t.total))); it cannot be resumed.")
                }
                throw GlimpseError(
                    .unavailable,
                    "The download broke off after \(Self.bytes(t.delivered, of: t.total)) (\(t.lastInterruption ?? "the connection broke")), and the source does not support range requests, so it cannot be resumed.")
            case 206 where resuming:
                guard let range = h.first(name: "Content-Range").flatMap(Self.contentRange) else {
                    throw GlimpseError(.badRequest, "The source answered a range request without a valid Content-Range.")
                }
                guard range.start == t.delivered else {
                    throw GlimpseError(.badRequest, "The source resumed at byte \(range.start) instead of \(t.delivered).")
                }
                if let total = range.total {
                    if let known = t.total, known != total {
                        throw GlimpseError(.badRequest, "The source's length changed from \(known) to \(total) bytes during the download.")
                    }
                    t.total = total
                }
                if let old = t.validator, old.hasPrefix("\""), let new = Self.validator(h), new.hasPrefix("\""), old != new {
                    throw GlimpseError(.badRequest, "The source changed during the download; it cannot be resumed.")
                }
            case 416 where resuming:
                let actual = h.first(name: "Content-Range").flatMap(Self.unsatisfiedLength)
                if let total = t.total, let actual {
                    throw GlimpseError(.badRequest, "The source declared \(total) bytes but has \(actual) (it broke off after \(t.delivered)).")
                }
                throw GlimpseError(.badRequest, "The source refused to resume at byte \(t.delivered) (HTTP 416): its length is not what it declared.")
            case 500...599:
                return .interrupted("the source answered HTTP \(status) \(response.status.reasonPhrase)")
            default:
                throw GlimpseError(.badRequest, "The source answered HTTP \(status) \(response.status.reasonPhrase).")
            }

            while true {
                let part: HTTPClientResponsePart?
                do {
                    part = try await parts.next()
                } catch {
                    return try Self.interruption(error, readTimeout: configuration.readTimeout)
                }
                switch part {
                case nil:
                    return .interrupted("the connection closed early")
                case .head:
                    throw GlimpseError(.badRequest, "The source's answer is not valid HTTP.")
                case .body(let buffer):
                    let n = Int64(buffer.readableBytes)
                    if let total = t.total, t.delivered + n > total {
                        throw GlimpseError(.badRequest, "The source sent more than the \(total) bytes it declared.")
                    }
                    guard t.delivered + n <= limit else {
                        throw GlimpseError.tooLarge("The image at the URL is larger than the limit of \(limit) bytes.")
                    }
                    try await sink(buffer)
                    t.delivered += n
                    await progress(t.delivered)
                case .end:
                    if let total = t.total, t.delivered < total {
                        return .interrupted("the source ended its answer early")
                    }
                    // Whatever follows a complete answer on a `Connection: close` request is body
                    // the framing cut off (a Content-Length smaller than the body).
                    let closer = channel.channel.eventLoop.scheduleTask(in: grace) { [c = channel.channel] in
                        c.close(promise: nil)
                    }
                    defer { closer.cancel() }
                    do {
                        if try await parts.next() != nil {
                            throw GlimpseError(.badRequest, "The source sent more data than its Content-Length declared.")
                        }
                    } catch is HTTPParserError, is NIOHTTPDecoderError {
                        throw GlimpseError(.badRequest, "The source sent more data than its Content-Length declared.")
                    } catch let e as GlimpseError {
                        throw e
                    } catch {
                        // closed by us or by the source: nothing more came
                    }
                    return .complete
                }
            }
        }
    }
}
