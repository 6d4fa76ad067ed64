import Foundation
import GlimpseCore
import GlimpseDomain
import GlimpseInspector
import GlimpseStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Upload enforcement: hostile data uploaded through the v2 and v1 APIs is refused with 415,
/// the image is `queued` again and the store holds nothing; good data gets its virtual size.
@Suite struct InspectorUploadTests {
    static let hostile: [(name: String, diskFormat: String, reason: String)] = [
        ("backing", "qcow2", "backing file"),
        ("data_file", "qcow2", "external data file"),
        ("passwd", "vmdk", "not allowed"),
        ("flat", "vmdk", "monolithicFlat"),
        ("named_extent", "vmdk", "name other files"),
        ("qed", "raw", "stream data qed"),
        ("gpt_no_mbr", "raw", "no MBR signature"),
        ("truncated_qcow2", "qcow2", "truncated"),
        ("overflow_qcow2", "qcow2", "64 bits"),
        ("overflow_vmdk", "vmdk", "64 bits"),
        ("polyglot", "qcow2", "multiple formats"),
    ]

    func load(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func v2_hostileUploadsAreRefusedWith415AndLeaveNothing() async throws {
        guard let m = try InspectorFixtures.get() else { return }
        let g = try await TestGlimpse.make()
        var cases = Self.hostile.map { (m.path(m.hostile[$0.name]!), $0.diskFormat, $0.reason) }
        cases.append((m.path("v3.qcow2"), "raw", "does not match stream data qcow2"))
        cases.append((m.path("content.raw"), "qcow2", "does not match stream data raw"))
        let all = cases
        try await g.test { c in
            for (path, diskFormat, reason) in all {
                let id = try await c.create(#"{"name": "h", "disk_format": "\#(diskFormat)", "container_format": "bare"}"#)
                let r = try await c.upload(id, try load(path))
                #expect(r.status == .unsupportedMediaType, "\(path) as \(diskFormat): \(r.status)")
                #expect(String(buffer: r.body).contains(reason), "\(path): \(String(buffer: r.body))")
                let image = try await c.send(.get, "/v2/images/\(id)").json
                #expect(image["status"] == .string("queued"), "\(path)")
                #expect(image["size"] == .null && image["checksum"] == .null && image["virtual_size"] == .null)
                #expect(g.store.objectCount == 0, "\(path) left data in the store")
            }
        }
    }

    @Test func v2_goodUploadsGetTheirVirtualSize() async throws {
        guard let m = try InspectorFixtures.get() else { return }
        let g = try await TestGlimpse.make()
        // (VHDX files are at least 8 MiB; tests/integration/test_format_inspection.py uploads one.)
        let picks = m.good.filter { ["v3.qcow2", "stream.vmdk", "dynamic.vhd", "x.vdi", "hybrid.iso", "disk.gpt"].contains($0.name) }
        #expect(picks.count == 6)
        try await g.test { c in
            for f in picks {
                let diskFormat = f.format == "gpt" ? "raw" : f.format
                let id = try await c.create(#"{"name": "g", "disk_format": "\#(diskFormat)", "container_format": "bare"}"#)
                let data = try load(f.path)
                let r = try await c.upload(id, data)
                #expect(r.status == .noContent, "\(f.name): \(r.status) \(String(buffer: r.body))")
                let image = try await c.send(.get, "/v2/images/\(id)").json
                #expect(image["status"] == .string("active"))
                let expected = diskFormat == "raw" ? Int64(data.count) : f.virtualSize
                #expect(image["virtual_size"] == .int(expected), "\(f.name): \(String(describing: image["virtual_size"]))")
            }
            // Not a bare container: not inspected, so a qcow2 claimed as raw is stored as it is.
            let id = try await c.create(#"{"name": "o", "disk_format": "raw", "container_format": "ovf"}"#)
            #expect(try await c.upload(id, try load(m.path("v3.qcow2"))).status == .noContent)
        }
    }

    @Test func v2_optionsRelaxTheVerdict() async throws {
        guard let m = try InspectorFixtures.get() else { return }
        let g = try await TestGlimpse.make(configure: {
            $0.inspector = InspectorOptions(requireImageFormatMatch: false, gptSafetyChecksNonfatal: ["mbr", "gptmbr"])
        })
        try await g.test { c in
            let id = try await c.create(#"{"name": "m", "disk_format": "qcow2", "container_format": "bare"}"#)
            #expect(try await c.upload(id, try load(m.path("content.raw"))).status == .noContent)
            #expect(try await c.send(.get, "/v2/images/\(id)").json["virtual_size"] == .null)
            let gpt = try await c.create(#"{"name": "g", "disk_format": "raw", "container_format": "bare"}"#)
            #expect(try await c.upload(gpt, try load(m.path(m.hostile["gpt_no_mbr"]!))).status == .noContent)
            // Safety checks still apply when the format matches.
            let b = try await c.create(#"{"name": "b", "disk_format": "qcow2", "container_format": "bare"}"#)
            #expect(try await c.upload(b, try load(m.path(m.hostile["backing"]!))).status == .unsupportedMediaType)
        }
    }

    @Test func v1_hostileUploadIsRefusedAndTheImageStaysQueued() async throws {
        guard let m = try InspectorFixtures.get() else { return }
        let g = try await TestGlimpse.make()
        try await g.test { c in
            let headers = ["x-image-meta-name": "h", "x-image-meta-disk_format": "qcow2", "x-image-meta-container_format": "bare"]
            let created = try await c.send(.post, "/v1/images", headers: headers)
            let id = try #require(created.json["image"]?.objectValue?["id"]?.stringValue)
            let r = try await c.send(.put, "/v1/images/\(id)", body: ByteBuffer(bytes: try load(m.path(m.hostile["data_file"]!))),
                                     contentType: "application/octet-stream")
            #expect(r.status == .unsupportedMediaType, "\(r.status) \(String(buffer: r.body))")
            let head = try await c.send(.head, "/v1/images/\(id)")
            #expect(head.headers[HTTPField.Name("x-image-meta-status")!] == "queued")
            #expect(g.store.objectCount == 0)
            // Data sent with the create: refused the same way.
            let post = try await c.send(.post, "/v1/images", body: ByteBuffer(bytes: try load(m.path("content.raw"))),
                                        contentType: "application/octet-stream", headers: headers)
            #expect(post.status == .unsupportedMediaType)
            #expect(g.store.objectCount == 0)
            // A real qcow2 goes through, with its virtual size.
            let ok = try await c.send(.post, "/v1/images", body: ByteBuffer(bytes: try load(m.path("v3.qcow2"))),
                                      contentType: "application/octet-stream", headers: headers)
            #expect(ok.status == .created)
            let okID = try #require(ok.json["image"]?.objectValue?["id"]?.stringValue)
            #expect(try await c.send(.get, "/v2/images/\(okID)").json["virtual_size"] == .int(384 * 1024))
        }
    }
}
