/// The formats' readings of the captured regions, done once at the end of the stream.
extension FormatInspector {
    /// One format's verdict on the stream.
    struct Detected {
        var name: String
        var subformat: String?
        var virtualSize: Int64?
        var checks: [SafetyCheckResult]
    }

    func evaluate() -> InspectionReport {
        let found = [qcow2(), qed(), vmdk(), vhd(), vhdx(), vdi(), luks(), iso(), gpt()].compactMap { $0 }
        let names = found.map(\.name)
        var chosen: Detected?
        var formatError: String?
        switch found.count {
        case 0: break
        case 1: chosen = found[0]
        default:
            if Set(names) == ["iso", "gpt"] {
                // A hybrid ISO carries a partition table for booting as a disk: it is an ISO.
                chosen = found.first { $0.name == "iso" }
            } else if let vhd = found.first(where: { $0.name == "vhd" && $0.subformat == "fixed" }),
                      Set(names).subtracting(["vhd", "gpt", "iso"]).isEmpty
            {
                // A fixed VHD is raw disk data (which may hold a partition table or an ISO) plus
                // a footer.
                chosen = vhd
            } else {
                // One header hidden in another: refuse to guess.
                chosen = found[0]
                formatError = "multiple formats detected (\(names.joined(separator: ", ")))"
            }
        }
        let result = chosen ?? Detected(name: "raw", subformat: nil, virtualSize: position, checks: [])
        return InspectionReport(
            format: result.name, matches: names, subformat: result.subformat, virtualSize: result.virtualSize,
            actualSize: position, checks: result.checks, formatError: formatError)
    }

    static func truncated(_ format: String) -> SafetyCheckResult { .fail("header", "the \(format) header is truncated") }
    static let overflow = SafetyCheckResult.fail("virtual_size", "the virtual size does not fit in 64 bits")

    /// A size check: passes with the size, fails when the field overflowed.
    static func sized(_ size: Int64?) -> (Int64?, SafetyCheckResult) {
        size.map { ($0, .pass("virtual_size")) } ?? (nil, overflow)
    }

    // MARK: qcow2 (QEMU docs/interop/qcow2.txt)

    func qcow2() -> Detected? {
        guard head.has([0x51, 0x46, 0x49, 0xFB]) else { return nil }
        guard let version = head.be32(4), head.count >= 72 else {
            return Detected(name: "qcow2", checks: [Self.truncated("qcow2")])
        }
        var d = Detected(name: "qcow2", subformat: "v\(version)", checks: [])
        guard version == 2 || version == 3 else {
            d.checks = [.fail("version", "qcow2 version \(version) is not supported")]
            return d
        }
        if version == 3, head.count < 104 {
            d.checks = [Self.truncated("qcow2")]
            return d
        }
        let clusterBits = head.be32(20) ?? 0
        d.checks.append(.check("header", (9...21).contains(clusterBits), "the cluster size is invalid"))
        d.checks.append(.check("backing_file", head.be64(8) == 0, "the image has a backing file"))
        let incompatible = version == 3 ? head.be64(72) ?? 0 : 0
        d.checks.append(.check("data_file", incompatible & (1 << 2) == 0, "the image has an external data file"))
        d.checks.append(.check("unknown_features", incompatible >> 4 == 0, "the image has unknown incompatible features"))
        let size: SafetyCheckResult
        (d.virtualSize, size) = Self.sized(signedSize(head.be64(24) ?? 0))
        d.checks.append(size)
        return d
    }

    // MARK: qed (always refused)

    func qed() -> Detected? {
        guard head.has([0x51, 0x45, 0x44, 0x00]) else { return nil }
        var d = Detected(name: "qed", checks: [.fail("banned", "the QED format is not allowed")])
        if let size = head.le64(48) { d.virtualSize = signedSize(size) }
        return d
    }

    // MARK: vmdk

