#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import GlimpseStore
import NIOPosix

/// `getaddrinfo` on NIO's blocking-I/O thread pool: the system's view of a name (/etc/hosts,
/// DNS, …), as every address it returns, for `SafeWebFetcher` to check before connecting.
enum SystemResolver {
    struct Failure: Error {
        /// EAI_AGAIN and the like: another attempt may succeed.
        let temporary: Bool
        let code: Int32
    }

    static func resolve(_ host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Darwin)
            hints.ai_socktype = SOCK_STREAM
            #else
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #endif
            hints.ai_protocol = Int32(IPPROTO_TCP)
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, nil, &hints, &list)
            guard rc == 0 else { throw Failure(temporary: rc == EAI_AGAIN, code: rc) }
            defer { freeaddrinfo(list) }
            var out: [IPAddress] = []
            var next = list
            while let entry = next {
                // Read by offset (sockaddr_in: address at 4; sockaddr_in6: at 8, on Linux and
                // the BSDs alike) rather than through the C structs, whose owning module varies.
                if let sa = entry.pointee.ai_addr {
                    let raw = UnsafeRawPointer(sa)
                    switch entry.pointee.ai_family {
                    case AF_INET:
                        out.append(.v4((0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(raw.load(fromByteOffset: 4 + $1, as: UInt8.self)) }))
                    case AF_INET6:
                        out.append(.v6((0..<16).map { raw.load(fromByteOffset: 8 + $0, as: UInt8.self) }))
                    default:
                        break
                    }
                }
                next = entry.pointee.ai_next
            }
            return out
        }
    }
}
