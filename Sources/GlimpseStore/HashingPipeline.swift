import Crypto
import Dispatch
import GlimpseDomain
import NIOConcurrencyHelpers
import NIOCore

/// Computes the image's MD5 `checksum` and its `os_hash_value` once, as the bytes stream past
/// (DESIGN.md §4.2: hashing happens in the pipeline, never in a driver).
///
/// Each hash runs on a serial queue of its own, so on a machine with two cores MD5 and SHA-512
/// (each about as fast as one core can go) run side by side, and both beside the socket reads
/// and store writes of the upload. The caller hands over buffers with `submit(_:)` and bounds
/// what is still being hashed with `waitForRoom()`; every byte is fed to each hash exactly once,
/// in order. One task drives a hasher (submit, wait, finalize); the queues only hash.
public final class ImageHasher: Sendable {
    /// How many submitted buffers may still be hashing when `waitForRoom()` returns.
    public let maxInFlight: Int
    let md5: HashLane<Insecure.MD5>
    let multihash: any MultihashLane
    let progress = NIOLockedValueBox(Progress())

    struct Progress {
        var submitted = 0
        /// Buffers each lane has finished (MD5, then the multihash).
        var done = (0, 0)
        /// Bytes each lane has hashed.
        var hashed: (Int64, Int64) = (0, 0)
        var waiter: (target: Int, continuation: CheckedContinuation<Void, Never>)?
        var finished: Int { min(done.0, done.1) }
    }

    /// Whether SHA-2 comes from the system's libcrypto (`LibCryptoHashLane`) rather than
    /// swift-crypto.
    public static var usesSystemLibCrypto: Bool { LibCrypto.functions != nil }

    /// Throws for a `hashing_algorithm` Glimpse does not support (hashlib names, as in Glance).
    public init(algorithm: String = "sha512", maxInFlight: Int = 1) throws {
        self.maxInFlight = max(0, maxInFlight)
        md5 = HashLane(label: "glimpse.hash.md5")
        if let fast = LibCryptoHashLane(algorithm: algorithm, label: "glimpse.hash.\(algorithm)") {
            multihash = fast
            return
        }
        switch algorithm {
        case "sha512": multihash = HashLane<SHA512>(label: "glimpse.hash.sha512", name: algorithm)
        case "sha384": multihash = HashLane<SHA384>(label: "glimpse.hash.sha384", name: algorithm)
        case "sha256": multihash = HashLane<SHA256>(label: "glimpse.hash.sha256", name: algorithm)
        default: throw GlimpseError(.internal, "Unsupported hashing_algorithm '\(algorithm)'.")
        }
    }

    /// Hands `buffer` to both hashes and returns at once; the buffer is kept (not copied) until
    /// both have read it.
    public func submit(_ buffer: ByteBuffer) {
        progress.withLockedValue { $0.submitted += 1 }
        md5.submit(buffer) { [progress] n in Self.laneFinished(progress) { $0.done.0 += 1; $0.hashed.0 += n } }
        multihash.submit(buffer) { [progress] n in Self.laneFinished(progress) { $0.done.1 += 1; $0.hashed.1 += n } }
    }

    /// Returns once at most `maxInFlight` submitted buffers are still being hashed.
    public func waitForRoom() async {
        await wait(untilFinished: progress.withLockedValue { $0.submitted } - maxInFlight)
    }

    /// Waits for every submitted buffer, then returns the MD5 hex digest, the multihash
    /// algorithm's name and its hex digest.
    public func finalize() async -> (checksum: String, algorithm: String, value: String) {
        await drain()
        // Every block the queues ran happened before its completion was recorded under the lock
        // the wait above read, so the hash states are settled and nothing touches them any more.
        return (md5.hexDigest(), multihash.name, multihash.hexDigest())
    }

    /// Submitted buffers that a hash has not finished yet.
    public var buffersInFlight: Int {
        progress.withLockedValue { $0.submitted - $0.finished }
    }

    /// Waits until every submitted buffer is hashed (a failed upload calls it so that no work of
    /// the request outlives it).
    public func drain() async {
        await wait(untilFinished: progress.withLockedValue { $0.submitted })
    }

    /// Bytes each hash has consumed so far: (MD5, multihash). Both equal the image size after
    /// `finalize()` (the regression guard checks that every byte is hashed once by each).
    public var hashedBytes: (md5: Int64, multihash: Int64) {
        progress.withLockedValue { ($0.hashed.0, $0.hashed.1) }
    }

    func wait(untilFinished target: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = progress.withLockedValue { p -> Bool in
                if p.finished >= target { return true }
                precondition(p.waiter == nil, "one task drives an ImageHasher")
                p.waiter = (target, continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    static func laneFinished(_ progress: NIOLockedValueBox<Progress>, _ record: (inout Progress) -> Void) {
        let resume = progress.withLockedValue { p -> CheckedContinuation<Void, Never>? in
            record(&p)
            guard let w = p.waiter, p.finished >= w.target else { return nil }
            p.waiter = nil
            return w.continuation
        }
        resume?.resume()
    }
}

/// The multihash lane, whichever SHA-2 function `hashing_algorithm` names.
protocol MultihashLane: Sendable {
    var name: String { get }
    /// Hashes `buffer` after everything submitted before it, then calls `done` with its length.
    func submit(_ buffer: ByteBuffer, then done: @escaping @Sendable (Int64) -> Void)
    func hexDigest() -> String
}

/// One hash function fed on a serial queue of its own.
final class HashLane<H: HashFunction>: MultihashLane, @unchecked Sendable {
    // @unchecked: `function` is written only by blocks on `queue`, one at a time;
    // the owning `ImageHasher` reads them only after the lock it shares with those blocks shows
    // that every submitted block has finished.
    let queue: DispatchQueue
    let name: String
    var function = H()

    init(label: String, name: String = "") {
        queue = DispatchQueue(label: label)
        self.name = name
    }

    func submit(_ buffer: ByteBuffer, then done: @escaping @Sendable (Int64) -> Void) {
        queue.async {
            buffer.withUnsafeReadableBytes { self.function.update(bufferPointer: $0) }
            done(Int64(buffer.readableBytes))
        }
    }

    func hexDigest() -> String { function.finalize().hexString }
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
