/// A store section of the configuration, read by glance_store's option names.
///
/// In single-store mode this is `[glance_store]`; with `enabled_backends` each store reads its
/// own section (`[swift1]`, `[s3]`, …). Drivers build their configuration from it and throw
/// `StoreConfigurationError` for a value an operator must fix; the service then refuses to start.
public struct StoreOptions: Sendable {
    public let section: String
    let values: [String: String]

    public init(section: String, values: [String: String]) {
        self.section = section
        self.values = values
    }

    public subscript(_ key: String) -> String? {
        guard let v = values[key]?.trimmingWhitespace, !v.isEmpty else { return nil }
        return v
    }

    public func string(_ key: String, default fallback: String) -> String { self[key] ?? fallback }

    public func required(_ key: String) throws -> String {
        guard let v = self[key] else { throw StoreConfigurationError("[\(section)] \(key) is required") }
        return v
    }

    public func int(_ key: String, default fallback: Int) throws -> Int {
        guard let s = self[key] else { return fallback }
        guard let i = Int(s) else { throw StoreConfigurationError("[\(section)] \(key) must be an integer, not '\(s)'") }
        return i
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let s = self[key]?.lowercased() else { return fallback }
        switch s {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw StoreConfigurationError("[\(section)] \(key) must be true or false, not '\(s)'")
        }
    }
}

/// A store option an operator must fix; the message names the section and option, never a secret.
public struct StoreConfigurationError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    public var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
