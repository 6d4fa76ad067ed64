import Crypto
import GlimpseDomain
import NIOCore

/// Computes the image's MD5 `checksum` and its `os_hash_value` once, as the bytes stream past
/// (DESIGN.md §4.2: hashing happens in the pipeline, never in a driver).
public struct ImageHasher: Sendable {
    var md5 = Insecure.MD5()
    var multihash: Multihash
    public private(set) var byteCount: Int64 = 0

    public init(algorithm: String = "sha512") throws {
        multihash = try Multihash(algorithm)
    }

    public mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { raw in
            md5.update(bufferPointer: raw)
            multihash.update(raw)
        }
        byteCount += Int64(buffer.readableBytes)
    }

    public func finalize() -> (checksum: String, algorithm: String, value: String) {
        (md5.finalize().hexString, multihash.name, multihash.finalize())
    }

    /// The `hashing_algorithm` values Glimpse supports (hashlib names, as in Glance).
    enum Multihash: Sendable {
        case sha512(SHA512), sha384(SHA384), sha256(SHA256)

        init(_ name: String) throws {
            switch name {
            case "sha512": self = .sha512(SHA512())
            case "sha384": self = .sha384(SHA384())
            case "sha256": self = .sha256(SHA256())
            default: throw GlimpseError(.internal, "Unsupported hashing_algorithm '\(name)'.")
            }
        }

        var name: String {
            switch self {
            case .sha512: "sha512"
            case .sha384: "sha384"
            case .sha256: "sha256"
            }
        }

        mutating func update(_ raw: UnsafeRawBufferPointer) {
            switch self {
            case .sha512(var h): h.update(bufferPointer: raw); self = .sha512(h)
            case .sha384(var h): h.update(bufferPointer: raw); self = .sha384(h)
            case .sha256(var h): h.update(bufferPointer: raw); self = .sha256(h)
            }
        }

        func finalize() -> String {
            switch self {
            case .sha512(let h): h.finalize().hexString
            case .sha384(let h): h.finalize().hexString
            case .sha256(let h): h.finalize().hexString
            }
        }
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