    func vmdk() -> Detected? {
        if head.has("KDMV") { return sparseVMDK() }
        // A standalone descriptor: all text, naming a createType (Glance's test).
        guard head.count > 0, head.count < Self.headLimit ? head.allSatisfy(isTextByte) : text != nil else { return nil }
        let all = head + (text ?? [])
        let descriptor = VMDK.parse(all.prefix(VMDK.maxDescriptor))
        guard descriptor.createType != nil else { return nil }
        var d = Detected(name: "vmdk", subformat: VMDK.display(descriptor.createType), checks: [])
        d.checks = descriptorChecks(descriptor, embedded: false)
        var total: UInt64 = 0
        var overflow = false
        for e in descriptor.extents {
            let (sum, o) = total.addingReportingOverflow(e.sectors ?? 0)
            total = sum
            overflow = overflow || o
        }
        let size: SafetyCheckResult
        (d.virtualSize, size) = Self.sized(overflow ? nil : multiplied(total, 512))
        d.checks.append(size)
        return d
    }

    func sparseVMDK() -> Detected? {
        var d = Detected(name: "vmdk", checks: [])
        guard head.count >= 64, let version = head.le32(4), let capacity = head.le64(12), let gdOffset = head.le64(56) else {
            d.checks = [Self.truncated("vmdk")]
            return d
        }
        guard (1...3).contains(version) else {
            d.checks = [.fail("header", "VMDK version \(version) is not supported")]
            return d
        }
        guard let (offset, length) = VMDK.descriptorLocation(head) else {
            d.checks = [.fail("header", "the descriptor is not where qemu reads it")]
            return d
        }
        let kept = bytes(at: offset, count: length) ?? capture(.vmdkDescriptor)?.bytes ?? Array(head.dropFirst(Int(offset)))
        guard kept.count == length else {
            d.checks = [.fail("descriptor", "the descriptor is truncated")]
            return d
        }
        let descriptor = VMDK.parse(kept)
        d.subformat = VMDK.display(descriptor.createType)
        d.checks = descriptorChecks(descriptor, embedded: true)
        if gdOffset == VMDK.gdAtEnd { d.checks.append(footerCheck()) }
        let size: SafetyCheckResult
        (d.virtualSize, size) = Self.sized(multiplied(capacity, 512))
        d.checks.append(size)
        return d
    }

    func descriptorChecks(_ descriptor: VMDK.Descriptor, embedded: Bool) -> [SafetyCheckResult] {
        var checks: [SafetyCheckResult] = []
        if descriptor.notText {
            checks.append(.fail("descriptor", "the descriptor is not text"))
        } else if descriptor.invalidLine {
            checks.append(.fail("descriptor", "the descriptor has lines that are not VMDK descriptor data"))
        } else if descriptor.extents.isEmpty {
            checks.append(.fail("descriptor", "the descriptor names no extents"))
        } else {
            checks.append(.pass("descriptor"))
        }
        let allowed = options.vmdkAllowedTypes.map { $0.lowercased() }
        let type = descriptor.createType?.lowercased()
        checks.append(.check(
            "create_type", type.map { allowed.contains($0) } ?? false,
            allowed.isEmpty ? "no VMDK createType is allowed" : "createType \(VMDK.display(descriptor.createType)) is not allowed"))
        if embedded {
            // The sparse file is its own extent; qemu ignores the names, but Glance refuses paths.
            let paths = descriptor.extents.contains { ($0.file ?? "").contains("/") || ($0.file ?? "").contains("\\") }
            checks.append(.check("extents", !paths, "an extent names a file path"))
        } else {
            // A standalone descriptor's extents are other files, which qemu would open.
            checks.append(.check("extents", descriptor.extents.isEmpty, "the descriptor's extents name other files"))
        }
        checks.append(.check("parent", !descriptor.parentHint, "the image names a parent image"))
        return checks
    }

    /// streamOptimized: the footer (a marker then a copy of the header) and the end-of-stream
    /// marker must be the last 1.5 KiB, and agree with the header.
    func footerCheck() -> SafetyCheckResult {
        guard tail.count >= Self.tailLimit, position >= Int64(Self.tailLimit) + 512 else {
            return .fail("footer", "the footer is missing")
        }
        let last = Array(tail.suffix(Self.tailLimit))
        let footerMarker = Array(last[0..<512]), footer = Array(last[512..<1024]), eos = Array(last[1024..<1536])
        func marker(_ m: [UInt8], type: UInt64, value: UInt64?) -> Bool {
            (value == nil || m.le64(0) == value) && m.le32(8) == 0 && m.le32(12) == type && m[16...].allSatisfy { $0 == 0 }
        }
        guard footer.has("KDMV"), footer.le32(4) == head.le32(4) else {
            return .fail("footer", "the footer does not match the header")
        }
        guard footer.le64(28) == head.le64(28), footer.le64(36) == head.le64(36) else {
            return .fail("footer", "the footer names a different descriptor")
        }
        guard footer.le64(56) != VMDK.gdAtEnd else { return .fail("footer", "the footer points to another footer") }
        guard marker(footerMarker, type: 3, value: nil) else { return .fail("footer", "the footer marker is invalid") }
        guard marker(eos, type: 0, value: 0) else { return .fail("footer", "the end-of-stream marker is invalid") }
        return .pass("footer")
    }

