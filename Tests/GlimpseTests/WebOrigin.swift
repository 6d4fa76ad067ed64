import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A deliberately misbehaving HTTP/1.1 origin for web-download tests, on raw SwiftNIO so that it
/// can lie about lengths and drop connections mid-body. It serves `data` (300 000 bytes) at
/// every path below; query flags change how:
///
/// - `/file`: 200 with Content-Length, `Accept-Ranges: bytes`, a strong ETag; `Range: bytes=N-`
///   gives a 206 (unless `If-Range` does not match the ETag, then a 200).
/// - `?drop=N`: each connection stops (closes) after N body bytes.  `?throttle=1`: 16 KiB writes
///   with 1 ms pauses.  `?ranges=0`: ignores Range (always 200).  `?advertise=0`: no Accept-Ranges.
/// - `?stall=N`: the first connection sends N bytes then goes silent (never closes).
/// - `?lie=+K` / `?lie=-K`: Content-Length is K more / fewer than the bytes sent (then closes).
/// - `?chunked=1`: chunked encoding (a drop leaves the last chunk unfinished).
/// - `?nolength=1`: no Content-Length, the body ends at close.
/// - `?changing=1`: the ETag changes with every request.
/// - `/chain/N`: N redirects, then `/file`.  `/to/<anything>`: a 302 to `<anything>`.
/// - `/status/C`: answers status C.
final class WebOrigin: Sendable {
    static let data: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        var seed = generator.next() as UInt64
        return (0..<300_000).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
    }()

    struct Request: Sendable {
        var target: String
        var headers: [String: String]
    }

    let requests = NIOLockedValueBox<[Request]>([])
    let connections = NIOLockedValueBox(0)
    let port: Int
    let host: String
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    private init(server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, host: String) {
        self.server = server
        self.host = host
        self.port = server.channel.localAddress!.port!
    }

    var base: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    /// Runs `body` with an origin listening on `host` (a free port), TLS if `tls` is given.
    static func with<T: Sendable>(
        host: String = "127.0.0.1", tls: NIOSSLContext? = nil, _ body: @Sendable (WebOrigin) async throws -> T
    ) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let origin = WebOrigin(server: server, host: host)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { handlers in
                        for try await connection in connections {
                            handlers.addTask { try? await origin.serve(connection) }
                        }
                    }
                }
            }
            defer {
                server.channel.close(promise: nil)
                group.cancelAll()
            }
            return try await body(origin)
        }
    }

    var requestCount: Int { requests.withLockedValue { $0.count } }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        let connectionNumber = connections.withLockedValue { $0 += 1; return $0 }
        try await connection.executeThenClose { inbound, outbound in
            var received = ByteBuffer()
            for try await chunk in inbound {
                received.writeImmutableBuffer(chunk)
                if String(buffer: received).contains("\r\n\r\n") { break }
            }
            let text = String(buffer: received)
            let lines = text.components(separatedBy: "\r\n")
            let target = lines[0].split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let requestNumber = requests.withLockedValue { $0.append(Request(target: target, headers: headers)); return $0.count }
            try await respond(target: target, headers: headers, request: requestNumber, connection: connectionNumber, outbound)
        }
    }

    private func respond(
        target: String, headers: [String: String], request: Int, connection: Int, _ out: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws {
        let (path, query) = Self.split(target)
        func head(_ status: String, _ fields: [(String, String)]) async throws {
            var text = "HTTP/1.1 \(status)\r\nConnection: close\r\n"
            for (k, v) in fields { text += "\(k): \(v)\r\n" }
            try await out.write(ByteBuffer(string: text + "\r\n"))
        }
        if path.hasPrefix("/to/") {
            return try await head("302 Found", [("Location", String(target.dropFirst(4))), ("Content-Length", "0")])
        }
        if path.hasPrefix("/chain/"), let n = Int(path.dropFirst(7)) {
            let next = n > 0 ? "/chain/\(n - 1)" : "/file"
            return try await head("302 Found", [("Location", next), ("Content-Length", "0")])
        }
        if path.hasPrefix("/status/") {
            return try await head("\(path.dropFirst(8)) Whatever", [("Content-Length", "0")])
        }
        let data = Self.data
        let ranges = query["ranges"] != "0"
        let etag = query["changing"] == "1" ? "\"v\(request)\"" : "\"v1\""
        var start = 0
        var fields: [(String, String)] = [("ETag", etag)]
        if ranges, query["advertise"] != "0" { fields.append(("Accept-Ranges", "bytes")) }
        var status = "200 OK"
        if ranges, let range = headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
           let from = Int(range.dropFirst(6).dropLast()), headers["if-range"].map({ $0 == etag }) ?? true
        {
            guard from < data.count else {
                return try await head("416 Range Not Satisfiable", [("Content-Range", "bytes */\(data.count)"), ("Content-Length", "0")])
            }
            start = from
            status = "206 Partial Content"
            fields.append(("Content-Range", "bytes \(from)-\(data.count - 1)/\(data.count)"))
        }
        var body = data[start...]
        let chunked = query["chunked"] == "1"
        if chunked {
            fields.append(("Transfer-Encoding", "chunked"))
        } else if query["nolength"] != "1" {
            var length = body.count
            if let lie = query["lie"], let k = Int(lie) { length += k }
            fields.append(("Content-Length", "\(length)"))
        }
        try await head(status, fields)
        var limit = body.count
        if let drop = query["drop"].flatMap(Int.init) { limit = min(limit, drop) }
        var stall = false
        if connection == 1, let s = query["stall"].flatMap(Int.init) { limit = min(limit, s); stall = true }
        if query["lie"].flatMap(Int.init).map({ $0 < 0 }) == true { limit = body.count }
        body = body.prefix(limit)
        let piece = query["throttle"] == "1" ? 16 * 1024 : 64 * 1024
        while !body.isEmpty {
            let part = body.prefix(piece)
            body = body.dropFirst(part.count)
            var buffer = ByteBuffer()
            if chunked { buffer.writeString(String(part.count, radix: 16) + "\r\n") }
            buffer.writeBytes(part)
            if chunked { buffer.writeString("\r\n") }
            try await out.write(buffer)
            if query["throttle"] == "1" { try await Task.sleep(nanoseconds: 1_000_000) }
        }
        if stall { try await Task.sleep(nanoseconds: 60_000_000_000) }
        if chunked, limit == data.count - start { try await out.write(ByteBuffer(string: "0\r\n\r\n")) }
    }

    static func split(_ target: String) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            query[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        return (String(target[..<q]), query)
    }
}
