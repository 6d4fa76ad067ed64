import Logging
import ServiceLifecycle

/// Work that outlives the request that started it (v1 `x-glance-api-copy-from`), run by one
/// `Service` in the application's `ServiceGroup`.
///
/// Jobs are not durable: a job running when the process stops is cancelled and cleans up after
/// itself (the image it was filling is killed, nothing is left in a store). The durable task
/// queue of interoperable import is a separate thing.
public final class BackgroundJobs: Service, Sendable {
    public typealias Job = @Sendable () async -> Void
    let stream: AsyncStream<Job>
    let continuation: AsyncStream<Job>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// Queues `job`; it starts at once if the service is running, otherwise when it starts.
    public func submit(_ job: @escaping Job) {
        continuation.yield(job)
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await job in stream { group.addTask { await job() } }
            } onGracefulShutdown: {
                self.continuation.finish()
            }
            group.cancelAll()
        }
    }
}
