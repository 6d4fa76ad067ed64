import Foundation

// The metadata definitions catalog ("metadefs"): namespaces of property, object and tag
// definitions that UIs (Horizon) and services offer when people set metadata on images,
// flavors, volumes and the like. Each type below is one row of Glance's `metadef_*` tables.

/// A namespace: the unit of ownership and visibility (`metadef_namespaces`).
public struct MetadefNamespace: Sendable, Equatable {
    /// The database id; `nil` until stored. Children refer to it, so a rename keeps them.
    public var id: Int64?
    /// The unique name (at most 80 characters).
    public var namespace: String
    public var displayName: String?
    public var description: String?
    /// `public` or `private` (Glance reads a missing value as `private`).
    public var visibility: String
    /// A protected namespace and its children cannot be deleted (403).
    public var protected: Bool
    /// The owning project.
    public var owner: String
    public var createdAt: Date
    /// `nil` for rows written without one (`glance-manage db load_metadefs` leaves it empty).
    public var updatedAt: Date?

    public init(
        id: Int64? = nil, namespace: String, displayName: String? = nil, description: String? = nil,
        visibility: String = "private", protected: Bool = false, owner: String, createdAt: Date, updatedAt: Date? = nil
    ) {
        self.id = id
        self.namespace = namespace
        self.displayName = displayName
        self.description = description
        self.visibility = visibility
        self.protected = protected
        self.owner = owner
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public var isPublic: Bool { visibility == "public" }
}

/// An object definition: a named group of property definitions (`metadef_objects`).
public struct MetadefObject: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The names of required properties; `nil` when none were given (the column is NULL).
    public var required: [String]?
    /// Property definitions by name, each in `MetadefPropertyType`'s normal form.
    public var properties: JSONObject
    public var createdAt: Date
    public var updatedAt: Date?

    public init(
        name: String, description: String? = nil, required: [String]? = nil, properties: JSONObject = JSONObject(),
        createdAt: Date, updatedAt: Date? = nil
    ) {
        self.name = name
        self.description = description
        self.required = required
        self.properties = properties
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A property definition of a namespace (`metadef_properties`): its name and its JSON-schema
/// fragment (`type`, `title`, `enum`, `minimum`, …), stored as Glance stores it.
public struct MetadefProperty: Sendable, Equatable {
    public var name: String
    /// The stored document (`json_schema`); it may carry a `name` of its own.
    public var schema: JSONObject
    public var createdAt: Date
    public var updatedAt: Date?

    public init(name: String, schema: JSONObject, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.schema = schema
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A tag definition (`metadef_tags`).
public struct MetadefTag: Sendable, Equatable {
    public var name: String
    public var createdAt: Date
    public var updatedAt: Date?

    public init(name: String, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A kind of resource metadata applies to (`OS::Glance::Image`, `OS::Nova::Flavor`, …):
/// `metadef_resource_types`. Associating a namespace with an unknown name creates one.
public struct MetadefResourceType: Sendable, Equatable {
    public var name: String
    /// Seeded types (`db load-metadefs`) are protected.
    public var protected: Bool
    public var createdAt: Date
    public var updatedAt: Date?

    public init(name: String, protected: Bool = false, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.protected = protected
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A namespace's association with a resource type (`metadef_namespace_resource_types`):
/// properties apply to that resource type with `prefix` in front of their names.
public struct MetadefResourceTypeAssociation: Sendable, Equatable {
    /// The resource type's name.
    public var name: String
    public var prefix: String?
    public var propertiesTarget: String?
    public var createdAt: Date
    public var updatedAt: Date?

    public init(name: String, prefix: String? = nil, propertiesTarget: String? = nil, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.prefix = prefix
        self.propertiesTarget = propertiesTarget
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a namespace is created with in one request (Glance's namespace document may carry
/// its resource type associations, properties, objects and tags).
public struct MetadefNamespaceContents: Sendable, Equatable {
    public var associations: [MetadefResourceTypeAssociation] = []
    /// Property name and stored document, in request order.
    public var properties: [(String, JSONObject)] = []
    public var objects: [MetadefObject] = []
    public var tags: [String] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.associations == b.associations && a.objects == b.objects && a.tags == b.tags
            && a.properties.map(\.0) == b.properties.map(\.0)
            && zip(a.properties, b.properties).allSatisfy { $0.1 == $1.1 }
    }
}
