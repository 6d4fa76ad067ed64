import NIOConcurrencyHelpers

/// Clean-ups a store could not do when they were due (its server was down while an upload was
/// being abandoned: segments to delete, a multipart upload to abort), retried until they
/// succeed so nothing stays orphaned once the server is back. Bounded: past `limit` the oldest
/// are dropped (and would need an operator's listing to find).
public final class DeferredCleanups: Sendable {
    public typealias Cleanup = @Sendable () async throws -> Void

    public static let limit = 100_000
    private let items = NIOLockedValueBox<[Cleanup]>([])
    private let finished = NIOLockedValueBox(0)

    public init() {}

    public var count: Int { items.withLockedValue { $0.count } }

    /// How many `retry` passes have finished (a pass cancelled mid-way puts its clean-ups back).
    public var passes: Int { finished.withLockedValue { $0 } }

    public func add(_ new: [Cleanup]) {
        guard !new.isEmpty else { return }
        items.withLockedValue { all in
            all.append(contentsOf: new)
            if all.count > Self.limit { all.removeFirst(all.count - Self.limit) }
        }
    }

    /// Tries every waiting clean-up once; returns how many still wait.
    @discardableResult
    public func retry() async -> Int {
        let due = items.withLockedValue { all in
            defer { all = [] }
            return all
        }
        var failed: [Cleanup] = []
        for cleanup in due {
            do { try await cleanup() } catch { failed.append(cleanup) }
        }
        add(failed)
        finished.withLockedValue { $0 += 1 }
        return count
    }

    /// Retries every `interval` until the calling task is cancelled (the application runs this
    /// in a service). Sends nothing while nothing waits.
    public func run(interval: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            if count > 0 { await retry() }
            try? await Task.sleep(for: interval)
        }
    }
}

/// A store that may leave clean-ups for later (see `DeferredCleanups`).
public protocol DefersCleanups: Sendable {
    var deferredCleanups: DeferredCleanups { get }
}
