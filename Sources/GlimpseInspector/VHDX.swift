/// Why a structure could not be read (becomes a failed check's reason).
struct Problem: Error { let reason: String }

/// Microsoft VHDX: "vhdxfile" at 0, region tables at 192 KiB, a metadata region holding the
/// virtual disk size (MS-VHDX §2.2–2.6; qemu `block/vhdx.c`).
enum VHDX {
    static let regionTableOffset: Int64 = 192 * 1024
    static let tableLength = 64 * 1024
    static let maxEntries: UInt64 = 2047
    static let metadataRegion = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
    static let virtualDiskSize = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
    static let parentLocator = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")

    /// A GUID in its on-disk form: the first three fields little-endian, the rest as written.
    static func guid(_ text: String) -> [UInt8] {
        let hex = text.filter { $0 != "-" }
        var b: [UInt8] = stride(from: 0, to: 32, by: 2).map { i in
            let s = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)!
        }
        b[0..<4].reverse()
        b[4..<6].reverse()
        b[6..<8].reverse()
        return b
    }

    /// The metadata region's file offset, from the region table.
    static func metadataOffset(regionTable t: [UInt8]) -> Result<UInt64, Problem> {
        guard t.le32(0) == 0x6967_6572 else { return .failure(Problem(reason: "the region table signature is missing")) }
        guard let count = t.le32(8), count <= maxEntries else {
            return .failure(Problem(reason: "the region table has too many entries"))
        }
        for i in 0..<Int(count) {
            let e = 16 + i * 32
            guard t.count >= e + 32 else { break }
            if t.has(metadataRegion, at: e), let offset = t.le64(e + 16) { return .success(offset) }
        }
        return .failure(Problem(reason: "the metadata region is missing"))
    }

    /// The metadata table's entries (GUID, item offset relative to the region), or why not.
    static func entries(metadata m: [UInt8]) -> Result<[([UInt8], UInt64)], Problem> {
        guard m.has("metadata") else { return .failure(Problem(reason: "the metadata table signature is missing")) }
        guard let count = m.le16(10), count <= maxEntries else {
            return .failure(Problem(reason: "the metadata table has too many entries"))
        }
        var out: [([UInt8], UInt64)] = []
        for i in 0..<Int(count) {
            let e = 32 + i * 32
            guard let guid = m.slice(e, 16), let offset = m.le32(e + 16) else {
                return .failure(Problem(reason: "the metadata table is truncated"))
            }
            out.append((guid, offset))
        }
        return .success(out)
    }

    /// The virtual disk size item's offset within the metadata region.
    static func sizeItem(metadata m: [UInt8]) -> Result<UInt64, Problem> {
        entries(metadata: m).flatMap { list in
            guard let item = list.first(where: { $0.0 == virtualDiskSize }) else {
                return .failure(Problem(reason: "the virtual disk size item is missing"))
            }
            return .success(item.1)
        }
    }
}
