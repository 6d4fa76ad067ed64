import Foundation
import GlimpseDomain
import HTTPTypes
import Hummingbird
import NIOCore

extension Response {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        var buffer = ByteBuffer()
        buffer.writeBytes(value.serializedBytes())
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    static func noContent() -> Response { Response(status: .noContent) }
}

extension Request {
    /// Refuses a body where Glance does (`body_reject`: GET and DELETE routes).
    func rejectBody() throws {
        if let length = headers[.contentLength], let n = Int(length), n > 0 {
            throw GlimpseError.badRequest("A body is not expected with this request.")
        }
        if headers[.transferEncoding] != nil {
            throw GlimpseError.badRequest("A body is not expected with this request.")
        }
    }

    /// Collects a JSON body up to `limit` bytes and parses it.
    mutating func jsonBody(limit: Int) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: limit)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw GlimpseError.tooLarge("Request body is larger than \(limit) bytes.")
        } catch is NIOTooManyBytesError {
            throw GlimpseError.tooLarge("Request body is larger than \(limit) bytes.")
        }
        guard buffer.readableBytes > 0 else { throw GlimpseError.badRequest("Malformed JSON in request body.") }
        return try JSONValue.parse(Array(buffer.readableBytesView))
    }
}

extension Parameters {
    /// A path parameter, percent-decoded.
    func decoded(_ name: String) -> String {
        let raw = get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }
}
