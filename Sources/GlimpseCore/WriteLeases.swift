import Foundation
import GlimpseCatalog
import GlimpseDomain
import GlimpseStore
import Logging
import ServiceLifecycle
import Synchronization

/// This process's write leases (`WriteLease`): the writes it is streaming, with their writers,
/// so `WriteLeaseKeeper` can keep them alive and record what each would leave behind.
public final class WriteLeases: Sendable {
    /// Who holds this process's leases: unique per process, so a restarted node never takes
    /// its predecessor's leases for its own.
    public let holder: String
    private let active = Mutex<[String: Entry]>([:])

    struct Entry {
        var lease: WriteLease
        let writer: any BlobWriter
    }

    public init(node: String? = nil) {
        let name = (node ?? ProcessInfo.processInfo.hostName).prefix(24)
        holder = "\(name):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A lease for a write this process is about to start (not yet in the catalog).
    func lease(imageID: String, storeID: String, imageStatus: ImageStatus?, at time: Date) -> WriteLease {
        WriteLease(imageID: imageID, storeID: storeID, imageStatus: imageStatus, holder: holder, heartbeatAt: time)
    }

    func track(_ lease: WriteLease, writer: any BlobWriter) {
        active.withLock { $0[lease.id] = Entry(lease: lease, writer: writer) }
    }

    func untrack(_ lease: WriteLease) {
        _ = active.withLock { $0.removeValue(forKey: lease.id) }
    }

    /// The leases held now, each with its writer's current leftovers.
    func current() -> [WriteLease] {
        active.withLock { entries in
            entries.values.map { entry in
                var lease = entry.lease
                lease.leftovers = entry.writer.leftovers
                return lease
            }
        }
    }

    public var count: Int { active.withLock { $0.count } }
}

/// Keeps this node's write leases alive and undoes the writes of nodes that died.
///
/// Every quarter of `[task] glimpse_claim_timeout` it renews the leases of the writes this
/// process is streaming (with what each would leave behind), and takes over leases whose
/// heartbeat is older than the timeout: the store deletes what the dead writer left
/// (`BlobStore.deleteLeftovers`), then the image goes from the status the write had moved it
/// to (`saving`, `uploading`) back to `queued` with its data fields cleared, and the lease
/// ends, in one transaction. A step that fails (the store is down) leaves the lease with this
/// node, whose heartbeat it does not renew, so it goes stale again and is retried.
public struct WriteLeaseKeeper: Service {
    let service: ImageService
    let logger: Logger

    public init(service: ImageService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    public func run() async throws {
        let interval = Duration.milliseconds(Int64(max(0.2, service.configuration.taskClaimTimeout / 4) * 1000))
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await renew()
                await reapStale()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Renews this process's leases; a lease another node took over is logged (its write's
    /// outcome will not be recorded: `modifyImage` refuses a lease its holder lost).
    func renew() async {
        let leases = service.writeLeases.current()
        guard !leases.isEmpty else { return }
        do {
            let lost = try await service.catalog.renewLeases(leases, at: service.now())
            for id in lost {
                logger.warning("a write's lease was taken over by another node", metadata: ["lease": "\(id)"])
            }
        } catch {
            logger.warning("could not renew write leases", metadata: ["error": "\(error)"])
        }
    }

    /// Takes over and undoes every stale lease; returns how many were undone.
    @discardableResult
    public func reapStale() async -> Int {
        let staleBefore = service.now().addingTimeInterval(-service.configuration.taskClaimTimeout)
        let stale: [WriteLease]
        do {
            stale = try await service.catalog.staleLeases(before: staleBefore, limit: 100)
        } catch {
            logger.warning("could not look for abandoned writes", metadata: ["error": "\(error)"])
            return 0
        }
        var undone = 0
        for lease in stale {
            guard
                let taken = try? await service.catalog.takeLease(
                    lease, staleBefore: staleBefore, holder: service.writeLeases.holder, at: service.now())
            else { continue }
            if await service.undoAbandonedWrite(taken) { undone += 1 }
        }
        return undone
    }
}

extension ImageService {
    /// Undoes the write of a lease this node took over from a dead one: what the store kept,
    /// then the image's status, then the lease. False when a step failed (the lease then goes
    /// stale again and another pass retries it).
    func undoAbandonedWrite(_ lease: WriteLease) async -> Bool {
        let metadata: Logger.Metadata = ["image": "\(lease.imageID)", "store": "\(lease.storeID)", "lease": "\(lease.id)"]
        if let token = lease.leftovers {
            guard let store = leaseStore(lease.storeID) else {
                logger.error("an abandoned write's store is not configured here; its data stays", metadata: metadata)
                return false
            }
            do {
                // The object too when the image is still held in the write's status: then no
                // other write can be making it (an import's copy may be being redone by its task).
                try await store.deleteLeftovers(token, withObject: lease.imageStatus != nil)
            } catch {
                logger.warning("could not delete what an abandoned write left; will try again", metadata: metadata.merging(
                    ["error": "\(error)"]) { a, _ in a })
                return false
            }
        }
        do {
            if let status = lease.imageStatus {
                do {
                    try await catalog.modifyImage(id: lease.imageID, expecting: status, lease: .end(lease.reference)) { image in
                        image.status = .queued
                        image.clearData()
                    }
                    logger.notice("an abandoned write's image is queued again", metadata: metadata)
                    return true
                } catch let e as GlimpseError where !e.isLeaseLost && (e.code == .conflict || e.code == .notFound) {
                    // The image moved on (deleted, or settled otherwise): only the lease is left.
                }
            }
            try await catalog.endLease(lease.reference)
            return true
        } catch {
            logger.warning("could not settle an abandoned write", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
            return false
        }
    }

    /// The store a lease names: the staging store, or a configured one.
    func leaseStore(_ id: String) -> (any BlobStore)? {
        if let staging, staging.store.id == id { return staging.store }
        return stores.first { $0.id == id }
    }

    /// Ends a lease outside an image change (a write that failed, or whose image moved on);
    /// never throws: a lease left behind only makes another node undo a write already undone.
    func endWriteLease(_ lease: WriteLease) async {
        do {
            try await catalog.endLease(lease.reference)
        } catch {
            logger.warning("could not end a write lease", metadata: ["lease": "\(lease.id)", "error": "\(error)"])
        }
    }
}
