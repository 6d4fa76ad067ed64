import Foundation
import GlimpseDomain
import GlimpseStore
import NIOCore
import Synchronization

/// The staging store (`node_staging_uri`, or `os_glance_staging_store` with multi-store), where
/// staged and downloaded data waits for its import task. Its writes are staged like any
/// store's, so an interrupted stage leaves nothing.
///
/// Either a local directory (Glance's file staging; plugins work on the files in place), or,
/// when several nodes share the work, an object store every node reaches
/// (`glimpse_store_type = swift|s3`): any node's task worker then finds the data by image id,
/// and plugins work on a node-local copy that is written back when they changed it.
public struct StagingArea: Sendable {
    public let store: any BlobStore
    /// The directory staged files live in; nil when the staging store is shared.
    public let directory: String?
    /// Shared staging: a file store on a node-local directory where plugins work.
    let scratch: (store: any BlobStore, directory: String)?

    /// File staging in `directory`, served by `store` (a file store on it).
    public init(store: any BlobStore, directory: String) {
        self.store = store
        self.directory = directory
        self.scratch = nil
    }

    /// Shared staging on `store`, whose driver must know its locations in advance; plugins
    /// work in `scratchDirectory` through `scratchStore`.
    public init(shared store: any BlobStore, scratchStore: any BlobStore, scratchDirectory: String) {
        self.store = store
        self.directory = nil
        self.scratch = (scratchStore, scratchDirectory)
    }

    public var isShared: Bool { directory == nil }

    /// The local file of the staged data (file staging), where plugins work.
    public func path(for imageID: String) -> String { "\(directory ?? scratch?.directory ?? "")/\(imageID)" }

    public func location(for imageID: String) -> String {
        if let directory { return "file://\(directory)/\(imageID)" }
        return store.location(forImageID: imageID) ?? ""
    }

    /// The staged data's size, or nil when nothing is staged. A staging store that cannot be
    /// reached is an error, not an absence.
    public func stagedSize(_ imageID: String) async throws -> Int64? {
        if directory != nil {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path(for: imageID)),
                let size = attributes[.size] as? NSNumber
            else { return nil }
            return size.int64Value
        }
        do {
            return try await store.size(location: location(for: imageID))
        } catch let error as GlimpseError where error.code == .notFound {
            return nil
        }
    }

    public func read(_ imageID: String, into sink: (ByteBuffer) async throws -> Void) async throws {
        try await store.read(location: location(for: imageID), range: nil, into: sink)
    }

    /// Removes the staged data and any plugin leftovers; removing nothing succeeds.
    public func remove(_ imageID: String) async {
        try? await store.delete(location: location(for: imageID))
        for suffix in [""] + Self.workSuffixes where isShared || !suffix.isEmpty {
            try? FileManager.default.removeItem(atPath: path(for: imageID) + suffix)
        }
    }

    /// Runs `body` on a file-staging view of the data: this area itself with file staging;
    /// with shared staging, a node-local copy, written back to the shared store if `body`
    /// changed it, and removed afterwards.
    func withLocalFile<T>(_ imageID: String, _ body: (StagingArea) async throws -> T) async throws -> T {
        guard let scratch else { return try await body(self) }
        let local = StagingArea(store: scratch.store, directory: scratch.directory)
        let path = local.path(for: imageID)
        defer { for suffix in [""] + Self.workSuffixes { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let writer = try await scratch.store.makeWriter(imageID: imageID, expectedSize: try await stagedSize(imageID))
        do {
            try await read(imageID) { try await writer.write($0) }
            _ = try await writer.commit()
        } catch {
            await writer.cancel()
            throw error
        }
        let before = Self.identity(path)
        let result = try await body(local)
        guard Self.identity(path) != before else { return result }
        let size = try await local.stagedSize(imageID)
        let back = try await store.makeWriter(imageID: imageID, expectedSize: size)
        do {
            try await local.read(imageID) { try await back.write($0) }
            _ = try await back.commit()
        } catch {
            await back.cancel()
            throw error
        }
        return result
    }

    /// What changes when a plugin replaces the file: its inode, size and modification time.
    static func identity(_ path: String) -> [String] {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return [] }
        return ["\(a[.systemFileNumber] ?? "")", "\(a[.size] ?? "")", "\(a[.modificationDate] ?? "")"]
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
