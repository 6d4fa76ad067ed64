/// A page of metadef namespaces or tags: Glance's `limit`, `marker`, `sort_key` and `sort_dir`.
///
/// Paging is keyset paging over `(sort key, created_at, id)`, all in `sortDir`, as
/// oslo.db's `paginate_query` does for Glance; `marker` is the name of the last row seen.
public struct MetadefQuery: Sendable, Equatable {
    public enum SortDirection: String, Sendable { case asc, desc }

    /// At most this many rows; `nil` for all of them (tag lists without `limit`).
    public var limit: Int?
    public var marker: String?
    /// A column of the listed table (`MetadefQuery.namespaceSortKeys` / `tagSortKeys`).
    public var sortKey: String = "created_at"
    public var sortDir: SortDirection = .desc
    /// Namespaces only: `public` or `private`.
    public var visibility: String?
    /// Namespaces only: those associated with any of these resource types.
    public var resourceTypes: [String]?

    public init(limit: Int? = nil, marker: String? = nil, sortKey: String = "created_at", sortDir: SortDirection = .desc) {
        self.limit = limit
        self.marker = marker
        self.sortKey = sortKey
        self.sortDir = sortDir
    }

    /// The columns Glance's namespace list can be sorted by (any column of the table).
    public static let namespaceSortKeys: Set<String> = [
        "id", "namespace", "display_name", "description", "visibility", "protected", "owner", "created_at", "updated_at",
    ]
    /// The columns of `metadef_tags` a tag list can be sorted by.
    public static let tagSortKeys: Set<String> = ["id", "name", "created_at", "updated_at"]
}
