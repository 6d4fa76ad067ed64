import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glance-control's job: start, stop, restart and report a `glimpse serve` daemon, with a pid
/// file and a log file (Juno's defaults: /var/run/glance, /var/log/glance).
struct Control: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start, stop, restart or report a Glimpse server in the background (glance-control).")

    enum Server: String, ExpressibleByArgument, CaseIterable { case api, registry }
    enum Action: String, ExpressibleByArgument, CaseIterable { case start, stop, restart, status }

    @Argument(help: "api or registry") var server: Server
    @Argument(help: "start, stop, restart or status") var action: Action
    @Option(name: .customLong("pid-dir"), help: "Where the pid file goes.") var pidDir = "/var/run/glance"
    @Option(name: .customLong("log-dir"), help: "Where the log file goes.") var logDir = "/var/log/glance"
    @Option(name: .long, help: "Configuration file passed to the server.") var config: String?
    @Option(name: .customLong("bind-port"), help: "Port passed to the server.") var bindPort: String?
    @Option(name: .customLong("bind-host"), help: "Address passed to the server.") var bindHost: String?

    var name: String { "glimpse-\(server.rawValue)" }
    var pidFile: String { "\(pidDir)/\(name).pid" }
    var logFile: String { "\(logDir)/\(name).log" }

    func run() throws {
        switch action {
        case .start: try start()
        case .stop: try stop()
        case .restart:
            if runningPID() != nil { try stop() }
            try start()
        case .status:
            if let pid = runningPID() {
                print("\(name) (pid \(pid)) is running")
            } else {
                print("\(name) is stopped")
                throw ExitCode(3)
            }
        }
    }

    func runningPID() -> Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    func start() throws {
        if let pid = runningPID() {
            print("\(name) appears to already be running: pid \(pid)")
            throw ExitCode(1)
        }
        let fm = FileManager.default
        for dir in [pidDir, logDir] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        if !fm.fileExists(atPath: logFile) { fm.createFile(atPath: logFile, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logFile) else { throw ValidationError("cannot write \(logFile)") }
        let logStart = log.seekToEndOfFile()

        var serveArgs = ["serve", "--role", server.rawValue]
        if let config { serveArgs += ["--config", URL(fileURLWithPath: config).path] }
        if let bindPort { serveArgs += ["--bind-port", bindPort] }
        if let bindHost { serveArgs += ["--bind-host", bindHost] }
        let me = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let process = Process()
        // Foundation starts the child in a process group of its own, so terminal signals to this
        // command's group do not reach it. (setsid(1) used to wrap it, but setsid forks when its
        // caller leads a process group: the recorded pid was an exited process and `stop`
        // left the server running.)
        process.executableURL = URL(fileURLWithPath: me)
        process.arguments = serveArgs
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)

        // Wait until the server says it listens, or dies.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if kill(pid, 0) != 0 || !process.isRunning { break }
            if let data = try? Data(contentsOf: URL(fileURLWithPath: logFile)), data.count > Int(logStart),
               String(decoding: data[Int(logStart)...], as: UTF8.self).contains("glimpse listening")
            {
                print("Starting \(name) (pid \(pid)), log \(logFile)")
                return
            }
            usleep(50_000)
        }
        try? fm.removeItem(atPath: pidFile)
        print("\(name) did not start; see \(logFile)")
        throw ExitCode(1)
    }

    func stop() throws {
        guard let pid = runningPID() else {
            try? FileManager.default.removeItem(atPath: pidFile)
            print("\(name) is not running")
            return
        }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while kill(pid, 0) == 0, Date() < deadline { usleep(50_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
        print("Stopped \(name) (pid \(pid))")
    }
}
