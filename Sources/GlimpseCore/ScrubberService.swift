import Foundation
import Logging
import ServiceLifecycle

/// Runs `Scrubber.scrubOnce()` at once and then every `wakeup_time` seconds until graceful
/// shutdown (a pass in progress is cancelled; what it had not finished stays `pending_delete`).
public struct ScrubberService: Service {
    public let scrubber: Scrubber
    let logger: Logger

    public init(scrubber: Scrubber, logger: Logger) {
        self.scrubber = scrubber
        self.logger = logger
    }

    public func run() async throws {
        let interval = max(1, scrubber.configuration.wakeupTime)
        logger.info("scrubber running", metadata: ["wakeup_time": "\(interval)", "scrub_time": "\(scrubber.configuration.scrubTime)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await scrubber.scrubOnce()
                    if report != ScrubReport() {
                        logger.info(
                            "scrub pass done",
                            metadata: ["scrubbed": "\(report.imagesScrubbed)", "locations": "\(report.locationsDeleted)",
                                       "failed": "\(report.failedImages.count)"])
                    }
                } catch {
                    logger.error("scrub pass could not read the catalog", metadata: ["error": "\(Scrubber.describe(error))"])
                }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
            }
        }
    }
}
