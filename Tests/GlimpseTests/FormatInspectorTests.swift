import Foundation
import GlimpseInspector
import NIOCore
import Testing

/// The format inspector on images made by the real tools (`InspectorFixtures`), fed at chunk
/// sizes from one byte to 1 MiB, and on hostile images.
@Suite(.serialized) struct FormatInspectorTests {
    static let chunkSizes = [1, 3, 511, 4096, 65537, 1 << 20]

    @Test func fixtureMatrix_formatAndVirtualSizeMatchQemuAtEveryChunkSize() throws {
        guard let m = try InspectorFixtures.get() else { return }
        #expect(m.good.count >= 20)
        for f in m.good {
            let length = (try FileManager.default.attributesOfItem(atPath: f.path)[.size] as? NSNumber)?.int64Value
            for size in Self.chunkSizes {
                let r = try InspectorFixtures.inspect(f.path, chunkSize: size)
                #expect(r.format == f.format, "\(f.name) at chunk \(size): \(r.format) \(r.matches)")
                #expect(r.virtualSize == f.virtualSize, "\(f.name) at chunk \(size): \(String(describing: r.virtualSize)) != \(f.virtualSize)")
                if let sub = f.subformat { #expect(r.subformat == sub, "\(f.name): \(String(describing: r.subformat))") }
                #expect(r.actualSize == length)
                #expect(r.formatError == nil, "\(f.name): \(r.formatError ?? "")")
                if f.format != "qed" { #expect(r.safe, "\(f.name) at chunk \(size): \(r.failures)") }
            }
        }
    }

    @Test func fixtureMatrix_uploadVerdictAcceptsEachAsItsOwnFormat() throws {
        guard let m = try InspectorFixtures.get() else { return }
        for f in m.good where f.format != "qed" {
            let r = try InspectorFixtures.inspect(f.path, chunkSize: 65536)
            let claimed = f.format == "gpt" ? "raw" : f.format
            let expected = claimed == "raw" ? Int64(r.actualSize) : f.virtualSize
            #expect(r.verdict(diskFormat: claimed, containerFormat: "bare", options: .init()) == .accept(virtualSize: expected), "\(f.name)")
        }
    }

    func refusal(_ m: InspectorFixtures.Matrix, _ name: String, as diskFormat: String,
                 options: InspectorOptions = InspectorOptions()) throws -> (InspectionReport, String?) {
        let r = try InspectorFixtures.inspect(m.path(m.hostile[name]!), chunkSize: 4099, options: options)
        // The same verdict at one byte per chunk.
        let bytewise = try InspectorFixtures.inspect(m.path(m.hostile[name]!), chunkSize: 1, options: options)
        #expect(bytewise == r, "\(name) byte by byte")
        if case .refuse(let why) = r.verdict(diskFormat: diskFormat, containerFormat: "bare", options: options) { return (r, why) }
        return (r, nil)
    }

    @Test func hostile_qcow2BackingFileAndDataFileAreRefused() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let (b, whyB) = try refusal(m, "backing", as: "qcow2")
        #expect(b.failures.map(\.name) == ["backing_file"])
        #expect(whyB?.contains("backing file") == true)
        let (d, whyD) = try refusal(m, "data_file", as: "qcow2")
        #expect(d.failures.map(\.name) == ["data_file"])
        #expect(whyD?.contains("external data file") == true)
        // Still refused when claimed raw: the format differs, and the check fails anyway.
        #expect(try refusal(m, "data_file", as: "raw").1 != nil)
    }

    @Test func hostile_vmdkNamedExtentsAndFlatTypesAreRefused() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let (p, whyP) = try refusal(m, "passwd", as: "vmdk")
        #expect(p.format == "vmdk" && p.subformat == "monolithicFlat")
        #expect(Set(p.failures.map(\.name)) == ["create_type", "extents"])
        #expect(whyP?.contains("createType monolithicFlat is not allowed") == true)
        #expect(whyP?.contains("/etc/passwd") == false)
        let (n, whyN) = try refusal(m, "named_extent", as: "vmdk")
        #expect(n.failures.map(\.name) == ["extents"], "\(n.failures)")
        #expect(whyN?.contains("name other files") == true)
        let (f, whyF) = try refusal(m, "flat", as: "vmdk")
        #expect(f.subformat == "monolithicFlat" && f.failures.map(\.name).contains("create_type"))
        #expect(whyF != nil)
        #expect(try refusal(m, "split", as: "vmdk").1 != nil)
        // The allowed types are configurable: with monolithicFlat allowed, the extents still fail.
        let loose = InspectorOptions(vmdkAllowedTypes: ["monolithicFlat"])
        let (l, whyL) = try refusal(m, "flat", as: "vmdk", options: loose)
        #expect(l.failures.map(\.name) == ["extents"] && whyL != nil)
        // And an empty list refuses every VMDK, even a sparse one.
        let none = InspectorOptions(vmdkAllowedTypes: [])
        let sparse = try InspectorFixtures.inspect(m.path("sparse.vmdk"), chunkSize: 65536, options: none)
        #expect(sparse.failures.map(\.name) == ["create_type"])
    }

