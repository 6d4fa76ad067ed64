import Foundation
import GlimpseInspector
import NIOCore
import Testing

/// Disk images made at test time by the real tools (qemu-img, genisoimage, xorriso, sgdisk,
/// sfdisk), once per test process, in a temporary directory. With `GLIMPSE_REQUIRE_TOOLS=1`
/// (CI) a missing tool is a failure; otherwise the tests that need them are skipped.
enum InspectorFixtures {
    struct Fixture: Sendable {
        /// File name, and what the tool made.
        var name: String
        var format: String
        var subformat: String?
        /// qemu-img's `virtual-size` (`qemu-img info -f <qemuFormat> --output=json`).
        var virtualSize: Int64
        var path: String
    }

    struct Matrix: Sendable {
        var dir: String
        var good: [Fixture]
        /// Hostile images by name (see `make`).
        var hostile: [String: String]
        func path(_ name: String) -> String { dir + "/" + name }
    }

    static let tools = ["qemu-img", "genisoimage", "xorriso", "sgdisk", "sfdisk"]
    static let required = ProcessInfo.processInfo.environment["GLIMPSE_REQUIRE_TOOLS"] == "1"
    static func which(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for dir in path + ["/usr/sbin", "/sbin"] {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
    static var missing: [String] { tools.filter { which($0) == nil } }

    /// The fixtures, or nil (the test returns) when tools are missing and not required.
    static func get() throws -> Matrix? {
        let missing = missing
        if !missing.isEmpty {
            if required { throw FixtureError("GLIMPSE_REQUIRE_TOOLS=1 but \(missing.joined(separator: ", ")) missing (run scripts/setup.sh)") }
            return nil
        }
        return try cache.get()
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Built once; a failure is reported to every test that asks.
    static let cache: Result<Matrix, FixtureError> = {
        do { return .success(try make()) } catch { return .failure(FixtureError("fixtures: \(error)")) }
    }()

    @discardableResult
    static func run(_ tool: String, _ args: [String], in dir: String, input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: which(tool) ?? tool)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FixtureError("\(tool) \(args.joined(separator: " ")) failed: \(String(decoding: error, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func qemuVirtualSize(_ file: String, format: String, in dir: String) throws -> Int64 {
        let json = try run("qemu-img", ["info", "-f", format, "--output=json", file], in: dir)
        guard let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let size = (obj["virtual-size"] as? NSNumber)?.int64Value
        else { throw FixtureError("qemu-img info \(file): no virtual-size") }
        return size
    }

    static func patch(_ path: String, at offset: Int, _ bytes: [UInt8]) throws {
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    static func make() throws -> Matrix {
        let tmp = FileManager.default.temporaryDirectory.path
        // Leftovers of earlier test processes (gone now) are removed; a running one's are not.
        for old in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where old.hasPrefix("glimpse-inspector-") {
            if let pid = Int32(old.dropFirst("glimpse-inspector-".count)), kill(pid, 0) != 0 {
                try? FileManager.default.removeItem(atPath: tmp + "/" + old)
            }
        }
        let dir = tmp + "/glimpse-inspector-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func q(_ args: String...) throws { try run("qemu-img", args, in: dir) }
        // Some real content, so converted images carry allocated clusters and grains.
        var seed: UInt64 = 7
        let content = (0..<(384 * 1024)).map { i -> UInt8 in
            if (i / 65536) % 2 == 1 { return 0 }  // holes, so sparse formats stay sparse in places
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        try Data(content).write(to: URL(fileURLWithPath: dir + "/content.raw"))

        var good: [(String, String, String?, String)] = []  // file, format, subformat, qemu format
        try q("create", "-q", "-f", "raw", "zero.raw", "1M"); good.append(("zero.raw", "raw", nil, "raw"))
        good.append(("content.raw", "raw", nil, "raw"))
        try q("convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10", "content.raw", "v2.qcow2"); good.append(("v2.qcow2", "qcow2", "v2", "qcow2"))
        try q("convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", "content.raw", "v3.qcow2"); good.append(("v3.qcow2", "qcow2", "v3", "qcow2"))
        try q("create", "-q", "-f", "qcow2", "big.qcow2", "20G"); good.append(("big.qcow2", "qcow2", "v3", "qcow2"))
        try q("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", "content.raw", "sparse.vmdk")
        good.append(("sparse.vmdk", "vmdk", "monolithicSparse", "vmdk"))
        try q("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", "content.raw", "stream.vmdk")
        good.append(("stream.vmdk", "vmdk", "streamOptimized", "vmdk"))
        try q("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", "empty-stream.vmdk", "3G")
        good.append(("empty-stream.vmdk", "vmdk", "streamOptimized", "vmdk"))
        try q("convert", "-f", "raw", "-O", "vpc", "content.raw", "dynamic.vhd"); good.append(("dynamic.vhd", "vhd", "dynamic", "vpc"))
        try q("create", "-q", "-f", "vpc", "-o", "subformat=fixed", "fixed.vhd", "1M"); good.append(("fixed.vhd", "vhd", "fixed", "vpc"))
        try q("create", "-q", "-f", "vpc", "big.vhd", "100G"); good.append(("big.vhd", "vhd", "dynamic", "vpc"))
        try q("convert", "-f", "raw", "-O", "vhdx", "content.raw", "x.vhdx"); good.append(("x.vhdx", "vhdx", nil, "vhdx"))
        try q("create", "-q", "-f", "vhdx", "big.vhdx", "50G"); good.append(("big.vhdx", "vhdx", nil, "vhdx"))
        try q("convert", "-f", "raw", "-O", "vdi", "content.raw", "x.vdi"); good.append(("x.vdi", "vdi", nil, "vdi"))
        try q("create", "-q", "-f", "qed", "x.qed", "5G"); good.append(("x.qed", "qed", nil, "qed"))
        // qemu-img times its PBKDF to pick an iteration count and, on a busy machine, sometimes
        // reports "Unable to get accurate CPU usage": try again a few times.
        for attempt in 1...5 {
            do {
                try q("create", "-q", "-f", "luks", "--object", "secret,id=s0,data=secret", "-o", "key-secret=s0,iter-time=10",
                      "x.luks", "1M")
                break
            } catch where attempt < 5 {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        good.append(("x.luks", "luks", "luks1", "luks"))
        let tree = dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try Data("hello from an ISO\n".utf8).write(to: URL(fileURLWithPath: tree + "/hello.txt"))
        try run("genisoimage", ["-quiet", "-o", "gen.iso", "tree"], in: dir); good.append(("gen.iso", "iso", "iso9660", "raw"))
        try run("genisoimage", ["-quiet", "-udf", "-o", "udf.iso", "tree"], in: dir); good.append(("udf.iso", "iso", nil, "raw"))
        try run("xorriso", ["-as", "mkisofs", "-quiet", "-o", "xorriso.iso", "tree"], in: dir); good.append(("xorriso.iso", "iso", "iso9660", "raw"))
        try Data(content.prefix(65536)).write(to: URL(fileURLWithPath: dir + "/efi.img"))
        try run("xorriso", ["-as", "mkisofs", "-quiet", "-o", "hybrid.iso", "-append_partition", "2", "0xef", "efi.img",
                            "-appended_part_as_gpt", "tree"], in: dir)
        good.append(("hybrid.iso", "iso", "iso9660", "raw"))
        try q("create", "-q", "-f", "raw", "disk.gpt", "2M")
        try run("sgdisk", ["-o", "-n", "1:2048:0", "disk.gpt"], in: dir); good.append(("disk.gpt", "gpt", "gpt", "raw"))
        try q("create", "-q", "-f", "raw", "disk.mbr", "2M")
        try run("sfdisk", ["-q", "disk.mbr"], in: dir, input: "label: dos\n,,L\n"); good.append(("disk.mbr", "gpt", "mbr", "raw"))

        let fixtures = try good.map { file, format, sub, qemu in
            Fixture(name: file, format: format, subformat: sub, virtualSize: try qemuVirtualSize(file, format: qemu, in: dir),
                    path: dir + "/" + file)
        }

        // Hostile images.
        var hostile: [String: String] = [:]
        try q("create", "-q", "-f", "qcow2", "-b", "v3.qcow2", "-F", "qcow2", "backing.qcow2"); hostile["backing"] = "backing.qcow2"
        try q("create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", "datafile.qcow2", "1M"); hostile["data_file"] = "datafile.qcow2"
        try q("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", "flat.vmdk", "1M"); hostile["flat"] = "flat.vmdk"
        try q("create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "split.vmdk", "1M"); hostile["split"] = "split.vmdk"
        let passwd = """
            # Disk DescriptorFile
            version=1
            CID=fffffffe
            parentCID=ffffffff
            createType="monolithicFlat"

            # Extent description
            RW 2048 FLAT "/etc/passwd" 0

            ddb.virtualHWVersion = "4"

            """
        try Data(passwd.utf8).write(to: URL(fileURLWithPath: dir + "/passwd.vmdk")); hostile["passwd"] = "passwd.vmdk"
        let sparsePasswd = passwd.replacingOccurrences(of: "monolithicFlat", with: "monolithicSparse")
            .replacingOccurrences(of: "FLAT \"/etc/passwd\" 0", with: "SPARSE \"passwd\"")
        try Data(sparsePasswd.utf8).write(to: URL(fileURLWithPath: dir + "/named-extent.vmdk")); hostile["named_extent"] = "named-extent.vmdk"
        hostile["qed"] = "x.qed"
        // A GPT whose MBR is gone (zeroed partition table and signature).
        try FileManager.default.copyItem(atPath: dir + "/disk.gpt", toPath: dir + "/nombr.gpt")
        try patch(dir + "/nombr.gpt", at: 446, [UInt8](repeating: 0, count: 66)); hostile["gpt_no_mbr"] = "nombr.gpt"
        // A protective partition that does not start at LBA 1.
        try FileManager.default.copyItem(atPath: dir + "/disk.gpt", toPath: dir + "/badpmbr.gpt")
        try patch(dir + "/badpmbr.gpt", at: 446 + 8, [2, 0, 0, 0]); hostile["gpt_bad_pmbr"] = "badpmbr.gpt"
        // Truncated headers.
        let v3 = try Data(contentsOf: URL(fileURLWithPath: dir + "/v3.qcow2"))
        try v3.prefix(48).write(to: URL(fileURLWithPath: dir + "/truncated.qcow2")); hostile["truncated_qcow2"] = "truncated.qcow2"
        let sparse = try Data(contentsOf: URL(fileURLWithPath: dir + "/sparse.vmdk"))
        try sparse.prefix(700).write(to: URL(fileURLWithPath: dir + "/truncated.vmdk")); hostile["truncated_vmdk"] = "truncated.vmdk"
        // Sizes that overflow 64 bits.
        try FileManager.default.copyItem(atPath: dir + "/v3.qcow2", toPath: dir + "/overflow.qcow2")
        try patch(dir + "/overflow.qcow2", at: 24, [UInt8](repeating: 0xFF, count: 8)); hostile["overflow_qcow2"] = "overflow.qcow2"
        try FileManager.default.copyItem(atPath: dir + "/sparse.vmdk", toPath: dir + "/overflow.vmdk")
        try patch(dir + "/overflow.vmdk", at: 12, [0, 0, 0, 0, 0, 0, 0, 0x40]); hostile["overflow_vmdk"] = "overflow.vmdk"
        // A qcow2 header that also carries an MBR signature: two formats in one.
        try FileManager.default.copyItem(atPath: dir + "/v3.qcow2", toPath: dir + "/polyglot.qcow2")
        try patch(dir + "/polyglot.qcow2", at: 446, [0x80, 0, 2, 0, 0x83, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0])
        try patch(dir + "/polyglot.qcow2", at: 510, [0x55, 0xAA]); hostile["polyglot"] = "polyglot.qcow2"
        return Matrix(dir: dir, good: fixtures, hostile: hostile)
    }

    /// Feeds a file to an inspector in the chunks `chunkLengths` gives, reading it 1 MiB at a
    /// time (the suites run beside memory-measuring ones, so no file is held whole).
    static func inspect(_ path: String, chunkSize: Int, options: InspectorOptions = InspectorOptions()) throws -> InspectionReport {
        guard let file = FileHandle(forReadingAtPath: path) else { throw FixtureError("cannot open \(path)") }
        defer { try? file.close() }
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        var inspector = FormatInspector(options: options)
        var buffer = ByteBuffer()
        for n in chunkLengths(total: size, chunkSize: chunkSize) {
            while buffer.readableBytes < n {
                if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
                guard let more = try file.read(upToCount: 1 << 20), !more.isEmpty else { throw FixtureError("\(path) shrank") }
                buffer.writeBytes(more)
            }
            inspector.feed(buffer.readSlice(length: n)!)
        }
        return inspector.finish()
    }

    /// Chunks of `chunkSize` bytes. Below 512 bytes they cover the first 256 KiB (every header,
    /// the ISO volume descriptors, the VHDX region table) and the last 2 KiB (footers), with
    /// 7919-byte chunks between, so that a debug build takes seconds, not minutes, and the
    /// structures in the middle (VHDX metadata, LUKS payload) still straddle odd boundaries.
    static func chunkLengths(total: Int, chunkSize: Int) -> [Int] {
        let small = chunkSize < 512
        let middle = small ? (256 * 1024)..<max(256 * 1024, total - 2048) : 0..<0
        var lengths: [Int] = []
        var offset = 0
        while offset < total {
            var n = min(middle.contains(offset) ? 7919 : chunkSize, total - offset)
            if small, offset < middle.lowerBound { n = min(n, middle.lowerBound - offset) }
            if middle.contains(offset) { n = min(n, middle.upperBound - offset) }
            lengths.append(n)
            offset += n
        }
        return lengths
    }

    static func inspect(_ data: [UInt8], chunkSize: Int, options: InspectorOptions = InspectorOptions()) -> InspectionReport {
        var inspector = FormatInspector(options: options)
        let whole = ByteBuffer(bytes: data)
        var offset = 0
        for n in chunkLengths(total: data.count, chunkSize: chunkSize) {
            inspector.feed(whole.getSlice(at: offset, length: n)!)
            offset += n
        }
        return inspector.finish()
    }
}
