import AsyncHTTPClient
import GlimpseDomain
import GlimpseStore
import NIOCore
import NIOHTTP1

/// glance_store's read-only `http` driver: image data that lives at an external
/// `http://` or `https://` URL (v1 `x-image-meta-location`, `x-glance-api-copy-from`).
///
/// Reads stream the response body chunk by chunk, ask for byte ranges with `Range`, follow
/// redirects (a bounded number), and give up after the connect and read timeouts of the
/// client it is given. It cannot be written to, and deleting a location leaves the remote
/// data alone, as glance_store does.
public struct HTTPBlobStore: BlobStore {
    public let id: String
    public let capabilities = BlobStoreCapabilities(readOnly: true, randomAccess: true, thinProvisioning: false)
    let client: HTTPClient
    /// The whole-request deadline: long enough for any image, short enough that nothing hangs forever.
    let deadline: TimeAmount

    public init(id: String = "http", client: HTTPClient, deadline: TimeAmount = .hours(24)) {
        self.id = id
        self.client = client
        self.deadline = deadline
    }

    /// The client configuration the store expects: redirects followed (at most 5, no cycles),
    /// connect and read timeouts.
    public static func clientConfiguration(connectTimeout: TimeAmount = .seconds(10), readTimeout: TimeAmount = .seconds(60))
        -> HTTPClient.Configuration
    {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(connect: connectTimeout, read: readTimeout))
        configuration.decompression = .disabled
        return configuration
    }

    public func handles(location: String) -> Bool {
        let lower = location.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    public func makeWriter(imageID: String, expectedSize: Int64?) async throws -> any BlobWriter {
        throw GlimpseError(.forbidden, "The http store is read-only; image data cannot be uploaded to it.")
    }

    public func read(location: String, range: Range<Int64>?, into sink: (ByteBuffer) async throws -> Void) async throws {
        guard handles(location: location) else { throw GlimpseError.notFound("Image data not found.") }
        var request = HTTPClientRequest(url: location)
        request.method = .GET
        if let range {
            if range.isEmpty { return }
            request.headers.add(name: "Range", value: "bytes=\(range.lowerBound)-\(range.upperBound - 1)")
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: deadline)
        } catch {
            throw Self.mapError(error)
        }
        try Self.check(response.status)
        // A server that ignores Range answers 200 with everything: cut the range out ourselves.
        var window = BodyWindow(skip: 0, remaining: .max)
        if let range {
            window = BodyWindow(skip: response.status == .ok ? range.lowerBound : 0, remaining: range.upperBound - range.lowerBound)
        }
        do {
            for try await chunk in response.body {
                let wanted = window.take(chunk)
                if wanted.readableBytes > 0 { try await sink(wanted) }
                if window.remaining == 0 { return }
            }
        } catch let error as GlimpseError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.mapError(error)
        }
        if let range, window.remaining > 0, range.upperBound != Int64.max {
            throw GlimpseError(.unavailable, "The HTTP source ended before the requested range was complete.")
        }
    }

    public func size(location: String) async throws -> Int64 {
        guard handles(location: location) else { throw GlimpseError.notFound("Image data not found.") }
        var request = HTTPClientRequest(url: location)
        request.method = .HEAD
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60))
        } catch {
            throw Self.mapError(error)
        }
        try Self.check(response.status)
        guard let text = response.headers.first(name: "Content-Length"), let size = Int64(text), size >= 0 else {
            throw GlimpseError(.badRequest, "The HTTP source does not report the size of its data (no Content-Length).")
        }
        return size
    }

    /// Nothing to do: the data is not ours to delete.
    public func delete(location: String) async throws {}

    static func check(_ status: HTTPResponseStatus) throws {
        switch status.code {
        case 200, 206: return
        case 404, 410: throw GlimpseError.notFound("The HTTP source has no data at that address (\(status.code)).")
        case 401, 403: throw GlimpseError(.forbidden, "The HTTP source refused access (\(status.code)).")
        case 416: throw GlimpseError(.rangeNotSatisfiable, "The HTTP source cannot serve that byte range.")
        default: throw GlimpseError(.unavailable, "The HTTP source answered \(status.code).")
        }
    }

    /// Connection-level failures are the source being unavailable; the cause goes to the log only.
    static func mapError(_ error: any Error) -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        if let e = error as? HTTPClientError {
            if [.invalidURL, .emptyHost, .emptyScheme, .missingSocketPath].contains(e) {
                return GlimpseError(.badRequest, "The HTTP source URL is not valid.", underlying: error)
            }
            if [.redirectLimitReached, .redirectCycleDetected].contains(e) {
                return GlimpseError(.badRequest, "The HTTP source redirects too often.", underlying: error)
            }
            if [.readTimeout, .connectTimeout, .deadlineExceeded].contains(e) {
                return GlimpseError(.unavailable, "The HTTP source timed out.", underlying: error)
            }
        }
        return GlimpseError(.unavailable, "The HTTP source could not be reached.", underlying: error)
    }
}
