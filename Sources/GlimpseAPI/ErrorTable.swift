import GlimpseDomain
import HTTPTypes
import Hummingbird
import NIOCore

/// The one place error codes become HTTP (DESIGN.md §4.6), with Glance's error bodies: webob's
/// HTML page by default, or `{"message", "code", "title"}` when the client accepts JSON.
public enum ErrorTable {
    public static func status(for code: GlimpseError.Code) -> HTTPResponse.Status {
        switch code {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .conflict: .conflict
        case .gone: .gone
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .rangeNotSatisfiable: .rangeNotSatisfiable
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    /// Translates anything thrown below the API into a `GlimpseError` whose message is safe to show.
    public static func glimpseError(from error: any Error) -> GlimpseError {
        if let e = error as? GlimpseError { return e }
        if let e = error as? HTTPError {
            switch e.status {
            case .notFound: return GlimpseError(.notFound, "The resource could not be found.", underlying: error)
            case .contentTooLarge: return GlimpseError(.payloadTooLarge, "Request body is too large.", underlying: error)
            case .badRequest: return GlimpseError(.badRequest, e.body ?? "Bad request.", underlying: error)
            default:
                return GlimpseError(e.status.code >= 500 ? .internal : .badRequest, e.status.reasonPhrase, underlying: error)
            }
        }
        return GlimpseError(.internal, "The server has either erred or is incapable of performing the requested operation.",
                            underlying: error)
    }

    public static func response(for error: GlimpseError, request: Request, extraHeaders: HTTPFields = [:]) -> Response {
        let status = status(for: error.code)
        let title = status.reasonPhrase
        let codeLine = "\(status.code) \(title)"
        let wantsJSON = request.headers[.accept]?.contains("application/json") ?? false
        var headers = extraHeaders
        let body: String
        if wantsJSON {
            headers[.contentType] = "application/json"
            body = JSONValue.object(JSONObject([
                ("message", .string(error.message + "<br /><br />\n\n\n")), ("code", .string(codeLine)), ("title", .string(title)),
            ])).serialized()
        } else {
            headers[.contentType] = "text/html; charset=UTF-8"
            body = """
                <html>
                 <head>
                  <title>\(codeLine)</title>
                 </head>
                 <body>
                  <h1>\(codeLine)</h1>
                  \(htmlEscape(error.message))<br /><br />



                 </body>
                </html>
                """
        }
        if request.method == .head {
            return Response(status: status, headers: headers, body: .init())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