    // MARK: vhd (qemu calls it vpc)

    func vhd() -> Detected? {
        var footer: [UInt8]
        var fixedOnly = false
        if head.has("conectix") {
            guard head.count >= 512 else { return Detected(name: "vhd", checks: [Self.truncated("vhd")]) }
            footer = Array(head[0..<512])
        } else if tail.count >= 512 {
            footer = Array(tail.suffix(512))
            guard footer.has("conectix") else { return nil }
            fixedOnly = true
        } else {
            return nil
        }
        let type = footer.be32(60) ?? 0
        var d = Detected(name: "vhd", subformat: type == 2 ? "fixed" : type == 3 ? "dynamic" : type == 4 ? "differencing" : "unknown",
                         checks: [])
        d.checks.append(.check("disk_type", type == 2 || (type == 3 && !fixedOnly),
                               type == 4 ? "a differencing VHD names a parent image" : "the VHD disk type is not supported"))
        // qemu's rule: the CHS geometry's size unless the creator is known to use current_size
        // (Hyper-V, qemu's "qem2", disk2vhd, XenServer) or the geometry is at its maximum.
        let creator = footer.slice(28, 4) ?? []
        let sizeCreators: [[UInt8]] = [Array("win ".utf8), Array("qem2".utf8), Array("d2v ".utf8), Array("CTXS".utf8), [0x74, 0x61, 0x70, 0]]
        let cylinders = footer.be16(56) ?? 0, heads = UInt64(footer[58]), sectors = UInt64(footer[59])
        let chs = cylinders * heads * sectors
        let sectorsTotal = (sizeCreators.contains(creator) || chs == 65535 * 16 * 255) ? (footer.be64(48) ?? 0) / 512 : chs
        let size: SafetyCheckResult
        (d.virtualSize, size) = Self.sized(multiplied(sectorsTotal, 512))
        d.checks.append(size)
        return d
    }

    // MARK: vhdx

    func vhdx() -> Detected? {
        guard head.has("vhdxfile") else { return nil }
        var d = Detected(name: "vhdx", checks: [])
        guard let table = capture(.vhdxRegions), table.complete else {
            d.checks = [Self.truncated("vhdx")]
            return d
        }
        let located = VHDX.metadataOffset(regionTable: table.bytes).flatMap { offset -> Result<(UInt64, [UInt8]), Problem> in
            guard let meta = capture(.vhdxMetadata), !meta.missed || meta.bytes.count >= 32 else {
                return .failure(Problem(reason: "the metadata region cannot be read in one pass"))
            }
            return .success((offset, meta.bytes))
        }
        switch located {
        case .failure(let p):
            d.checks = [.fail("structure", p.reason)]
        case .success(let (_, meta)):
            switch VHDX.entries(metadata: meta) {
            case .failure(let p):
                d.checks = [.fail("structure", p.reason)]
            case .success(let entries):
                if let size = capture(.vhdxSize), size.complete, let value = size.bytes.le64(0) {
                    d.checks.append(.pass("structure"))
                    let check: SafetyCheckResult
                    (d.virtualSize, check) = Self.sized(signedSize(value))
                    d.checks.append(.check("parent", !entries.contains { $0.0 == VHDX.parentLocator }, "the image names a parent image"))
                    d.checks.append(check)
                } else {
                    d.checks = [.fail("structure", "the virtual disk size cannot be read in one pass")]
                }
            }
        }
        return d
    }

    // MARK: vdi (VirtualBox; qemu block/vdi.c)

