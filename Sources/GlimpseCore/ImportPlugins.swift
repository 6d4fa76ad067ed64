import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseInspector
import GlimpseStore
import Logging

/// `[image_import_opts] image_import_plugins`: steps that run on the staged data, in the
/// configured order, before it is copied into the stores (glance-direct, web-download and
/// glance-download; copy-image copies what is already there). Each works on the staged file in
/// place: it writes its output next to it and renames it over the original only on success.
extension ImageService {
    func runPlugins(on image: Image, staging: StagingArea, progress: TaskProgress, injecting: Bool = true) async throws -> Image {
        var image = image
        for plugin in configuration.importPlugins {
            try Task.checkCancellation()
            switch plugin {
            case "image_decompression":
                progress.report("Decompressing the staged data")
                try await decompress(image, staging: staging)
            case "image_conversion":
                progress.report("Converting the staged data to \(configuration.conversionOutputFormat)")
                image = try await convert(image, staging: staging)
            case "inject_image_metadata":
                if injecting { image = try await injectMetadata(image) }
            default:
                break  // no_op
            }
        }
        return image
    }

    // MARK: image_decompression

    /// What the magic number says a file is compressed with, if anything.
    enum Compression: String {
        case gzip, zip, xz, zstd

        static func detect(_ head: [UInt8]) -> Compression? {
            if head.starts(with: [0x1f, 0x8b, 0x08]) { return .gzip }
            if head.starts(with: [0x50, 0x4b, 0x03, 0x04]) { return .zip }
            if head.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .xz }
            if head.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
            return nil
        }
    }

    /// Decompresses the staged data (gzip and zip as Glance; also xz and zstd) unless the image
    /// is meant to stay compressed (`container_format=compressed`). The output is capped at
    /// `image_size_cap` (`prlimit --fsize`), so a decompression bomb fails instead of filling
    /// the disk.
    func decompress(_ image: Image, staging: StagingArea) async throws {
        guard image.containerFormat != "compressed" else { return }
        let path = staging.path(for: image.id)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw GlimpseError.conflict("The staged data disappeared.") }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        try? handle.close()
        guard let kind = Compression.detect(head) else { return }
        let output = path + ".decompressing"
        let (program, arguments): (String, [String]) = switch kind {
        case .gzip: ("gzip", ["-dc"])
        case .xz: ("xz", ["-dc"])
        case .zstd: ("zstd", ["-dcq"])
        case .zip: ("unzip", ["-p", path])
        }
        if kind == .zip {
            // Glance takes the archive's single member; several members are ambiguous.
            let listing = try await ProcessRunner.run("unzip", ["-Z1", path], limits: .init(addressSpace: 1 << 30, cpuSeconds: 30))
            let members = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.hasSuffix("/") }
            guard listing.status == 0, members.count == 1 else {
                throw GlimpseError.badRequest("The zip archive must hold exactly one file to import; it holds \(members.count).")
            }
        }
        let cap = configuration.imageSizeCap
        let outcome = try await ProcessRunner.run(
            program, arguments, limits: .init(addressSpace: 1 << 30, fileSize: cap == Int64.max ? nil : cap + 1),
            stdinPath: kind == .zip ? nil : path, stdoutPath: output)
        guard outcome.status == 0, outcome.signal == nil else {
            // The file size limit stops the tool with SIGXFSZ, or with an error if it catches it (gzip does).
            let reached = ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? NSNumber)?.int64Value ?? 0
            try? FileManager.default.removeItem(atPath: output)
            if outcome.signal == 25 /* SIGXFSZ */ || reached >= cap {
                throw GlimpseError.tooLarge("The decompressed image exceeds the size limit of \(cap) bytes.")
            }
            logger.warning("decompression failed", metadata: ["image": "\(image.id)", "tool": "\(program)", "stderr": "\(outcome.stderr)"])
            throw GlimpseError.badRequest("The staged \(kind.rawValue) data could not be decompressed: it is damaged or truncated.")
        }
        try replace(path, with: output)
    }

    /// Renames `output` over `path` (same directory, so atomic).
    func replace(_ path: String, with output: String) throws {
        guard rename(output, path) == 0 else {
            try? FileManager.default.removeItem(atPath: output)
            throw GlimpseError(.internal, "The staged data could not be replaced.")
        }
    }

    // MARK: inject_image_metadata

    /// Adds `[inject_metadata_properties] inject` to the image (the task decided at request
    /// time whether the caller's roles exempt it).
    func injectMetadata(_ image: Image) async throws -> Image {
        guard !configuration.injectProperties.isEmpty else { return image }
        let inject = configuration.injectProperties
        return try await catalog.modifyImage(id: image.id, expecting: image.status) { changed in
            for (key, value) in inject { changed.properties[key] = value }
        }
    }

    // MARK: image_conversion

    /// qemu-img's name for a Glance disk format.
    static func qemuFormat(_ diskFormat: String) -> String { diskFormat == "vhd" ? "vpc" : diskFormat }

    /// Converts the staged data to `[image_conversion] output_format` with `qemu-img convert`,
    /// as Glance's plugin does, with its checks: the format inspector must recognise the claimed
    /// format and pass its safety checks before qemu-img ever sees the file; `qemu-img info`
    /// (under prlimit) must agree and show no backing or data file; the output is inspected
    /// again and must be the target format. Then `disk_format`, `container_format` (bare) and
    /// `virtual_size` follow the converted data.
    func convert(_ image: Image, staging: StagingArea) async throws -> Image {
        let target = configuration.conversionOutputFormat
        guard let source = image.diskFormat else { throw GlimpseError.conflict("'disk_format' needs to be set before import") }
        // Glance leaves ISOs and the Amazon kernel/ramdisk formats alone.
        if ["iso", "ami", "ari", "aki"].contains(source) { return image }
        let path = staging.path(for: image.id)
        try await checkBeforeConversion(path, claimed: source, image: image)
        let info = try await qemuInfo(path, format: source)
        if source == target { return image }
        let output = path + ".converting"
        let outcome = try await ProcessRunner.run(
            configuration.qemuImg, ["convert", "-f", Self.qemuFormat(source), "-O", Self.qemuFormat(target), "-q", path, output],
            limits: .init(addressSpace: 2 << 30, fileSize: configuration.imageSizeCap == Int64.max ? nil : configuration.imageSizeCap + 1))
        guard outcome.status == 0, outcome.signal == nil else {
            try? FileManager.default.removeItem(atPath: output)
            logger.warning("qemu-img convert failed", metadata: ["image": "\(image.id)", "stderr": "\(outcome.stderr)"])
            throw GlimpseError.badRequest("Image conversion from \(source) to \(target) failed.")
        }
        do {
            try await checkAfterConversion(output, target: target, image: image)
            let converted = try await qemuInfo(output, format: target)
            guard converted.virtualSize == info.virtualSize else {
                throw GlimpseError.badRequest("The converted image's virtual size differs from the original's.")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        try replace(path, with: output)
        let virtualSize = info.virtualSize
        return try await catalog.modifyImage(id: image.id, expecting: image.status) { changed in
            changed.diskFormat = target
            changed.containerFormat = "bare"
            changed.virtualSize = virtualSize
        }
    }

    struct QemuInfo {
        var format: String
        var virtualSize: Int64
    }

    /// `qemu-img info -f FORMAT --output=json` under prlimit (1 GiB address space, 30 s of CPU,
    /// Glance's limits), refusing what Glance refuses: a format qemu-img does not confirm, a
    /// backing file, an external data file, a VMDK create-type not allowed.
    func qemuInfo(_ path: String, format: String) async throws -> QemuInfo {
        let outcome = try await ProcessRunner.run(
            configuration.qemuImg, ["info", "-f", Self.qemuFormat(format), "--output=json", path],
            limits: .init(addressSpace: 1 << 30, cpuSeconds: 30))
        guard outcome.status == 0, outcome.signal == nil,
              let doc = (try? JSONValue.parse(Array(outcome.stdout)))?.objectValue
        else {
            logger.warning("qemu-img info failed", metadata: ["stderr": "\(outcome.stderr)"])
            throw GlimpseError.badRequest("The image data is not a valid \(format) image.")
        }
        guard doc["format"]?.stringValue == Self.qemuFormat(format) else {
            throw GlimpseError.badRequest("Image format mismatch: qemu-img reports \(doc["format"]?.stringValue ?? "nothing"), not \(format).")
        }
        if doc["backing-filename"] != nil {
            throw GlimpseError.badRequest("Image has a backing file; it is refused.")
        }
        let specific = doc["format-specific"]?.objectValue?["data"]?.objectValue
        if specific?["data-file"] != nil {
            throw GlimpseError.badRequest("Image has an external data file; it is refused.")
        }
        if format == "vmdk", let type = specific?["create-type"]?.stringValue,
           !["monolithicSparse", "streamOptimized"].contains(type) {
            throw GlimpseError.badRequest("Invalid VMDK create-type specified: \(type)")
        }
        guard let size = doc["virtual-size"]?.intValue else {
            throw GlimpseError.badRequest("qemu-img reports no virtual size for the image.")
        }
        return QemuInfo(format: format, virtualSize: size)
    }
}

extension ImageService {
    /// Runs the format inspector over a file in the staging area, chunk by chunk.
    func inspectStagedFile(_ path: String) async throws -> InspectionReport {
        guard let staging else { throw GlimpseError(.unavailable, "No staging area is configured.") }
        var inspector = FormatInspector(options: configuration.inspector)
        try await staging.store.read(location: "file://\(path)", range: nil) { chunk in inspector.feed(chunk) }
        return inspector.finish()
    }

    /// The format inspector's verdict on the staged file before any qemu-img call (Glance's
    /// plugin does the same since OSSA-2024-001): the data must be the claimed format and pass
    /// that format's safety checks (no backing file, no external data file, no VMDK extent
    /// naming another file...), so qemu-img never opens a hostile image.
    func checkBeforeConversion(_ path: String, claimed: String, image: Image) async throws {
        let report = try await inspectStagedFile(path)
        var options = configuration.inspector
        options.requireImageFormatMatch = true
        if case .refuse(let why) = report.verdict(diskFormat: claimed, containerFormat: "bare", options: options) {
            throw GlimpseError.badRequest("Image is not safe to convert: \(why)")
        }
        guard report.format == claimed else {
            throw GlimpseError.badRequest("Image format mismatch: the staged data is \(report.format), not \(claimed).")
        }
    }

    /// The inspector's verdict on qemu-img's output: it must be `target` (formats cannot be
    /// nested) and safe.
    func checkAfterConversion(_ path: String, target: String, image: Image) async throws {
        let report = try await inspectStagedFile(path)
        var options = configuration.inspector
        options.requireImageFormatMatch = true
        if case .refuse(let why) = report.verdict(diskFormat: target, containerFormat: "bare", options: options) {
            throw GlimpseError.badRequest("The converted image failed inspection: \(why)")
        }
    }
}
