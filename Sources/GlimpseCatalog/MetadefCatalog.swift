import GlimpseDomain

/// The metadata definitions catalog: Glance's `metadef_*` tables.
///
/// Contract:
/// - the catalog writes what it is given, timestamps included (the caller stamps them);
/// - names are unique: namespaces globally, objects, properties and tags within their
///   namespace, associations per (namespace, resource type). A duplicate changes nothing and
///   throws `.conflict` with Glance's message;
/// - rows are deleted outright (these tables have no soft delete); deleting a namespace
///   deletes its objects, properties, tags and associations in the same transaction;
/// - an update or delete of a row that is gone throws `.notFound`;
/// - namespace children are addressed through their namespace, which the caller has loaded
///   (and checked the caller may see); only `listNamespaces` applies visibility itself, in the
///   query, so pages are full.
public protocol MetadefCatalog: Sendable {
    func namespace(named name: String) async throws -> MetadefNamespace?
    /// Namespaces in `query`'s order after `marker`. `project` is whose private namespaces are
    /// included besides the public ones; `includeAll` (admins) lifts the restriction.
    func listNamespaces(_ query: MetadefQuery, after marker: MetadefNamespace?, project: String?, includeAll: Bool) async throws
        -> [MetadefNamespace]
    /// Creates the namespace and everything in `contents` in one transaction. Resource types
    /// that do not exist yet are created, protected when `protectNewResourceTypes`.
    func createNamespace(_ namespace: MetadefNamespace, contents: MetadefNamespaceContents, protectNewResourceTypes: Bool)
        async throws -> MetadefNamespace
    /// Rewrites the row `namespace.id` (a rename keeps the children, which refer to the id).
    func updateNamespace(_ namespace: MetadefNamespace) async throws -> MetadefNamespace
    func deleteNamespace(_ namespace: MetadefNamespace) async throws
    func deleteObjects(in namespace: MetadefNamespace) async throws
    func deleteProperties(in namespace: MetadefNamespace) async throws
    func deleteTags(in namespace: MetadefNamespace) async throws

    /// By name (the order Glance's unindexed query yields through the unique name index).
    func objects(in namespace: MetadefNamespace) async throws -> [MetadefObject]
    func object(named name: String, in namespace: MetadefNamespace) async throws -> MetadefObject?
    func createObject(_ object: MetadefObject, in namespace: MetadefNamespace) async throws -> MetadefObject
    /// Replaces the object `name` (which may be renamed) with `object`.
    func updateObject(named name: String, to object: MetadefObject, in namespace: MetadefNamespace) async throws -> MetadefObject
    func deleteObject(named name: String, in namespace: MetadefNamespace) async throws

    /// By name, like `objects(in:)`.
    func properties(in namespace: MetadefNamespace) async throws -> [MetadefProperty]
    func property(named name: String, in namespace: MetadefNamespace) async throws -> MetadefProperty?
    func createProperty(_ property: MetadefProperty, in namespace: MetadefNamespace) async throws -> MetadefProperty
    func updateProperty(named name: String, to property: MetadefProperty, in namespace: MetadefNamespace) async throws
        -> MetadefProperty
    func deleteProperty(named name: String, in namespace: MetadefNamespace) async throws

    /// Tags in `query`'s order after `marker`.
    func tags(in namespace: MetadefNamespace, query: MetadefQuery, after marker: MetadefTag?) async throws -> [MetadefTag]
    func tag(named name: String, in namespace: MetadefNamespace) async throws -> MetadefTag?
    func createTag(_ tag: MetadefTag, in namespace: MetadefNamespace) async throws -> MetadefTag
    /// Adds `tags` in one transaction, first removing the namespace's tags unless `append`.
    /// A duplicate (with each other or, when appending, with an existing tag) changes nothing.
    func createTags(_ tags: [MetadefTag], in namespace: MetadefNamespace, append: Bool) async throws -> [MetadefTag]
    func updateTag(named name: String, to tag: MetadefTag, in namespace: MetadefNamespace) async throws -> MetadefTag
    func deleteTag(named name: String, in namespace: MetadefNamespace) async throws

    /// Every resource type, in creation order.
    func resourceTypes() async throws -> [MetadefResourceType]
    /// The namespace's resource type associations, by `created_at` (then resource type).
    func associations(of namespace: MetadefNamespace) async throws -> [MetadefResourceTypeAssociation]
    /// The associations of a page of namespaces in one query, by namespace id.
    func associations(of namespaces: [MetadefNamespace]) async throws -> [Int64: [MetadefResourceTypeAssociation]]
    /// Associates the namespace with `association.name`, creating that resource type (not
    /// protected) if it does not exist.
    func createAssociation(_ association: MetadefResourceTypeAssociation, in namespace: MetadefNamespace) async throws
        -> MetadefResourceTypeAssociation
    func deleteAssociation(named name: String, in namespace: MetadefNamespace) async throws
}