    func vdi() -> Detected? {
        guard head.le32(0x40) == 0xBEDA_107F else { return nil }
        var d = Detected(name: "vdi", checks: [])
        guard let version = head.le32(0x44), let size = head.le64(0x170) else {
            d.checks = [Self.truncated("vdi")]
            return d
        }
        d.checks.append(.check("header", version == 0x0001_0001, "VDI version \(version >> 16).\(version & 0xFFFF) is not supported"))
        let check: SafetyCheckResult
        (d.virtualSize, check) = Self.sized(signedSize(size))
        d.checks.append(check)
        return d
    }

    // MARK: luks (v1 on-disk format)

    func luks() -> Detected? {
        guard head.has([0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE]) else { return nil }
        var d = Detected(name: "luks", checks: [])
        guard head.count >= 592, let version = head.be16(6), let payload = head.be32(104) else {
            d.checks = [Self.truncated("luks")]
            return d
        }
        d.subformat = "luks\(version)"
        d.checks.append(.check("version", version == 1, "LUKS version \(version) is not supported"))
        let payloadBytes = Int64(payload) * 512
        let keyBytes = head.be32(108) ?? 0
        let activeSlot = (0..<8).contains { head.be32(208 + $0 * 48) == 0x00AC_71F3 }
        let headerOK = payloadBytes <= position && [16, 32, 64].contains(keyBytes) && activeSlot
        d.checks.append(.check("header", headerOK,
                               payloadBytes > position ? "the payload lies beyond the end of the data"
                                   : activeSlot ? "the key size is invalid" : "no key slot is active"))
        d.virtualSize = payloadBytes <= position ? position - payloadBytes : nil
        return d
    }

    // MARK: iso (ISO 9660 and UDF volume recognition)

    func iso() -> Detected? {
        var kind: String?
        for sector in 16..<32 {
            let offset = sector * 2048
            guard head.count >= offset + 6 else { break }
            if head.has("CD001", at: offset + 1) {
                kind = kind ?? "iso9660"
                if head[offset] == 255 { continue }
            } else if head.has("NSR02", at: offset + 1) || head.has("NSR03", at: offset + 1) {
                kind = "udf"
            } else if !(head.has("BEA01", at: offset + 1) || head.has("TEA01", at: offset + 1)
                || head.has("BOOT2", at: offset + 1) || head.has("CDW02", at: offset + 1))
            {
                break
            }
        }
        guard let kind else { return nil }
        // qemu reads an ISO as raw data, so its virtual size is its length.
        return Detected(name: "iso", subformat: kind, virtualSize: position, checks: [])
    }

    // MARK: gpt / mbr (UEFI 2.10 §5)

    func gpt() -> Detected? {
        guard head.count >= 512 else { return nil }
        let signature = head[510] == 0x55 && head[511] == 0xAA
        let fat = head[0x10] == 2 && head[0x15] == 0xF8
        let efi = head.has("EFI PART", at: 512)
        guard efi || (signature && !fat) else { return nil }
        var partitions: [Int] = []
        var protective: Int?
        var badFlag = false, badProtective = false
        for i in 0..<4 {
            let e = 446 + 16 * i
            let boot = head[e], type = head[e + 4]
            if boot != 0 && boot != 0x80 { badFlag = true }
            if type != 0 { partitions.append(i) }
            if type == 0xEE {
                protective = protective ?? i
                if head[e + 1] != 0 || head[e + 2] != 2 || head[e + 3] != 0 || head.le32(e + 8) != 1 { badProtective = true }
            }
        }
        let isGPT = efi || protective != nil
        var d = Detected(name: "gpt", subformat: isGPT ? "gpt" : "mbr", virtualSize: position, checks: [])
        if !signature {
            d.checks.append(.fail("mbr", "the disk has no MBR signature"))
        } else if badFlag {
            d.checks.append(.fail("mbr", "an MBR partition has an invalid boot flag"))
        } else {
            d.checks.append(.check("mbr", !partitions.isEmpty, "the MBR defines no partitions"))
        }
        if isGPT {
            if protective == nil {
                d.checks.append(.fail("gptmbr", "the GPT has no protective MBR partition"))
            } else if badProtective {
                d.checks.append(.fail("gptmbr", "the protective MBR partition does not start at LBA 1"))
            } else {
                d.checks.append(.check("gptmbr", partitions == [0], "the protective MBR defines other partitions"))
            }
        }
        return d
    }
}
