import ArgumentParser
import Foundation
import GlimpseApp
import GlimpseCore
import GlimpseInspector
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `glimpse inspect FILE…`: runs the upload path's format inspector over files, for operators
/// auditing a store or checking an image before uploading it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect disk-image formats, virtual sizes and safety-check results of files.",
        discussion: """
            Prints, for each file, the detected format (Glance's disk_format names), its virtual size and \
            each safety check with pass or FAIL. With --disk-format it also prints what an upload of the \
            file as that disk_format (container_format bare) would get. Options come from the \
            configuration's [image_format] section (vmdk_allowed_types, require_image_format_match, \
            gpt_safety_checks_nonfatal). Exits 1 when any file fails a check or is refused, 2 when \
            one cannot be read.
            """)

    @OptionGroup var options: ConfigOptions
    @Argument(help: "Image files to inspect.") var files: [String]
    @Option(name: .customLong("disk-format"), help: "Also judge an upload of each file as this disk_format.")
    var diskFormat: String?
    @Option(name: .customLong("chunk-size"), help: "Bytes per chunk fed to the inspector.") var chunkSize = 65536
    @Flag(help: "Measure the inspector: feed each file's first 64 MiB from memory repeatedly (at least 1 GiB in all).")
    var bench = false

    func run() throws {
        let inspectorOptions = try options.load().service.inspector
        guard chunkSize > 0 else { throw ValidationError("--chunk-size must be positive") }
        var worst: Int32 = 0
        for path in files {
            if bench {
                try benchmark(path, options: inspectorOptions)
                continue
            }
            let report: InspectionReport
            do {
                report = try Self.inspect(path, chunkSize: chunkSize, options: inspectorOptions)
            } catch {
                print("\(path): cannot be read (\(error))")
                worst = 2
                continue
            }
            var line = "\(path): \(report.format)"
            if let sub = report.subformat { line += " (\(sub))" }
            line += ", virtual size \(report.virtualSize.map(String.init) ?? "unknown"), \(report.actualSize) bytes"
            if report.matches.count > 1 { line += " (signatures of: \(report.matches.joined(separator: ", ")))" }
            print(line)
            if let error = report.formatError { print("  format: FAIL (\(error))") }
            if report.checks.isEmpty { print("  (no safety checks for this format)") }
            for check in report.checks { print("  \(check)") }
            if !report.safe { worst = max(worst, 1) }
            if let diskFormat {
                switch report.verdict(diskFormat: diskFormat, containerFormat: "bare", options: inspectorOptions) {
                case .accept(let v): print("  upload as \(diskFormat): accepted, virtual_size \(v.map(String.init) ?? "null")")
                case .refuse(let why):
                    print("  upload as \(diskFormat): refused (415): \(why)")
                    worst = max(worst, 1)
                case .notInspected: break
                }
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    /// Reads a file in `chunkSize` pieces through the inspector.
    static func inspect(_ path: String, chunkSize: Int, options: InspectorOptions) throws -> InspectionReport {
        var inspector = FormatInspector(options: options)
        try forEachChunk(path, chunkSize: chunkSize) { inspector.feed($0) }
        return inspector.finish()
    }

    static func forEachChunk(_ path: String, chunkSize: Int, limit: Int64 = .max, _ body: (ByteBuffer) -> Void) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: chunkSize)
        var total: Int64 = 0
        while total < limit {
            buffer.clear()
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { raw in
                read(fd, raw.baseAddress, min(chunkSize, raw.count))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            if n == 0 { break }
            total += Int64(n)
            body(buffer)
        }
    }

    /// Inspector cost per GiB: the file's first 64 MiB held in memory as 64 KiB chunks, fed
    /// through fresh inspectors until at least 1 GiB has passed.
    func benchmark(_ path: String, options: InspectorOptions) throws {
        var chunks: [ByteBuffer] = []
        try Self.forEachChunk(path, chunkSize: chunkSize, limit: 64 << 20) { chunks.append($0) }
        let bytes = chunks.reduce(0) { $0 + $1.readableBytes }
        guard bytes > 0 else { throw ValidationError("\(path) is empty") }
        let rounds = max(1, (1 << 30) / bytes)
        let clock = ContinuousClock()
        var format = ""
        let elapsed = clock.measure {
            for _ in 0..<rounds {
                var inspector = FormatInspector(options: options)
                for c in chunks { inspector.feed(c) }
                format = inspector.finish().format
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let gib = Double(bytes) * Double(rounds) / Double(1 << 30)
        print(String(format: "%@: %@, %.2f GiB inspected in %.3f s: %.1f ms per GiB (%.1f GiB/s), chunks of %d bytes",
                     path, format, gib, seconds, seconds / gib * 1000, gib / seconds, chunkSize))
    }
}
