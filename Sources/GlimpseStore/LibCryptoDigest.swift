import Dispatch
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// SHA-2 from the system's OpenSSL libcrypto, loaded at run time when it is there.
///
/// swift-crypto's BoringSSL runs SHA-512 with vector instructions only on Intel CPUs; on AMD it
/// takes the portable code (about 580 MB/s here, against OpenSSL's 830), which would cap every
/// upload. OpenSSL picks its SHA-512 by CPU feature, whoever made the CPU. Nothing is linked at
/// build time: without libcrypto.so.3 (or .so) the hasher keeps swift-crypto's implementation.
enum LibCrypto {
    typealias NewContext = @convention(c) () -> OpaquePointer?
    typealias FreeContext = @convention(c) (OpaquePointer?) -> Void
    typealias Algorithm = @convention(c) () -> OpaquePointer?
    typealias Init = @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?) -> Int32
    typealias Update = @convention(c) (OpaquePointer?, UnsafeRawPointer?, Int) -> Int32
    typealias Final = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt32>?) -> Int32

    struct Functions: @unchecked Sendable {
        // @unchecked: C function pointers, immutable once loaded.
        let new: NewContext
        let free: FreeContext
        let initialize: Init
        let update: Update
        let final: Final
        let algorithms: [String: Algorithm]
    }

    /// The functions, or nil when no libcrypto could be loaded (`GLIMPSE_NO_LIBCRYPTO=1` also
    /// says nil, to test the fallback).
    static let functions: Functions? = {
        #if canImport(Glibc)
        if ProcessInfo.processInfo.environment["GLIMPSE_NO_LIBCRYPTO"] == "1" { return nil }
        guard let handle = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL) ?? dlopen("libcrypto.so", RTLD_NOW | RTLD_LOCAL) else {
            return nil
        }
        func symbol<T>(_ name: String, _ type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let new = symbol("EVP_MD_CTX_new", NewContext.self), let free = symbol("EVP_MD_CTX_free", FreeContext.self),
            let initialize = symbol("EVP_DigestInit_ex", Init.self), let update = symbol("EVP_DigestUpdate", Update.self),
            let final = symbol("EVP_DigestFinal_ex", Final.self)
        else { return nil }
        var algorithms: [String: Algorithm] = [:]
        for (name, function) in [("sha512", "EVP_sha512"), ("sha384", "EVP_sha384"), ("sha256", "EVP_sha256")] {
            if let f = symbol(function, Algorithm.self) { algorithms[name] = f }
        }
        return Functions(new: new, free: free, initialize: initialize, update: update, final: final, algorithms: algorithms)
        #else
        return nil
        #endif
    }()
}

/// A multihash lane on libcrypto's EVP digest, fed on a serial queue of its own.
final class LibCryptoHashLane: MultihashLane, @unchecked Sendable {
    // @unchecked: `context` is used only by blocks on `queue`, one at a time, and by
    // `hexDigest()` after the owning `ImageHasher` has seen every block finish.
    let name: String
    let queue: DispatchQueue
    let functions: LibCrypto.Functions
    let context: OpaquePointer

    /// Nil when libcrypto is missing or lacks the algorithm.
    init?(algorithm: String, label: String) {
        guard let functions = LibCrypto.functions, let md = functions.algorithms[algorithm].flatMap({ $0() }),
            let context = functions.new()
        else { return nil }
        guard functions.initialize(context, md, nil) == 1 else {
            functions.free(context)
            return nil
        }
        self.name = algorithm
        self.queue = DispatchQueue(label: label)
        self.functions = functions
        self.context = context
    }

    deinit { functions.free(context) }

    func submit(_ buffer: ByteBuffer, then done: @escaping @Sendable (Int64) -> Void) {
        queue.async {
            buffer.withUnsafeReadableBytes { raw in
                _ = self.functions.update(self.context, raw.baseAddress, raw.count)
            }
            done(Int64(buffer.readableBytes))
        }
    }

    func hexDigest() -> String {
        var digest = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        _ = functions.final(context, &digest, &length)
        return digest.prefix(Int(length)).hexString
    }
}
