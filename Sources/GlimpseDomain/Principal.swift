/// Who is calling: a project-scoped identity with roles. Where it comes from (noauth headers or
/// a Keystone token) is the API layer's business; the domain only reads it.
public struct Principal: Sendable, Equatable {
    public var projectID: String?
    public var userID: String?
    public var roles: Set<String>
    /// The token is scoped to the system or a domain, not a project. Glance's rules are all
    /// project-scoped (oslo.policy `enforce_scope`), so such a caller is allowed nothing.
    public var outOfProjectScope: Bool

    public init(projectID: String?, userID: String?, roles: Set<String>, outOfProjectScope: Bool = false) {
        self.projectID = projectID
        self.userID = userID
        self.roles = Set(roles.map { $0.lowercased() })
        self.outOfProjectScope = outOfProjectScope
    }

    public var isAdmin: Bool { roles.contains("admin") }
    public var isService: Bool { roles.contains("service") }
    /// Secure-RBAC "member" (admin implies member).
    public var isMember: Bool { isAdmin || roles.contains("member") }
    public var isReader: Bool { isMember || roles.contains("reader") }

    public func owns(_ image: Image) -> Bool {
        guard let projectID, let owner = image.owner else { return false }
        return projectID == owner
    }
}
