import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging

/// Glance's scrubber options (`[DEFAULT]`), plus where Glimpse runs it.
public struct ScrubberConfiguration: Sendable {
    /// `scrub_time`: seconds an image stays `pending_delete` before its data is deleted.
    public var scrubTime: TimeInterval = 0
    /// `wakeup_time`: seconds between passes of a running scrubber.
    public var wakeupTime: TimeInterval = 300
    /// `scrub_pool_size`: images scrubbed at the same time.
    public var poolSize = 1
    /// `glimpse_scrubber_in_api`: `glimpse serve` runs the scrubber itself when `delayed_delete`
    /// is on, so no separate daemon is needed.
    public var runInAPI = true

    public init() {}
}

/// What one pass did.
public struct ScrubReport: Sendable, Equatable {
    /// Images whose data is all gone, now `deleted`.
    public var imagesScrubbed = 0
    /// Locations whose data was deleted (or found already gone) and marked `deleted`.
    public var locationsDeleted = 0
    /// Images left `pending_delete` because a location could not be deleted; the next pass retries.
    public var failedImages: [String] = []

    public init() {}
}

/// Deletes the data of `pending_delete` images once `scrub_time` has passed (Glance's
/// glance-scrubber), on the same catalog rows Glance uses.
///
/// A location is marked `deleted` only after its store confirmed the deletion (an object that is
/// not there counts as deleted), and an image becomes `deleted` only when none of its locations
/// is left, so data still in a store always has a `pending_delete` row pointing at it.
public struct Scrubber: Sendable {
    public let service: ImageService
    public let configuration: ScrubberConfiguration
    let logger: Logger
    /// Images read from the catalog at a time.
    let pageSize: Int

    public init(service: ImageService, configuration: ScrubberConfiguration, logger: Logger? = nil, pageSize: Int = 100) {
        self.service = service
        self.configuration = configuration
        self.logger = logger ?? service.logger
        self.pageSize = pageSize
    }

    /// One pass over every image due for scrubbing, `scrub_pool_size` images at a time.
    /// Failures are logged and reported, never thrown; only a catalog that cannot list throws.
    public func scrubOnce() async throws -> ScrubReport {
        let cutoff = service.now().addingTimeInterval(-configuration.scrubTime)
        var report = ScrubReport()
        var marker: String?
        while true {
            let page = try await service.catalog.pendingDeletions(deletedBefore: cutoff, after: marker, limit: pageSize)
            guard let last = page.last else { break }
            marker = last.imageID
            let outcomes = await withTaskGroup(of: ImageOutcome.self, returning: [ImageOutcome].self) { group in
                var outcomes: [ImageOutcome] = []
                var next = page.makeIterator()
                for _ in 0..<max(1, configuration.poolSize) {
                    guard let item = next.next() else { break }
                    group.addTask { await scrub(item) }
                }
                while let outcome = await group.next() {
                    outcomes.append(outcome)
                    if let item = next.next() { group.addTask { await scrub(item) } }
                }
                return outcomes
            }
            for outcome in outcomes {
                report.locationsDeleted += outcome.locationsDeleted
                if outcome.finished { report.imagesScrubbed += 1 }
                if outcome.failed { report.failedImages.append(outcome.imageID) }
            }
            if page.count < pageSize { break }
        }
        report.failedImages.sort()
        return report
    }

    struct ImageOutcome: Sendable {
        var imageID: String
        var locationsDeleted = 0
        var failed = false
        var finished = false
    }

    /// Deletes each location's data, marks it `deleted`, and finishes the image when all are gone.
    func scrub(_ pending: PendingDeletion) async -> ImageOutcome {
        var outcome = ImageOutcome(imageID: pending.imageID)
        for location in pending.locations {
            do {
                try await deleteData(location)
                try await service.catalog.markLocationDeleted(imageID: pending.imageID, locationID: location.id)
                outcome.locationsDeleted += 1
            } catch {
                outcome.failed = true
                logger.warning(
                    "could not scrub an image location; the image stays pending_delete for the next pass",
                    metadata: ["image": "\(pending.imageID)", "location": "\(location.id)", "error": "\(Self.describe(error))"])
            }
        }
        guard !outcome.failed else { return outcome }
        do {
            try await service.catalog.finishImageDeletion(id: pending.imageID)
            outcome.finished = true
            logger.info("image scrubbed", metadata: ["image": "\(pending.imageID)", "locations": "\(outcome.locationsDeleted)"])
        } catch {
            // Restored meanwhile, or finished by another scrubber: nothing of ours is lost.
            logger.notice("image not marked deleted", metadata: ["image": "\(pending.imageID)", "error": "\(Self.describe(error))"])
        }
        return outcome
    }

    /// Deletes the data at one location. Data that is already gone, and read-only (external
    /// http) locations, count as deleted; a location no configured store handles does not.
    func deleteData(_ location: PendingDeletion.Location) async throws {
        guard let store = service.store(for: location.imageLocation) else {
            throw GlimpseError(.unavailable, "No configured store handles this location.")
        }
        if store.capabilities.readOnly { return }
        do {
            try await store.delete(location: location.url)
        } catch let error as GlimpseError where error.code == .notFound {
            return
        }
    }

    /// `glimpse scrub --restore ID`: a `pending_delete` image back to `active` with its data.
    public func restore(imageID: String) async throws {
        guard ImageService.isUUID(imageID) else { throw GlimpseError.imageNotFound(imageID) }
        try await service.catalog.restoreImage(id: imageID)
        logger.notice("image restored from pending_delete", metadata: ["image": "\(imageID)"])
    }

    /// For the log: the client-safe message and the kind of the cause, never a location URI
    /// (it may carry credentials) or a path.
    static func describe(_ error: any Error) -> String {
        if let e = error as? GlimpseError {
            return e.underlying.map { "\(e.code.rawValue): \(e.message) (\(type(of: $0)))" } ?? "\(e.code.rawValue): \(e.message)"
        }
        return "\(type(of: error))"
    }
}
