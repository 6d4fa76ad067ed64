import Foundation
import GlimpseCatalog
import GlimpseDomain
import Logging
import ServiceLifecycle
import Synchronization

/// Runs queued tasks: claims them from the catalog (so any node sharing it may run any task),
/// keeps each claim alive with a heartbeat while the task runs, and gives a task back
/// (`pending`) when the process shuts down in the middle of it. A node that dies without
/// giving its tasks back leaves their heartbeats to go stale; after `task_claim_timeout`
/// another worker (or this one, restarted) takes them over.
public struct TaskWorker: Service {
    let service: ImageService
    let pollInterval: Duration
    let logger: Logger

    public init(service: ImageService, pollInterval: Duration = .seconds(1), logger: Logger) {
        self.service = service
        self.pollInterval = pollInterval
        self.logger = logger
    }

    static let types = ["api_image_import", "import"]

    public func run() async throws {
        let slots = Slots(limit: max(1, service.configuration.taskWorkers))
        try await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                var lastPurge = ContinuousClock.now
                while !Task.isCancelled {
                    while slots.acquire() {
                        guard let task = await claim() else {
                            slots.release()
                            break
                        }
                        group.addTask {
                            await execute(task)
                            slots.release()
                            service.taskSignal.signal()
                        }
                    }
                    if ContinuousClock.now - lastPurge > .seconds(60) {
                        lastPurge = .now
                        _ = try? await service.catalog.purgeExpiredTasks()
                    }
                    await service.taskSignal.wait(timeout: pollInterval)
                }
            }
        }
    }

    func claim() async -> ImageTask? {
        let stale = Date().addingTimeInterval(-service.configuration.taskClaimTimeout)
        do {
            return try await service.catalog.claimTask(types: Self.types, staleBefore: stale)
        } catch {
            logger.warning("could not claim a task", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Runs one claimed task beside its heartbeat; whichever ends first ends the other. A lost
    /// claim (another node took the task over) cancels the run without touching the task.
    func execute(_ task: ImageTask) async {
        let progress = TaskProgress()
        let interval = Duration.milliseconds(Int64(max(0.2, service.configuration.taskClaimTimeout / 4) * 1000))
        logger.info("task started", metadata: ["task": "\(task.id)", "type": "\(task.type)", "attempt": "\(task.attempts)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await service.runTask(task, progress: progress)
                } catch {
                    // Cancelled: shutting down (give the task back) or the claim was lost (leave it).
                    guard !progress.lost else { return }
                    // Detached: this task is cancelled, and the catalog call must still run.
                    await Task.detached { await service.releaseTask(task) }.value
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    do {
                        let alive = try await service.catalog.heartbeat(
                            taskID: task.id, attempt: task.attempts, message: progress.takeMessage())
                        if !alive {
                            progress.markLost()
                            logger.warning("task claim lost", metadata: ["task": "\(task.id)"])
                            return
                        }
                    } catch {
                        logger.info("task heartbeat failed", metadata: ["task": "\(task.id)", "error": "\(error)"])
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// How many tasks run at once on this node.
final class Slots: Sendable {
    let limit: Int
    let used = Mutex(0)

    init(limit: Int) { self.limit = limit }

    func acquire() -> Bool {
        used.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func release() { used.withLock { $0 -= 1 } }
}

/// What a running task reports: its latest progress message, written with the next heartbeat.
public final class TaskProgress: Sendable {
    struct State {
        var message: String?
        var lost = false
    }
    let state = Mutex(State())

    public init() {}

    public func report(_ message: String) { state.withLock { $0.message = message } }
    func takeMessage() -> String? { state.withLock { s in defer { s.message = nil }; return s.message } }
    func markLost() { state.withLock { $0.lost = true } }
    var lost: Bool { state.withLock { $0.lost } }
}
