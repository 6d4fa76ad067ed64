import Crypto
import Foundation
import GlimpseStore
import NIOCore
import Testing

/// The multihash may come from the system's libcrypto (faster SHA-512 on AMD CPUs) or from
/// swift-crypto; both must give the same digests.
@Suite struct HashingTests {
    @Test(arguments: ["sha512", "sha384", "sha256"])
    func digestsMatchSwiftCrypto(algorithm: String) async throws {
        var bytes = [UInt8](repeating: 0, count: 3 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        let hasher = try ImageHasher(algorithm: algorithm)
        var offset = 0
        for size in [1, 1000, 65536, 1 << 20, 7] + Array(repeating: 300_000, count: 8) where offset < bytes.count {
            let end = min(bytes.count, offset + size)
            hasher.submit(ByteBuffer(bytes: bytes[offset..<end]))
            await hasher.waitForRoom()
            offset = end
        }
        hasher.submit(ByteBuffer(bytes: bytes[offset...]))
        let result = await hasher.finalize()
        let expected: String = switch algorithm {
        case "sha512": SHA512.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        case "sha384": SHA384.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        default: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        }
        #expect(result.algorithm == algorithm)
        #expect(result.value == expected)
        #expect(result.checksum == Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined())
        #expect(hasher.hashedBytes == (Int64(bytes.count), Int64(bytes.count)))
    }

    /// On Linux the system's libcrypto is there (the OpenSSL command and Python need it).
    @Test func systemLibCryptoIsUsedOnLinux() {
        #if os(Linux)
        if ProcessInfo.processInfo.environment["GLIMPSE_NO_LIBCRYPTO"] != "1" {
            #expect(ImageHasher.usesSystemLibCrypto)
        }
        #endif
    }
}
