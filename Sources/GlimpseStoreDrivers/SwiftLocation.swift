import Foundation

/// A glance_store Swift location URI, parsed:
///
/// - `swift+http://host/auth/v1.0/<container>/<object>` (what Glimpse writes; `swift+https`, and
///   `swift` meaning https, also read): the store's own account;
/// - `swift+http://account%3Auser:key@host/auth/v1.0/<container>/<object>`: a legacy location
///   with credentials, as glance_store's single-tenant store wrote them into Glance's database;
/// - `swift+config://<reference>/<container>/<object>`: an account of the references file.
///
/// The object is the last path segment and the container the one before it (glance_store's
/// `_form_auth_or_store_url`); whatever comes before is the auth (or storage) address.
struct SwiftLocation: Equatable, Sendable {
    enum Account: Equatable, Sendable {
        /// No credentials: the store's configured account.
        case configured(address: String)
        case reference(String)
        /// `address` is a full `http(s)://` URL.
        case credentials(address: String, user: String, key: String)
    }

    var account: Account
    var container: String
    var object: String

    static let schemes = ["swift", "swift+http", "swift+https", "swift+config"]

    static func scheme(of uri: String) -> String? {
        guard let range = uri.range(of: "://") else { return nil }
        let scheme = uri[..<range.lowerBound].lowercased()
        return schemes.contains(scheme) ? scheme : nil
    }

    /// nil when `uri` is not a well-formed Swift location.
    static func parse(_ uri: String) -> SwiftLocation? {
        // glance_store refuses `swift://user:pass@http://host/...` (two schemes).
        guard let scheme = scheme(of: uri), uri.components(separatedBy: "://").count == 2,
              let range = uri.range(of: "://")
        else { return nil }
        let rest = uri[range.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = String(rest[..<slash])
        let path = rest[slash...].split(separator: "/").map(String.init)
        guard !authority.isEmpty, path.count >= 2, let object = path.last else { return nil }
        let container = path[path.count - 2]
        let addressPath = path.dropLast(2).joined(separator: "/")

        if scheme == "swift+config" {
            guard !authority.isEmpty, !authority.contains("@") else { return nil }
            return SwiftLocation(account: .reference(authority), container: container, object: object)
        }
        var credentials: (String, String)?
        if let at = authority.lastIndex(of: "@") {
            let creds = percentDecode(String(authority[..<at]))
            authority = String(authority[authority.index(after: at)...])
            // glance_store: `user, key = unquote(creds).rsplit(':', 1)`.
            guard let colon = creds.lastIndex(of: ":") else { return nil }
            credentials = (String(creds[..<colon]), String(creds[creds.index(after: colon)...]))
        }
        guard !authority.isEmpty else { return nil }
        let httpScheme = scheme == "swift+http" ? "http" : "https"
        let address = "\(httpScheme)://\(authority)" + (addressPath.isEmpty ? "" : "/" + addressPath)
        if let (user, key) = credentials {
            return SwiftLocation(account: .credentials(address: address, user: user, key: key), container: container, object: object)
        }
        return SwiftLocation(account: .configured(address: address), container: container, object: object)
    }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(s.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "%"), utf8.count >= 2,
               let hi = hexValue(utf8[utf8.startIndex]), let lo = hexValue(utf8[utf8.startIndex + 1])
            {
                bytes.append(hi << 4 | lo)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Percent-encodes one path segment (a container or object name) for a Swift request URL.
    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
