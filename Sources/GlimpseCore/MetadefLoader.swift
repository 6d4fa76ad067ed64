import Foundation
import GlimpseCatalog
import GlimpseDomain

/// `glance-manage db load_metadefs`: reads Glance's metadata definition files (`etc/metadefs/*.json`,
/// one namespace each) into the catalog, as Glance's loader writes them: the owner defaults
/// to `admin`, new resource types are protected, property documents are stored as written,
/// objects without `required`, and rows have no `updated_at`. A namespace that already exists
/// is skipped (Glance's default, without `--merge`).
public struct MetadefLoader: Sendable {
    public let catalog: any MetadefCatalog
    let now: @Sendable () -> Date

    public init(catalog: any MetadefCatalog, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.catalog = catalog
        self.now = clock
    }

    /// What a load did, file by file.
    public struct Report: Sendable, Equatable {
        public var loaded: [String] = []
        public var skipped: [String] = []
        /// File name and why it was not loaded.
        public var failed: [(String, String)] = []

        public static func == (a: Self, b: Self) -> Bool {
            a.loaded == b.loaded && a.skipped == b.skipped && a.failed.map(\.0) == b.failed.map(\.0)
        }
    }

    /// Loads every `*.json` file of `path` (a directory, in name order) or the file `path`.
    public func load(path: String) async throws -> Report {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw GlimpseError.notFound("No metadata definitions at \(path)")
        }
        let files: [String]
        if isDirectory.boolValue {
            files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".json") }.sorted()
                .map { (path as NSString).appendingPathComponent($0) }
        } else {
            files = [path]
        }
        var report = Report()
        for file in files {
            let name = (file as NSString).lastPathComponent
            guard let data = FileManager.default.contents(atPath: file),
                let document = (try? JSONValue.parse(Array(data)))?.objectValue
            else {
                report.failed.append((name, "not a JSON object"))
                continue
            }
            do {
                if try await load(document) { report.loaded.append(name) } else { report.skipped.append(name) }
            } catch {
                report.failed.append((name, "\(error)"))
            }
        }
        return report
    }

    /// Loads one namespace document; `false` when a namespace of that name already exists.
    public func load(_ document: JSONObject) async throws -> Bool {
        guard let name = document["namespace"]?.stringValue else {
            throw GlimpseError.badRequest("The document has no namespace.")
        }
        if try await catalog.namespace(named: name) != nil { return false }
        let t = now()
        let namespace = MetadefNamespace(
            namespace: name, displayName: document["display_name"]?.stringValue, description: document["description"]?.stringValue,
            visibility: document["visibility"]?.stringValue ?? "private", protected: document["protected"]?.boolValue ?? false,
            owner: document["owner"]?.stringValue ?? "admin", createdAt: t, updatedAt: nil)
        var contents = MetadefNamespaceContents()
        for association in document["resource_type_associations"]?.arrayValue ?? [] {
            guard let o = association.objectValue, let type = o["name"]?.stringValue else { continue }
            contents.associations.append(MetadefResourceTypeAssociation(
                name: type, prefix: o["prefix"]?.stringValue, propertiesTarget: o["properties_target"]?.stringValue,
                createdAt: t.addingTimeInterval(Double(contents.associations.count) / 1_000_000)))
        }
        for (property, schema) in document["properties"]?.objectValue?.pairs ?? [] {
            contents.properties.append((property, schema.objectValue ?? JSONObject()))
        }
        for object in document["objects"]?.arrayValue ?? [] {
            guard let o = object.objectValue, let objectName = o["name"]?.stringValue else { continue }
            contents.objects.append(MetadefObject(
                name: objectName, description: o["description"]?.stringValue, required: nil,
                properties: o["properties"]?.objectValue ?? JSONObject(), createdAt: t))
        }
        for tag in document["tags"]?.arrayValue ?? [] {
            if let tagName = tag.objectValue?["name"]?.stringValue { contents.tags.append(tagName) }
        }
        _ = try await catalog.createNamespace(namespace, contents: contents, protectNewResourceTypes: true)
        return true
    }
}
