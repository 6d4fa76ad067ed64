import ArgumentParser
import Foundation
import GlimpseApp
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import Logging

/// Options shared by every command that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "A glance-api.conf style INI file.")
    var config: String?

    @Option(name: .long, parsing: .singleValue, help: "Override any option: --set section.name=value (repeatable).")
    var set: [String] = []

    @Option(name: .customLong("bind-host"), help: "Address to listen on (DEFAULT.bind_host).") var bindHost: String?
    @Option(name: .customLong("bind-port"), help: "Port to listen on (DEFAULT.bind_port; 0 picks one).") var bindPort: String?
    @Option(name: .customLong("connection"), help: "Catalog URL ([database] connection).") var connection: String?
    @Option(name: .customLong("filesystem-store-datadir"), help: "Filesystem store directory.") var datadir: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel: String = "info"

    func load(role: GlimpseConfiguration.Role = .api) throws -> GlimpseConfiguration {
        var file: INIFile?
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("cannot read configuration file \(config)")
            }
            file = try INIFile(parsing: text)
        }
        var flags: [String: String] = [:]
        if let bindHost { flags["bind-host"] = bindHost }
        if let bindPort { flags["bind-port"] = bindPort }
        if let connection { flags["connection"] = connection }
        if let datadir { flags["filesystem-store-datadir"] = datadir }
        var merged = file ?? INIFile()
        if !set.isEmpty {
            var values = merged.values
            for item in set {
                guard let eq = item.firstIndex(of: "="), item[..<eq].contains(".") else {
                    throw ValidationError("--set takes section.name=value, got \(item)")
                }
                values[String(item[..<eq])] = String(item[item.index(after: eq)...])
            }
            merged = INIFile(values: values)
        }
        return try GlimpseConfiguration.load(
            file: merged, environment: ProcessInfo.processInfo.environment, flags: flags, role: role,
            configDirectory: config.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path })
    }

    func logger() -> Logger {
        var logger = Logger(label: "glimpse")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

@main
struct Glimpse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "An OpenStack Glance-compatible image service.",
        subcommands: [Serve.self, DB.self, Control.self, Scrub.self, Inspect.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the image API (SQLite and ./data by default).")
    @OptionGroup var options: ConfigOptions
    @Option(help: "api (the Image API, port 9292 by default) or registry (glance-registry's API, 9191).")
    var role: String = "api"

    func run() async throws {
        guard let role = GlimpseConfiguration.Role(rawValue: role) else {
            throw ValidationError("--role must be api or registry")
        }
        let configuration = try options.load(role: role)
        try await GlimpseApp.serve(configuration, logger: options.logger())
    }
}

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Catalog maintenance.", subcommands: [Sync.self, LoadMetadefs.self])

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or upgrade the catalog schema (glance-manage db_sync).")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let configuration = try options.load()
            let (_, executor) = try await GlimpseApp.openCatalog(configuration, logger: options.logger())
            try await executor.close()
            print("catalog is at Glance's migration head")
        }
    }

    struct LoadMetadefs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load-metadefs", abstract: "Load metadata definition files (glance-manage db load_metadefs).",
            aliases: ["load_metadefs"])
        @OptionGroup var options: ConfigOptions
        @Argument(help: "A directory of Glance metadef JSON files, or one file.")
        var path: String = "/etc/glance/metadefs"

        func run() async throws {
            let lines = try await GlimpseApp.loadMetadefs(try options.load(), path: path, logger: options.logger())
            for line in lines { print(line) }
            if lines.contains(where: { $0.hasPrefix("failed") }) { throw ExitCode(1) }
        }
    }
}

/// glance-scrubber: one pass (for cron), `--daemon`, or `--restore ID`.
struct Scrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the data of pending_delete images older than scrub_time (glance-scrubber).",
        discussion: "Exits with status 1 when some data could not be deleted; those images stay pending_delete and the next pass retries them.")
    @OptionGroup var options: ConfigOptions
    @Flag(name: [.customShort("D"), .long], help: "Run a pass every wakeup_time seconds until SIGTERM or SIGINT.")
    var daemon = false
    @Option(name: .long, help: "Bring a pending_delete image back to active instead of scrubbing.")
    var restore: String?

    func validate() throws {
        if daemon, restore != nil {
            throw ValidationError("--restore and --daemon cannot be used together")
        }
    }

    func run() async throws {
        let configuration = try options.load()
        let logger = options.logger()
        if daemon {
            try await GlimpseApp.runScrubberDaemon(configuration, logger: logger)
            return
        }
        do {
            if let restore {
                try await GlimpseApp.withScrubber(configuration, logger: logger) { try await $0.restore(imageID: restore) }
                print("image \(restore) restored to active")
                return
            }
            let report = try await GlimpseApp.withScrubber(configuration, logger: logger) { try await $0.scrubOnce() }
            print("scrubbed \(report.imagesScrubbed) image(s), deleted \(report.locationsDeleted) location(s)")
            if !report.failedImages.isEmpty {
                print("\(report.failedImages.count) image(s) stay pending_delete: \(report.failedImages.joined(separator: ", "))")
                throw ExitCode(1)
            }
        } catch let error as GlimpseError {
            FileHandle.standardError.write(Data("ERROR: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
