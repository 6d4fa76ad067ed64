import Crypto
import Foundation
import GlimpseCatalog
import GlimpseCore
import GlimpseDomain
import GlimpseStore
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The task queue in the catalog (claims, heartbeats, takeover, expiry) and the import flows
/// that run on it: staging, glance-direct, failures, the lock, and resuming after a crash.
@Suite struct TaskQueueTests {
    static func catalog(clock: @escaping @Sendable () -> Date = { Date() }) async throws -> (SQLCatalog, SQLiteExecutor) {
        let executor = try await SQLiteExecutor.open(path: ":memory:")
        let catalog = SQLCatalog(executor: executor, clock: clock)
        try await catalog.migrate()
        return (catalog, executor)
    }

    static func task(_ id: String = UUID().uuidString.lowercased(), owner: String = "p", status: TaskStatus = .pending,
                     created: Date = Date(), updated: Date? = nil) -> ImageTask {
        ImageTask(id: id, type: "api_image_import", status: status, owner: owner, imageID: "img",
                  input: .object(JSONObject([("image_id", .string("img"))])), createdAt: created, updatedAt: updated)
    }

    // MARK: catalog

    @Test func claimsHandEachTaskToOneWorker() async throws {
        try await CatalogBackends.each { name, catalog in
        for i in 0..<6 { try await catalog.createTask(Self.task(created: Date(timeIntervalSinceNow: Double(i - 10)))) }
        let claimed = try await withThrowingTaskGroup(of: ImageTask?.self) { group in
            for _ in 0..<10 { group.addTask { try await catalog.claimTask(types: ["api_image_import"], staleBefore: Date(timeIntervalSinceNow: -60)) } }
            var all: [ImageTask] = []
            for try await t in group { if let t { all.append(t) } }
            return all
        }
        #expect(claimed.count == 6)
        #expect(Set(claimed.map(\.id)).count == 6, "no task is claimed twice")
        #expect(claimed.allSatisfy { $0.status == .processing && $0.attempts == 1 })
        #expect(try await catalog.claimTask(types: ["api_image_import"], staleBefore: Date(timeIntervalSinceNow: -60)) == nil)
        #expect(try await catalog.claimTask(types: ["import"], staleBefore: Date()) == nil, "other types are not claimed")
        }
    }

    @Test func staleClaimsAreTakenOverAndTheOldHeartbeatLoses() async throws {
        try await CatalogBackends.each { name, catalog in
        let t = Self.task()
        try await catalog.createTask(t)
        let first = try #require(try await catalog.claimTask(types: ["api_image_import"], staleBefore: Date(timeIntervalSinceNow: -60)))
        #expect(try await catalog.heartbeat(taskID: t.id, attempt: first.attempts, message: "Copied 1 MiB"))
        #expect(try await catalog.task(id: t.id)?.message == "Copied 1 MiB")
        // Fresh heartbeat: nobody may take it.
        #expect(try await catalog.claimTask(types: ["api_image_import"], staleBefore: Date(timeIntervalSinceNow: -60)) == nil)
        // Its node "died": a claim that counts everything older than the future as stale takes it over.
        let second = try #require(try await catalog.claimTask(types: ["api_image_import"], staleBefore: Date(timeIntervalSinceNow: 1)))
        #expect(second.id == t.id && second.attempts == 2)
        #expect(try await catalog.heartbeat(taskID: t.id, attempt: first.attempts, message: nil) == false, "the old claim is lost")
        #expect(try await catalog.heartbeat(taskID: t.id, attempt: second.attempts, message: nil))
        var done = second
        done.status = .success
        done.expiresAt = Date(timeIntervalSinceNow: 3600)
        try await catalog.updateTask(done, expecting: .processing)
        #expect(try await catalog.heartbeat(taskID: t.id, attempt: second.attempts, message: nil) == false)
        await #expect(throws: GlimpseError.self) { try await catalog.updateTask(done, expecting: .processing) }
        }
    }

