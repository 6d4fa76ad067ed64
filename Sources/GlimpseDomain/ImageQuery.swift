import Foundation

/// A list request, already validated: what `GET /v2/images` asks of the catalog (reference §1.5).
public struct ImageQuery: Sendable, Equatable {
    public enum SortKey: String, Sendable, CaseIterable {
        case name, status, id, size
        case containerFormat = "container_format"
        case diskFormat = "disk_format"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
    public enum SortDirection: String, Sendable { case asc, desc }
    public enum TimeOperator: String, Sendable, CaseIterable { case gt, gte, eq, neq, lt, lte }
    public enum VisibilityFilter: Sendable, Equatable { case only(Visibility), all }
    public enum MemberStatusFilter: Sendable, Equatable { case only(MemberStatus), all }

    /// Columns of `images` that may be filtered by equality or `in:`.
    public static let columnFilters: Set<String> = [
        "name", "id", "status", "container_format", "disk_format", "owner", "checksum", "os_hash_value",
        "os_hash_algo", "min_ram", "min_disk", "size", "virtual_size",
    ]
    /// Integer columns that take `<column>_min` / `<column>_max`.
    public static let rangeColumns: Set<String> = ["size", "virtual_size", "min_ram", "min_disk"]

    public var limit: Int = 25
    public var marker: String?
    public var sort: [(SortKey, SortDirection)] = [(.createdAt, .desc)]
    /// The direction of the `created_at` and `id` keys that end every sort (when not sorted
    /// on already): Glance's database layer uses the request's direction when it gave exactly
    /// one, else `desc`.
    public var tieBreakDirection: SortDirection = .desc
    public var visibility: VisibilityFilter?
    /// v1's `is_public=false`: everything but public images.
    public var excludePublic = false
    public var memberStatus: MemberStatusFilter = .only(.accepted)
    /// `nil` means both; the API default is `false` (hidden images are left out).
    public var osHidden: Bool? = false
    public var protected: Bool?
    /// column → accepted values (one value for equality, several for `in:`).
    public var columns: [String: [String]] = [:]
    public var times: [(column: String, op: TimeOperator, date: Date)] = []
    public var ranges: [(column: String, min: Int64?, max: Int64?)] = []
    public var tags: [String] = []
    public var properties: [String: String] = [:]

    public init() {}

    public static func == (a: ImageQuery, b: ImageQuery) -> Bool {
        a.limit == b.limit && a.marker == b.marker && a.sort.map { "\($0.0)\($0.1)" } == b.sort.map { "\($0.0)\($0.1)" }
            && a.tieBreakDirection == b.tieBreakDirection
            && a.visibility == b.visibility && a.excludePublic == b.excludePublic && a.memberStatus == b.memberStatus && a.osHidden == b.osHidden
            && a.protected == b.protected && a.columns == b.columns && a.tags == b.tags && a.properties == b.properties
            && a.times.map { "\($0.column)\($0.op)\($0.date)" } == b.times.map { "\($0.column)\($0.op)\($0.date)" }
            && a.ranges.map { "\($0.column)\(String(describing: $0.min))\(String(describing: $0.max))" }
                == b.ranges.map { "\($0.column)\(String(describing: $0.min))\(String(describing: $0.max))" }
    }
}
