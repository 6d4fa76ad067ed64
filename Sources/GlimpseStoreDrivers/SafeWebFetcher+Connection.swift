#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

extension SafeWebFetcher {
    enum Connection {
        case open(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
        /// No allowed address answered; the text says why (worth another attempt).
        case failed(String)
    }

    /// Resolves the host once, keeps the allowed addresses, and connects to the first that
    /// answers. Throws `.badRequest` when the name does not resolve or resolves only to refused
    /// addresses.
    func connect(_ url: ImportURL) async throws -> Connection {
        let candidates: [IPAddress]
        if let literal = url.address {
            candidates = [literal]  // checked by ImportFilteringOptions.check
        } else {
            let resolved: [IPAddress]
            do {
                resolved = try await resolver(url.host)
            } catch let failure as SystemResolver.Failure where failure.temporary {
                return .failed("the name '\(url.host)' could not be resolved for now")
            } catch {
                throw GlimpseError(.badRequest, "URL refused: host '\(url.host)' could not be resolved.", underlying: error)
            }
            var allowed: [IPAddress] = []
            var refused: [IPAddress.Kind] = []
            for address in resolved.map(\.unmapped) {
                if let kind = configuration.filtering.refusal(of: address, for: url) {
                    refused.append(kind)
                } else if !allowed.contains(address) {
                    allowed.append(address)
                }
            }
            guard !allowed.isEmpty else {
                if refused.isEmpty { throw GlimpseError(.badRequest, "URL refused: host '\(url.host)' has no address.") }
                throw ImportFilteringOptions.refusedResolution(host: url.host, kinds: refused)
            }
            candidates = allowed
        }
        var reason = "could not connect to the source"
        for address in candidates {
            do {
                return .open(try await open(address, for: url))
            } catch ChannelError.connectTimeout {
                reason = "connecting to the source timed out after \(Self.seconds(configuration.connectTimeout))"
            } catch let error as IOError where error.errnoCode == ECONNREFUSED {
                reason = "the source refused the connection"
            } catch {
                reason = "could not connect to the source"
            }
        }
        return .failed(reason)
    }

    /// A TCP connection to exactly `address`, with TLS for https (SNI and certificate checked
    /// against the URL's name, or against the address for a literal), and HTTP/1.1.
    func open(_ address: IPAddress, for url: ImportURL) async throws
        -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    {
        let socketAddress = try SocketAddress(ipAddress: address.description, port: url.port)
        let (ssl, readTimeout) = (url.isHTTPS ? sslContext : nil, configuration.readTimeout)
        let serverName = url.address == nil ? url.host : nil
        return try await ClientBootstrap(group: group)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(to: socketAddress) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ReadIdleTimeoutHandler(timeout: readTimeout))
                    if let ssl {
                        try pipeline.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName))
                    }
                    try pipeline.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
    }

    /// What a transport error during an exchange means: worth another attempt (`.interrupted`),
    /// or final (thrown).
    static func interruption(_ error: any Error, readTimeout: TimeAmount) throws -> Outcome {
        switch error {
        case let e as GlimpseError:
            throw e
        case is ReadIdleTimeoutHandler.ReadIdleTimeout:
            return .interrupted("no data arrived for \(seconds(readTimeout))")
        case NIOSSLError.uncleanShutdown:
            return .interrupted("the connection closed early")
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            throw GlimpseError(
                .badRequest, "The TLS handshake with the source failed: its certificate is not trusted or not valid for the host.",
                underlying: error)
        case HTTPParserError.invalidEOFState:
            return .interrupted("the connection closed early")
        case is HTTPParserError:
            throw GlimpseError(.badRequest, "The source's answer is not valid HTTP.", underlying: error)
        case let e as IOError where e.errnoCode == ECONNRESET:
            return .interrupted("the connection was reset")
        case ChannelError.eof, ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed:
            return .interrupted("the connection closed early")
        default:
            return .interrupted("the connection failed")
        }
    }

    // MARK: headers

    /// A strong ETag, else Last-Modified: what `If-Range` may carry.
    static func validator(_ headers: HTTPHeaders) -> String? {
        if let etag = headers.first(name: "ETag"), etag.hasPrefix("\"") { return etag }
        return headers.first(name: "Last-Modified")
    }

    /// `bytes first-last/total` (total may be `*`).
    static func contentRange(_ value: String) -> (start: Int64, end: Int64, total: Int64?)? {
        let v = value.trimmingWhitespace
        guard v.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = v.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        let bounds = spec[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]), start <= end else { return nil }
        if spec[1] == "*" { return (start, end, nil) }
        guard let total = Int64(spec[1]), end < total else { return nil }
        return (start, end, total)
    }

    /// The length in a 416's `Content-Range: bytes */N`.
    static func unsatisfiedLength(_ value: String) -> Int64? {
        let v = value.trimmingWhitespace
        guard v.lowercased().hasPrefix("bytes */") else { return nil }
        return Int64(v.dropFirst(8))
    }

    static func seconds(_ t: TimeAmount) -> String {
        let ms = t.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(Double(ms) / 1000) s"
    }

    static func bytes(_ n: Int64, of total: Int64?) -> String {
        if let total { return "\(n) of \(total) bytes" }
        return "\(n) bytes"
    }
}
