import Crypto
import NIOCore

/// AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 …`), written from
/// AWS's specification. Pure: no clock, no I/O. Checked against AWS's published vectors (the
/// SigV4 test suite and the S3 API reference examples) in `S3SigV4Tests`.
///
/// The steps, as the specification names them:
/// 1. the *canonical request*: method, canonical URI, canonical query string, canonical headers,
///    signed header names, and the payload hash (hex SHA-256 of the body, or one of the literals
///    `UNSIGNED-PAYLOAD` / `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`), joined by newlines;
/// 2. the *string to sign*: the algorithm, the request time, the credential scope
///    (`date/region/service/aws4_request`) and the hex SHA-256 of the canonical request;
/// 3. the *signing key*: HMAC-SHA256 chained over the date, region, service and
///    `aws4_request`, starting from `"AWS4" + secret key`;
/// 4. the *signature*: hex HMAC-SHA256 of the string to sign under the signing key.
///
/// Paths are given decoded and are URI-encoded once, as S3 requires (other services
/// double-encode an already-encoded path; S3 does not). The secret key never leaves the signer.
public struct SigV4Signer: Sendable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    /// Hex SHA-256 of nothing: the payload hash of a request without a body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let accessKey: String
    private let secretKey: String
    public let region: String
    public let service: String

    public init(accessKey: String, secretKey: String, region: String, service: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// A request as the signer sees it.
    public struct Request: Sendable {
        public var method: String
        /// The decoded path, starting with `/` (`/bucket/my key`); encoded once while signing.
        public var path: String
        /// Decoded query parameters, in any order.
        public var query: [(name: String, value: String)]
        /// Every header to sign, `Host` included. Names in any case; repeated names are joined
        /// with commas in the order given.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, or `unsignedPayload` / `streamingPayload`.
        public var payloadHash: String

        public init(
            method: String, path: String, query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)], payloadHash: String
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// Everything one signing produced; the intermediate strings are there for tests.
    public struct Signed: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signedHeaders: String
        public var signature: String
        public var authorization: String
        public var amzDate: String
        public var scope: String
        /// Needed to sign the chunks of a streamed (`aws-chunked`) body.
        public var signingKey: SymmetricKey
    }

    /// Signs `request` as made at `amzDate` (`YYYYMMDD'T'HHMMSS'Z'`, see `AmzDate`).
    public func sign(_ request: Request, amzDate: String) -> Signed {
        let canonical = Self.canonicalHeaders(request.headers)
        let canonicalRequest = [
            request.method.uppercased(),
            Self.canonicalURI(request.path),
            Self.canonicalQuery(request.query),
            canonical.block,
            canonical.signed,
            request.payloadHash,
        ].joined(separator: "\n")
        let scope = self.scope(amzDate: amzDate)
        let stringToSign = [
            Self.algorithm, amzDate, scope, Self.hexSHA256(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        let key = signingKey(date: String(amzDate.prefix(8)))
        let signature = Self.hexHMAC(key, stringToSign)
        let authorization =
            "\(Self.algorithm) Credential=\(accessKey)/\(scope), SignedHeaders=\(canonical.signed), Signature=\(signature)"
        return Signed(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signedHeaders: canonical.signed,
            signature: signature, authorization: authorization, amzDate: amzDate, scope: scope, signingKey: key)
    }

    /// `date/region/service/aws4_request`.
    public func scope(amzDate: String) -> String {
        "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
    }

    /// HMAC chain: kDate = HMAC("AWS4" + secret, date), kRegion, kService, kSigning.
    public func signingKey(date: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secretKey)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    // MARK: canonical forms

    /// Each path segment URI-encoded once; slashes kept; an empty path is `/`.
    public static func canonicalURI(_ path: String) -> String {
        path.isEmpty ? "/" : uriEncode(path, encodeSlash: false)
    }

    /// Names and values URI-encoded (slashes too), sorted by encoded name then value,
    /// `name=value` joined with `&`; a parameter without a value is `name=`.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (uriEncode($0.name, encodeSlash: true), uriEncode($0.value, encodeSlash: true)) }
            .sorted { $0.0 == $1.0 ? Array($0.1.utf8).lexicographicallyPrecedes($1.1.utf8) : Array($0.0.utf8).lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Lower-cased names sorted; values trimmed with inner runs of whitespace (folded lines
    /// included) squeezed to one space; repeated names joined with commas. Returns the block
    /// (each `name:value` followed by a newline) and the `;`-joined signed header names.
    public static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (block: String, signed: String) {
        var byName: [String: [String]] = [:]
        var order: [String] = []
        for (name, value) in headers {
            let n = name.lowercased()
            if byName[n] == nil { order.append(n) }
            byName[n, default: []].append(squeezeWhitespace(value))
        }
        let names = order.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
        var block = ""
        for n in names { block += "\(n):\(byName[n]!.joined(separator: ","))\n" }
        return (block, names.joined(separator: ";"))
    }

    static func squeezeWhitespace(_ value: String) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 3986 encoding as SigV4 defines it: every byte of the UTF-8 form except the unreserved
    /// `A-Z a-z 0-9 - . _ ~` becomes `%XX` (upper-case hex); `/` is kept when `encodeSlash` is false.
    public static func uriEncode(_ string: String, encodeSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(byte >> 4)])
                out.append(upperHex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: hashing helpers

    private static let upperHex = Array("0123456789ABCDEF".utf8)
    private static let lowerHex = Array("0123456789abcdef".utf8)

    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            out.append(lowerHex[Int(b >> 4)])
            out.append(lowerHex[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func hexSHA256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    public static func hexSHA256(_ buffer: ByteBuffer) -> String {
        var hasher = SHA256()
        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        return hex(hasher.finalize())
    }

    static func hexHMAC(_ key: SymmetricKey, _ message: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key))
    }
}

/// The `aws-chunked` body of a request signed with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the
/// payload goes as chunks, each `hex(size);chunk-signature=<sig>\r\n<data>\r\n`, ending with a
/// zero-length chunk. Each chunk's signature chains from the previous one (the first from the
/// request's own signature, the *seed*) over the string to sign
/// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<SHA-256 of "">\n<SHA-256 of chunk>`.
public struct AWSChunkSigner: Sendable {
    public static let payloadAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
    /// Signature lines are `;chunk-signature=` + 64 hex digits.
    static let signatureExtensionLength = ";chunk-signature=".utf8.count + 64

    let signingKey: SymmetricKey
    let amzDate: String
    let scope: String
    public private(set) var previousSignature: String

    public init(seed: SigV4Signer.Signed) {
        self.init(signingKey: seed.signingKey, amzDate: seed.amzDate, scope: seed.scope, seedSignature: seed.signature)
    }

    public init(signingKey: SymmetricKey, amzDate: String, scope: String, seedSignature: String) {
        self.signingKey = signingKey
        self.amzDate = amzDate
        self.scope = scope
        self.previousSignature = seedSignature
    }

    /// The signature of the next chunk (an empty one ends the body); advances the chain.
    public mutating func signNext(_ chunk: ByteBuffer) -> String {
        let stringToSign = [
            Self.payloadAlgorithm, amzDate, scope, previousSignature, SigV4Signer.emptyPayloadHash,
            SigV4Signer.hexSHA256(chunk),
        ].joined(separator: "\n")
        previousSignature = SigV4Signer.hexHMAC(signingKey, stringToSign)
        return previousSignature
    }

    /// Appends the next chunk, framed and signed, to `out`.
    public mutating func frame(_ chunk: ByteBuffer, into out: inout ByteBuffer) {
        let signature = signNext(chunk)
        out.writeString(String(chunk.readableBytes, radix: 16))
        out.writeString(";chunk-signature=")
        out.writeString(signature)
        out.writeString("\r\n")
        var data = chunk
        out.writeBuffer(&data)
        out.writeString("\r\n")
    }

    /// Bytes of one framed chunk carrying `size` payload bytes.
    public static func framedLength(_ size: Int) -> Int64 {
        Int64(String(size, radix: 16).utf8.count + signatureExtensionLength + 2 + size + 2)
    }

    /// The `Content-Length` of an `aws-chunked` body carrying `decodedLength` bytes in chunks of
    /// `chunkSize` (the last one shorter), the final empty chunk included.
    public static func encodedLength(decodedLength: Int64, chunkSize: Int) -> Int64 {
        let full = decodedLength / Int64(chunkSize)
        let rest = Int(decodedLength % Int64(chunkSize))
        return full * framedLength(chunkSize) + (rest > 0 ? framedLength(rest) : 0) + framedLength(0)
    }
}

/// SigV4's timestamp form, `YYYYMMDD'T'HHMMSS'Z'`, in UTC.
public enum AmzDate {
    public static func string(epochSeconds: Int64) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400
        let secondsOfDay = epochSeconds - days * 86400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let y = String(year)
        let paddedYear = String(repeating: "0", count: max(0, 4 - y.count)) + y
        return "\(paddedYear)\(two(month))\(two(day))T\(two(secondsOfDay / 3600))\(two(secondsOfDay % 3600 / 60))\(two(secondsOfDay % 60))Z"
    }
}
