/// JSON-patch for images (RFC 6902 subset, reference §1.4): parsing of both media types and
/// Glance's semantics for add, replace and remove.
public struct ImagePatch: Sendable {
    public enum Op: String, Sendable { case add, remove, replace }
    public enum MediaType: String, Sendable, CaseIterable {
        case v21 = "application/openstack-images-v2.1-json-patch"
        case v20 = "application/openstack-images-v2.0-json-patch"
    }

    public struct Operation: Sendable, Equatable {
        public var op: Op
        public var path: [String]
        public var value: JSONValue?
    }

    public var operations: [Operation]
    public var mediaType: MediaType

    /// Parses a patch document. Errors are 400s, as in Glance.
    public init(_ document: JSONValue, mediaType: MediaType) throws {
        guard let list = document.arrayValue else {
            throw GlimpseError.badRequest("Request body must be a JSON array of operation objects.")
        }
        self.mediaType = mediaType
        self.operations = try list.map { item in
            guard let obj = item.objectValue else {
                throw GlimpseError.badRequest("Operations must be JSON objects.")
            }
            return try Self.parseOperation(obj, mediaType: mediaType)
        }
    }

    static func parseOperation(_ obj: JSONObject, mediaType: MediaType) throws -> Operation {
        let op: Op
        let rawPath: JSONValue?
        switch mediaType {
        case .v21:
            guard let name = obj["op"]?.stringValue else {
                throw GlimpseError.badRequest("Unable to find 'op' in JSON Schema change")
            }
            guard let o = Op(rawValue: name) else {
                throw GlimpseError.badRequest("Invalid operation: `\(name)`: Unable to find `\(name)` in the supported operations (add, remove, replace).")
            }
            op = o
            rawPath = obj["path"]
        case .v20:
            let named = Op.allCases.filter { obj[$0.rawValue] != nil }
            guard named.count == 1 else {
                throw GlimpseError.badRequest("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
            }
            op = named[0]
            rawPath = obj[op.rawValue]
        }
        guard let pathString = rawPath?.stringValue else {
            throw GlimpseError.badRequest("Unable to find 'path' in JSON Schema change")
        }
        let path = try parsePointer(pathString)
        let value = obj["value"]
        if op != .remove, value == nil {
            throw GlimpseError.badRequest("Operation \"\(op.rawValue)\" requires a member named \"value\".")
        }
        let depthLimit = path.first == "locations" && op != .replace ? 2 : 1
        guard path.count >= 1, path.count <= depthLimit else {
            throw GlimpseError.badRequest("Invalid JSON pointer for this resource: '\(pathString)'")
        }
        return Operation(op: op, path: path, value: op == .remove ? nil : value)
    }

    /// RFC 6901 pointer with `~0`/`~1` escapes; Glance refuses a pointer that does not start with "/".
    static func parsePointer(_ s: String) throws -> [String] {
        guard s.hasPrefix("/"), s != "/" else {
            throw GlimpseError.badRequest("Pointer `\(s)` does not start with \"/\".")
        }
        var parts: [String] = []
        for raw in s.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var out = ""
            var it = raw.makeIterator()
            while let c = it.next() {
                if c == "~" {
                    switch it.next() {
                    case "0": out.append("~")
                    case "1": out.append("/")
                    default: throw GlimpseError.badRequest("Pointer `\(s)` contains \"~\" not part of a recognized escape sequence.")
                    }
                } else {
                    out.append(c)
                }
            }
            guard !out.isEmpty else { throw GlimpseError.badRequest("Pointer `\(s)` contains adjacent \"/\".") }
            parts.append(out)
        }
        return parts
    }

    /// Applies every operation in order; nothing is applied if one fails.
    public func apply(to image: Image, principal: Principal, attributes: ImageAttributes) throws -> Image {
        var result = image
        for operation in operations {
            let key = operation.path[0]
            let isBase = ImageAttributes.base.contains(key)
            switch operation.op {
            case .add, .replace:
                try attributes.checkWritable(key)
                if !isBase {
                    let exists = result.properties[key] != nil
                    if operation.op == .replace, !exists {
                        throw GlimpseError.conflict("Property \(key) does not exist.")
                    }
                    if operation.op == .add, exists, mediaType == .v20 {
                        throw GlimpseError.conflict("Property \(key) already present.")
                    }
                }
                try attributes.set(key, to: operation.value ?? .null, on: &result, principal: principal)
            case .remove:
                try attributes.checkWritable(key)
                if isBase {
                    throw GlimpseError.forbidden("Properties \(key) can't be removed, they are base properties.")
                }
                if !isBase, result.properties[key] != nil { try attributes.checkProperty(.delete, key, principal) }
                guard result.properties.removeValue(forKey: key) != nil else {
                    throw GlimpseError.conflict("Property \(key) does not exist.")
                }
            }
        }
        return result
    }
}

extension ImagePatch.Op: CaseIterable {}