    @Test func hostile_qedIsAlwaysRefused() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let (r, why) = try refusal(m, "qed", as: "qed")
        #expect(r.failures.map(\.name) == ["banned"] && why?.contains("not allowed") == true)
        #expect(try refusal(m, "qed", as: "raw").1 != nil)
    }

    @Test func hostile_gptWithoutProtectiveMBRIsRefusedUnlessNonfatal() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let (r, why) = try refusal(m, "gpt_no_mbr", as: "raw")
        #expect(r.format == "gpt" && Set(r.failures.map(\.name)) == ["mbr", "gptmbr"])
        #expect(why?.contains("no MBR signature") == true)
        let (p, whyP) = try refusal(m, "gpt_bad_pmbr", as: "raw")
        #expect(p.failures.map(\.name) == ["gptmbr"] && whyP?.contains("LBA 1") == true)
        let relaxed = InspectorOptions(gptSafetyChecksNonfatal: ["mbr", "gptmbr"])
        #expect(try refusal(m, "gpt_no_mbr", as: "raw", options: relaxed).1 == nil)
        #expect(try refusal(m, "gpt_bad_pmbr", as: "raw", options: InspectorOptions(gptSafetyChecksNonfatal: ["gptmbr"])).1 == nil)
        #expect(try refusal(m, "gpt_no_mbr", as: "raw", options: InspectorOptions(gptSafetyChecksNonfatal: ["mbr"])).1 != nil)
    }

    @Test func hostile_formatMismatchesAreRefused() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let qcow = try InspectorFixtures.inspect(m.path("v3.qcow2"), chunkSize: 65536)
        #expect(qcow.verdict(diskFormat: "raw", containerFormat: "bare", options: .init())
            == .refuse("Image disk_format raw does not match stream data qcow2."))
        let raw = try InspectorFixtures.inspect(m.path("content.raw"), chunkSize: 65536)
        #expect(raw.verdict(diskFormat: "qcow2", containerFormat: "bare", options: .init())
            == .refuse("Image disk_format qcow2 does not match stream data raw."))
        #expect(qcow.verdict(diskFormat: "vmdk", containerFormat: "bare", options: .init()) != .accept(virtualSize: nil))
        // Unrecognised data is fine for formats the inspector cannot check (Glance: ami), and
        // nothing is inspected outside bare containers.
        #expect(raw.verdict(diskFormat: "ami", containerFormat: "bare", options: .init()) == .accept(virtualSize: nil))
        #expect(qcow.verdict(diskFormat: "raw", containerFormat: "ovf", options: .init()) == .notInspected)
        // With require_image_format_match off, Glance lets a mismatch through without a size.
        let off = InspectorOptions(requireImageFormatMatch: false)
        #expect(raw.verdict(diskFormat: "qcow2", containerFormat: "bare", options: off) == .accept(virtualSize: nil))
        #expect(qcow.verdict(diskFormat: "raw", containerFormat: "bare", options: off) == .accept(virtualSize: qcow.actualSize))
        // An ISO, a partitioned disk and a fixed VHD are raw disks.
        for name in ["gen.iso", "disk.gpt", "fixed.vhd"] {
            let r = try InspectorFixtures.inspect(m.path(name), chunkSize: 65536)
            #expect(r.verdict(diskFormat: "raw", containerFormat: "bare", options: .init()) == .accept(virtualSize: r.actualSize), "\(name)")
        }
    }

    @Test func hostile_truncatedAndOverflowingHeadersAreRefused() throws {
        guard let m = try InspectorFixtures.get() else { return }
        let (tq, whyTQ) = try refusal(m, "truncated_qcow2", as: "qcow2")
        #expect(tq.format == "qcow2" && tq.failures.map(\.name) == ["header"] && whyTQ?.contains("truncated") == true)
        let (tv, whyTV) = try refusal(m, "truncated_vmdk", as: "vmdk")
        #expect(tv.format == "vmdk" && tv.failures.map(\.name) == ["descriptor"] && whyTV?.contains("truncated") == true)
        let (oq, whyOQ) = try refusal(m, "overflow_qcow2", as: "qcow2")
        #expect(oq.virtualSize == nil && oq.failures.map(\.name) == ["virtual_size"] && whyOQ?.contains("64 bits") == true)
        let (ov, whyOV) = try refusal(m, "overflow_vmdk", as: "vmdk")
        #expect(ov.virtualSize == nil && ov.failures.map(\.name) == ["virtual_size"] && whyOV != nil)
        let (pg, whyPG) = try refusal(m, "polyglot", as: "qcow2")
        #expect(pg.formatError != nil && whyPG?.contains("multiple formats") == true, "\(pg)")
    }

    @Test func memoryStaysBoundedOnHostileDescriptors() {
        // All text for 3 MiB: kept only up to qemu's 1 MiB descriptor limit.
        var inspector = FormatInspector()
        let line = ByteBuffer(string: String(repeating: "# comment line\n", count: 4096))
        for _ in 0..<(3 << 20) / line.readableBytes { inspector.feed(line) }
        #expect((inspector.retainedBytes) <= 1 << 20 + 4096)
        #expect(inspector.finish().format == "raw")
    }

    @Test func emptyAndTinyStreamsAreRaw() {
        #expect(FormatInspector().finish() == InspectionReport(
            format: "raw", matches: [], subformat: nil, virtualSize: 0, actualSize: 0, checks: [], formatError: nil))
        let r = InspectorFixtures.inspect([0x51, 0x46, 0x49], chunkSize: 1)
        #expect(r.format == "raw" && r.virtualSize == 3)
    }

    @Test func inspectsAnAsyncSequence() async throws {
        guard let m = try InspectorFixtures.get() else { return }
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: m.path("stream.vmdk"))))
        let chunks = AsyncStream<ByteBuffer> { c in
            var i = 0
            while i < data.count {
                c.yield(ByteBuffer(bytes: data[i..<min(data.count, i + 1000)]))
                i += 1000
            }
            c.finish()
        }
        let r = try await FormatInspector.inspect(chunks)
        #expect(r.format == "vmdk" && r.subformat == "streamOptimized" && r.safe)
    }
}
