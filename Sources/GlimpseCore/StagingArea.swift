import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore
import Synchronization

/// The staging store (`node_staging_uri`, or `os_glance_staging_store` with multi-store): a
/// file store directory where staged and downloaded data waits for its import task. Its writes
/// are staged like any store's, so an interrupted stage leaves nothing; plugins work on the
/// files in place (`path(for:)`), as Glance's do.
public struct StagingArea: Sendable {
    public let store: any BlobStore
    public let directory: String

    public init(store: any BlobStore, directory: String) {
        self.store = store
        self.directory = directory
    }

    public func path(for imageID: String) -> String { "\(directory)/\(imageID)" }
    public func location(for imageID: String) -> String { "file://\(path(for: imageID))" }

    /// The staged data's size, or nil when nothing is staged.
    public func stagedSize(_ imageID: String) -> Int64? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path(for: imageID)),
              let size = attributes[.size] as? NSNumber
        else { return nil }
        return size.int64Value
    }

    public func read(_ imageID: String, into sink: (ByteBuffer) async throws -> Void) async throws {
        try await store.read(location: location(for: imageID), range: nil, into: sink)
    }

    /// Removes the staged data and any plugin leftovers; removing nothing succeeds.
    public func remove(_ imageID: String) async {
        try? await store.delete(location: location(for: imageID))
        for suffix in Self.workSuffixes {
            try? FileManager.default.removeItem(atPath: path(for: imageID) + suffix)
        }
    }

    /// Files plugins write next to the staged data before replacing it.
    static let workSuffixes = [".converting", ".decompressing"]
}

/// Wakes the task worker as soon as a task is queued (it also polls, for tasks other nodes
/// queue). One waiter, the worker's dispatcher; a signal with nobody waiting is kept.
public final class TaskSignal: Sendable {
    struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a signal, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