    @Test func expiredTasksDisappearAndListsPageByKeyset() async throws {
        try await CatalogBackends.each { name, catalog in
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        for i in 0..<7 {
            try await catalog.createTask(Self.task(owner: i % 2 == 0 ? "a" : "b", created: base.addingTimeInterval(Double(i))))
        }
        var expired = Self.task(owner: "a", status: .success, created: base)
        expired.expiresAt = Date(timeIntervalSinceNow: -1)
        try await catalog.createTask(expired)
        #expect(try await catalog.task(id: expired.id) == nil)
        var q = TaskQuery(limit: 2)
        q.owner = "a"
        var seen: [ImageTask] = []
        while true {
            let page = try await catalog.listTasks(q)
            seen += page
            guard page.count == q.limit, let last = page.last else { break }
            q.marker = last.id
        }
        #expect(seen.count == 4)
        #expect(seen.map(\.createdAt) == seen.map(\.createdAt).sorted(by: >), "newest first")
        #expect(seen.allSatisfy { $0.owner == "a" })
        var bad = TaskQuery()
        bad.marker = UUID().uuidString.lowercased()
        await #expect(throws: GlimpseError.self) { try await catalog.listTasks(bad) }
        }
    }

    @Test func theImportLockIsAnAtomicSwap() async throws {
        try await CatalogBackends.each { name, catalog in
        try await catalog.createImage(Image(id: "11111111-1111-1111-1111-111111111111", createdAt: Date()))
        let id = "11111111-1111-1111-1111-111111111111"
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask { try await catalog.swapImageProperty(imageID: id, key: "os_glance_import_task", expecting: nil, to: "t\(i)") }
            }
            var n = 0
            for try await won in group where won { n += 1 }
            return n
        }
        #expect(wins == 1)
        let holder = try #require(try await catalog.image(id: id)?.properties["os_glance_import_task"])
        #expect(try await catalog.swapImageProperty(imageID: id, key: "os_glance_import_task", expecting: "other", to: nil) == false)
        #expect(try await catalog.swapImageProperty(imageID: id, key: "os_glance_import_task", expecting: holder, to: nil))
        #expect(try await catalog.image(id: id)?.properties["os_glance_import_task"] == nil)
        }
    }

    // MARK: through the API

    static func make(configure: @escaping (inout ImageServiceConfiguration) -> Void = { _ in }) async throws -> TestGlimpse {
        try await TestGlimpse.make(configure: { c in
            c.enabledImportMethods = ["glance-direct", "web-download"]
            c.taskClaimTimeout = 30  // a loaded CI machine may delay a heartbeat by seconds
            configure(&c)
        })
    }

    func waitFor(_ client: Client, _ id: String, status: String) async throws -> JSONObject {
        var shown = JSONObject()
        for _ in 0..<400 {
            shown = try await client.send(.get, "/v2/images/\(id)").json
            if shown["status"]?.stringValue == status { return shown }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("image \(id) stayed \(shown["status"]?.stringValue ?? "?"), expected \(status)")
    }

    /// What a node that died mid-import leaves in the queue: a glance-direct task still
    /// `processing`, `attempts` started, with its last heartbeat at `at`.
    static func staleGlanceDirectTask(_ taskID: String, image id: String, attempts: Int, at old: Date, backend: Bool) -> ImageTask {
        var input: [(String, JSONValue)] = [
            ("image_id", .string(id)),
            ("import_req", .object(JSONObject([("method", .object(JSONObject([("name", .string("glance-direct"))])))]))),
        ]
        if backend { input.append(("backend", .array([.null]))) }
        return ImageTask(
            id: taskID, type: "api_image_import", status: .processing, owner: "admin", imageID: id,
            input: .object(JSONObject(input)), result: .object(JSONObject([("glimpse_attempts", .int(Int64(attempts)))])),
            createdAt: old, updatedAt: old)
    }

    static func sha512(_ data: [UInt8]) -> String { SHA512.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    @Test func stageThenGlanceDirectImport() async throws {
        let glimpse = try await Self.make()
        let staging = try #require(glimpse.service.staging)
        try await glimpse.test { client in
            let data = bytes(700_000)
            let id = try await client.create(as: Who.alice)
            // Import before staging: the image must be staged first.
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "glance-direct"}}"#,
                                          as: Who.alice).status == .conflict)
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: data), contentType: "application/json",
                                          as: Who.alice).status == .unsupportedMediaType)
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: data),
                                          contentType: "application/octet-stream", as: Who.bob).status == .notFound)
            let r = try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: data),
                                          contentType: "application/octet-stream", as: Who.alice)
            #expect(r.status == .noContent)
            let staged = try await client.send(.get, "/v2/images/\(id)", as: Who.alice).json
            #expect(staged["status"]?.stringValue == "uploading")
            #expect(staged["size"] == .int(700_000))
            #expect(try await staging.stagedSize(id) == 700_000)
            // Staging twice is refused (the image is no longer queued).
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: data),
                                          contentType: "application/octet-stream", as: Who.alice).status == .conflict)
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "web-download", "uri": "http://example.com/x"}}"#,
                                          as: Who.alice).status == .conflict, "web-download needs a queued image")
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "glance-direct"}}"#,
                                          as: Who.alice).status == .accepted)
            let active = try await waitFor(client, id, status: "active")
            #expect(active["os_hash_value"]?.stringValue == Self.sha512(data))
            #expect(active["size"] == .int(700_000))
            #expect(active["os_glance_import_task"] == nil)
            #expect(Array(try await client.send(.get, "/v2/images/\(id)/file", as: Who.alice).body.readableBytesView) == data)
            #expect(try await staging.stagedSize(id) == nil, "staged data is removed after the import")
            // The task: visible through the image, and (for admins) through /v2/tasks.
            let tasks = try await client.send(.get, "/v2/images/\(id)/tasks", as: Who.alice).json["tasks"]?.arrayValue ?? []
            #expect(tasks.count == 1)
            let task = try #require(tasks.first?.objectValue)
            #expect(task["status"]?.stringValue == "success")
            #expect(task["type"]?.stringValue == "api_image_import")
            #expect(task["result"]?.objectValue?["image_id"]?.stringValue == id)
            #expect(task["input"]?.objectValue?["import_req"]?.objectValue?["method"]?.objectValue?["name"]?.stringValue == "glance-direct")
            let taskID = try #require(task["id"]?.stringValue)
            #expect(try await client.send(.get, "/v2/tasks/\(taskID)", as: Who.alice).status == .forbidden, "tasks API is admin-only")
            let shown = try await client.send(.get, "/v2/tasks/\(taskID)")
            #expect(shown.status == .ok)
            #expect(shown.json["status"]?.stringValue == "success")
            #expect(shown.json["expires_at"]?.stringValue != nil)
            #expect(shown.json["self"]?.stringValue == "/v2/tasks/\(taskID)")
            let list = try await client.send(.get, "/v2/tasks?status=success")
            #expect(list.json["tasks"]?.arrayValue?.count == 1)
            #expect(list.json["tasks"]?.arrayValue?.first?.objectValue?["input"] == nil, "list items omit input")
            let delete = try await client.send(.delete, "/v2/tasks/\(taskID)")
            #expect(delete.status == .methodNotAllowed)
            #expect(delete.headers[.allow] == "GET")
            #expect(try await client.send(.get, "/v2/tasks?status=bogus").status == .badRequest)
            #expect(try await client.send(.get, "/v2/tasks?marker=nope").status == .badRequest)
            #expect(try await client.send(.get, "/v2/images/\(id)/tasks", as: Who.bob).status == .notFound)
        }
    }

    @Test func aFailedImportReturnsTheImageToQueuedWithTheReason() async throws {
        // A default store that refuses every write: the import fails after staging.
        let glimpse = try await TestGlimpse.make(configure: { c in
            c.enabledImportMethods = ["glance-direct"]
            c.imageSizeCap = 1000
        })
        let staging = try #require(glimpse.service.staging)
        try await glimpse.test { client in
            let id = try await client.create()
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: bytes(2000)),
                                          contentType: "application/octet-stream").status == .contentTooLarge)
            #expect(try await client.send(.get, "/v2/images/\(id)").json["status"]?.stringValue == "queued", "a refused stage leaves the image queued")
            #expect(try await staging.stagedSize(id) == nil)
        }
    }

    @Test func anInterruptedImportIsResumedByTheNextClaim() async throws {
        let glimpse = try await Self.make()
        let staging = try #require(glimpse.service.staging)
        try await glimpse.test { client in
            let data = bytes(300_000, seed: 7)
            let id = try await client.create()
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: data),
                                          contentType: "application/octet-stream").status == .noContent)
            // What a node that died mid-import leaves: the image importing and locked, the task
            // processing with a heartbeat far in the past.
            let taskID = UUID().uuidString.lowercased()
            var image = try #require(try await glimpse.catalog.image(id: id))
            image.status = .importing
            image.properties["os_glance_import_task"] = taskID
            _ = try await glimpse.catalog.updateImage(image, expecting: .uploading)
            let old = Date(timeIntervalSinceNow: -600)
            try await glimpse.catalog.createTask(Self.staleGlanceDirectTask(taskID, image: id, attempts: 1, at: old, backend: true))
            glimpse.service.taskSignal.signal()
            let active = try await waitFor(client, id, status: "active")
            #expect(active["os_hash_value"]?.stringValue == Self.sha512(data))
            var task = JSONObject()
            for _ in 0..<100 {
                task = try await client.send(.get, "/v2/tasks/\(taskID)").json
                if task["status"]?.stringValue != "processing" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(task["status"]?.stringValue == "success")
            #expect(try await staging.stagedSize(id) == nil)
        }
    }

    /// The node finished the import (image active, lock released) and died before recording
    /// the task's success: the next attempt records it instead of failing.
    @Test func aTaskWhoseImportAnEarlierAttemptFinishedSucceeds() async throws {
        let glimpse = try await Self.make()
        try await glimpse.test { client in
            let id = try await client.create()
            #expect(try await client.send(.put, "/v2/images/\(id)/file", body: ByteBuffer(bytes: bytes(5000)),
                                          contentType: "application/octet-stream").status == .noContent)
            let taskID = UUID().uuidString.lowercased()
            let old = Date(timeIntervalSinceNow: -600)
            try await glimpse.catalog.createTask(Self.staleGlanceDirectTask(taskID, image: id, attempts: 1, at: old, backend: true))
            glimpse.service.taskSignal.signal()
            var task = JSONObject()
            for _ in 0..<200 {
                task = try await client.send(.get, "/v2/tasks/\(taskID)").json
                if task["status"]?.stringValue != "processing" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(task["status"]?.stringValue == "success")
            #expect(try await client.send(.get, "/v2/images/\(id)").json["status"]?.stringValue == "active")
        }
    }

    @Test func aTaskInterruptedTooOftenFailsWithAReason() async throws {
        let glimpse = try await Self.make { $0.taskMaxAttempts = 2 }
        let staging = try #require(glimpse.service.staging)
        try await glimpse.test { client in
            let id = try await client.create()
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: bytes(1000)),
                                          contentType: "application/octet-stream").status == .noContent)
            let taskID = UUID().uuidString.lowercased()
            var image = try #require(try await glimpse.catalog.image(id: id))
            image.status = .importing
            image.properties["os_glance_import_task"] = taskID
            _ = try await glimpse.catalog.updateImage(image, expecting: .uploading)
            let old = Date(timeIntervalSinceNow: -600)
            try await glimpse.catalog.createTask(Self.staleGlanceDirectTask(taskID, image: id, attempts: 2, at: old, backend: false))
            glimpse.service.taskSignal.signal()
            let queued = try await waitFor(client, id, status: "queued")
            #expect(queued["os_glance_import_task"] == nil, "the lock is released")
            #expect(queued["size"] == .null)
            var task = JSONObject()
            for _ in 0..<100 {
                task = try await client.send(.get, "/v2/tasks/\(taskID)").json
                if task["status"]?.stringValue != "processing" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(task["status"]?.stringValue == "failure")
            #expect(task["message"]?.stringValue?.contains("interrupted 2 times") == true)
            #expect(try await staging.stagedSize(id) == nil, "no staged data is left behind")
        }
    }

    @Test func legacyTaskCreateChecksItsInput() async throws {
        let glimpse = try await Self.make()
        try await glimpse.test { (client: Client) async throws in
            let body = #"{"type": "import", "input": {"import_from": "http://example.com/a.qcow2", "import_from_format": "qcow2", "image_properties": {"disk_format": "qcow2", "container_format": "bare"}}}"#
            #expect(try await client.send(.post, "/v2/tasks", json: body, as: Who.alice).status == .forbidden)
            #expect(try await client.send(.post, "/v2/tasks", json: #"{"type": "import"}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v2/tasks", json: #"{"type": "import", "input": {"import_from": "http://x/"}}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v2/tasks", json: #"{"type": "bogus", "input": {}}"#).status == .badRequest)
        }
    }

    // MARK: plugins

    /// Compresses `data` with a real tool; returns the compressed bytes.
    static func compress(_ data: [UInt8], with tool: String) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-compress-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("disk.img")
        try Data(data).write(to: plain)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.currentDirectoryURL = dir
        let command = switch tool {
        case "gzip": "gzip -c disk.img > out"
        case "xz": "xz -c disk.img > out"
        case "zstd": "zstd -q -c disk.img > out"
        default: "zip -q out.zip disk.img && mv out.zip out"
        }
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("\(tool) failed") }
        return [UInt8](try Data(contentsOf: dir.appendingPathComponent("out")))
    }

    @Test(arguments: ["gzip", "xz", "zstd", "zip"])
    func decompressionPluginUnpacksTheStagedData(tool: String) async throws {
        let glimpse = try await Self.make { $0.importPlugins = ["image_decompression", "inject_image_metadata"]; $0.injectProperties = [("hw_origin", "import")] }
        try await glimpse.test { client in
            let data = bytes(400_000, seed: 3) + [UInt8](repeating: 0, count: 600_000)
            let id = try await client.create(as: Who.alice)
            let packed = try Self.compress(data, with: tool)
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: packed),
                                          contentType: "application/octet-stream", as: Who.alice).status == .noContent)
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "glance-direct"}}"#,
                                          as: Who.alice).status == .accepted)
            let active = try await waitFor(client, id, status: "active")
            #expect(active["size"] == .int(Int64(data.count)))
            #expect(active["os_hash_value"]?.stringValue == Self.sha512(data))
            #expect(active["hw_origin"]?.stringValue == "import", "inject_image_metadata ran for a non-admin")
        }
    }

    /// Shared staging (several nodes): the staged data lives in a store every node reaches;
    /// plugins work on a node-local copy that goes back to the store, and nothing is left in
    /// either place afterwards.
    @Test func sharedStagingKeepsStagedDataInTheStoreAndPluginsWorkOnALocalCopy() async throws {
        let shared = InMemoryBlobStore(id: "staging")
        let glimpse = try await TestGlimpse.make(sharedStaging: shared) { c in
            c.enabledImportMethods = ["glance-direct"]
            c.taskClaimTimeout = 30
            c.importPlugins = ["image_decompression"]
        }
        let staging = try #require(glimpse.service.staging)
        #expect(staging.isShared)
        try await glimpse.test { client in
            let data = bytes(300_000, seed: 5) + [UInt8](repeating: 7, count: 500_000)
            let packed = try Self.compress(data, with: "gzip")
            let id = try await client.create(as: Who.alice)
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: packed),
                                          contentType: "application/octet-stream", as: Who.alice).status == .noContent)
            #expect(shared.objectLocations == ["memory://staging/\(id)"], "the staged data is in the shared store")
            #expect(try await staging.stagedSize(id) == Int64(packed.count))
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "glance-direct"}}"#,
                                          as: Who.alice).status == .accepted)
            let active = try await waitFor(client, id, status: "active")
            #expect(active["size"] == .int(Int64(data.count)))
            #expect(active["os_hash_value"]?.stringValue == Self.sha512(data))
            #expect(shared.objectCount == 0, "staged data is removed from the shared store")
            #expect(!FileManager.default.fileExists(atPath: staging.path(for: id)), "the local copy is removed")
        }
    }

    @Test func decompressionBombsStopAtTheSizeCap() async throws {
        let glimpse = try await Self.make { $0.importPlugins = ["image_decompression"]; $0.imageSizeCap = 1 << 20 }
        try await glimpse.test { client in
            let id = try await client.create()
            let bomb = try Self.compress([UInt8](repeating: 0, count: 8 << 20), with: "gzip")
            #expect(bomb.count < 1 << 20)
            #expect(try await client.send(.put, "/v2/images/\(id)/stage", body: ByteBuffer(bytes: bomb),
                                          contentType: "application/octet-stream").status == .noContent)
            #expect(try await client.send(.post, "/v2/images/\(id)/import", json: #"{"method": {"name": "glance-direct"}}"#).status == .accepted)
            let queued = try await waitFor(client, id, status: "queued")
            #expect(queued["os_glance_import_task"] == nil)
            var task = JSONObject()
            for _ in 0..<100 {
                task = try #require(try await client.send(.get, "/v2/images/\(id)/tasks").json["tasks"]?.arrayValue?.first?.objectValue)
                if task["status"]?.stringValue != "processing" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(task["status"]?.stringValue == "failure")
            #expect(task["message"]?.stringValue?.contains("exceeds the size limit") == true)
            #expect(try await glimpse.service.staging?.stagedSize(id) == nil)
        }
    }
}
