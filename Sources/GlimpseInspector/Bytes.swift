/// Bounds-checked reads of big- and little-endian integers from captured header bytes.
/// Every accessor returns nil when the field lies (partly) outside the captured bytes, so a
/// truncated or hostile header can never trap.
extension Array where Element == UInt8 {
    func uint(at offset: Int, width: Int, bigEndian: Bool) -> UInt64? {
        guard offset >= 0, width <= 8, offset <= count - width else { return nil }
        var v: UInt64 = 0
        if bigEndian {
            for i in 0..<width { v = v << 8 | UInt64(self[offset + i]) }
        } else {
            for i in stride(from: width - 1, through: 0, by: -1) { v = v << 8 | UInt64(self[offset + i]) }
        }
        return v
    }

    func be16(_ o: Int) -> UInt64? { uint(at: o, width: 2, bigEndian: true) }
    func be32(_ o: Int) -> UInt64? { uint(at: o, width: 4, bigEndian: true) }
    func be64(_ o: Int) -> UInt64? { uint(at: o, width: 8, bigEndian: true) }
    func le16(_ o: Int) -> UInt64? { uint(at: o, width: 2, bigEndian: false) }
    func le32(_ o: Int) -> UInt64? { uint(at: o, width: 4, bigEndian: false) }
    func le64(_ o: Int) -> UInt64? { uint(at: o, width: 8, bigEndian: false) }

    /// Whether `bytes` occur at `offset`.
    func has(_ bytes: [UInt8], at offset: Int = 0) -> Bool {
        guard offset >= 0, offset <= count - bytes.count else { return false }
        for i in 0..<bytes.count where self[offset + i] != bytes[i] { return false }
        return true
    }

    func has(_ ascii: StaticString, at offset: Int = 0) -> Bool {
        has(ascii.withUTF8Buffer { Array($0) }, at: offset)
    }

    /// The bytes in `offset ..< offset + length`, or nil when they were not all captured.
    func slice(_ offset: Int, _ length: Int) -> [UInt8]? {
        guard offset >= 0, length >= 0, offset <= count - length else { return nil }
        return Array(self[offset..<(offset + length)])
    }
}

/// A byte that may appear in a text (descriptor) file: printable ASCII or whitespace.
@inline(__always) func isTextByte(_ b: UInt8) -> Bool {
    (b >= 0x20 && b < 0x7F) || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
}

/// A size field (bytes) as Int64, or nil when it does not fit (the overflow check fails).
func signedSize(_ v: UInt64) -> Int64? { v <= UInt64(Int64.max) ? Int64(v) : nil }

/// `count × unit` as Int64, or nil on overflow.
func multiplied(_ count: UInt64, _ unit: UInt64) -> Int64? {
    let (p, overflow) = count.multipliedReportingOverflow(by: unit)
    return overflow ? nil : signedSize(p)
}
