import Foundation
import GlimpseDomain

/// Runs a helper program (qemu-img, a decompressor) under resource limits, as Glance runs
/// qemu-img under `prlimit`: `prlimit --as=… --cpu=… --fsize=… -- program args`. Standard input
/// and output may be files; standard error is kept (bounded) for the log, never shown to clients.
struct ProcessRunner {
    struct Limits {
        var addressSpace: Int64?
        var cpuSeconds: Int?
        var fileSize: Int64?
    }

    struct Outcome {
        var status: Int32
        /// The signal that ended the program, if one did (SIGXFSZ: the output limit).
        var signal: Int32?
        var stdout: Data
        var stderr: String
    }

    static func run(
        _ program: String, _ arguments: [String], limits: Limits, stdinPath: String? = nil, stdoutPath: String? = nil
    ) async throws -> Outcome {
        var argv: [String] = []
        if let a = limits.addressSpace { argv.append("--as=\(a)") }
        if let c = limits.cpuSeconds { argv.append("--cpu=\(c)") }
        if let f = limits.fileSize { argv.append("--fsize=\(f)") }
        let process = Process()
        if argv.isEmpty {
            process.executableURL = try resolve(program)
            process.arguments = arguments
        } else {
            process.executableURL = try resolve("prlimit")
            process.arguments = argv + ["--", try resolve(program).path] + arguments
        }
        var stdinHandle: FileHandle?
        var stdoutHandle: FileHandle?
        if let stdinPath {
            guard let h = FileHandle(forReadingAtPath: stdinPath) else { throw GlimpseError(.internal, "The staged data cannot be read.") }
            stdinHandle = h
            process.standardInput = h
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let outPipe = Pipe()
        if let stdoutPath {
            guard FileManager.default.createFile(atPath: stdoutPath, contents: nil),
                  let h = FileHandle(forWritingAtPath: stdoutPath)
            else { throw GlimpseError(.internal, "The staging area cannot be written.") }
            stdoutHandle = h
            process.standardOutput = h
        } else {
            process.standardOutput = outPipe
        }
        let errPipe = Pipe()
        process.standardError = errPipe
        defer {
            try? stdinHandle?.close()
            try? stdoutHandle?.close()
        }
        let collected = Collector()
        errPipe.fileHandleForReading.readabilityHandler = { h in collected.append(err: h.availableData) }
        if stdoutPath == nil {
            outPipe.fileHandleForReading.readabilityHandler = { h in collected.append(out: h.availableData) }
        }
        let finished: Void = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                process.terminationHandler = { _ in c.resume() }
                do {
                    try process.run()
                } catch {
                    process.terminationHandler = nil
                    c.resume(throwing: GlimpseError(.internal, "\(program) could not be started.", underlying: error))
                }
            }
        } onCancel: {
            if process.isRunning { process.terminate() }
        }
        _ = finished
        errPipe.fileHandleForReading.readabilityHandler = nil
        outPipe.fileHandleForReading.readabilityHandler = nil
        collected.append(err: (try? errPipe.fileHandleForReading.readToEnd()) ?? Data())
        if stdoutPath == nil { collected.append(out: (try? outPipe.fileHandleForReading.readToEnd()) ?? Data()) }
        try Task.checkCancellation()
        let signal = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        // prlimit passes its child's death by signal on as exit status 128+N.
        let viaPrlimit = !argv.isEmpty && process.terminationStatus > 128 ? process.terminationStatus - 128 : nil
        return Outcome(
            status: process.terminationStatus, signal: signal ?? viaPrlimit, stdout: collected.out,
            stderr: String(decoding: collected.err.prefix(4096), as: UTF8.self))
    }

    static func resolve(_ program: String) throws -> URL {
        if program.contains("/") { return URL(fileURLWithPath: program) }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return URL(fileURLWithPath: path) }
        }
        throw GlimpseError(.internal, "\(program) is not installed on this node.")
    }

    /// Output gathered from the pipes' handlers (other threads).
    final class Collector: @unchecked Sendable {
        // @unchecked: every access holds `lock`.
        let lock = NSLock()
        var out = Data()
        var err = Data()
        func append(out d: Data) { lock.lock(); if out.count < 1 << 20 { out.append(d) }; lock.unlock() }
        func append(err d: Data) { lock.lock(); if err.count < 1 << 16 { err.append(d) }; lock.unlock() }
    }
}
