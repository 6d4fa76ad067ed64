import GlimpseDomain
import GlimpsePolicy

/// Glance's policy for the metadefs API (`glance/api/v2/policy.py`, `MetadefAPIPolicy`), over
/// the operator's `PolicyEnforcer`: each operation asks one named rule (`get_metadef_namespace`,
/// `add_metadef_object`, …) with the namespace's target (`project_id` = owner, `visibility`), or
/// the caller's project when no namespace is involved.
///
/// A refusal is 404 when the caller may not see the namespace at all (Glance hides what you
/// may not see) and 403 otherwise. By default reads need `reader` (public namespaces for
/// everyone with it) and every write needs `admin` (`metadef_admin`).
public struct MetadefPolicy: Sendable {
    public let enforcer: PolicyEnforcer

    public init(enforcer: PolicyEnforcer = ImagePolicy.glanceDefaults) {
        self.enforcer = enforcer
    }

    func target(_ namespace: MetadefNamespace?, _ principal: Principal) -> [String: String] {
        guard let namespace else { return PolicyTarget.project(of: principal) }
        return PolicyTarget.namespace(owner: namespace.owner, visibility: namespace.visibility)
    }

    /// Whether `rule` allows `principal` on `namespace` (or on its own project when `nil`).
    public func allows(_ rule: String, _ namespace: MetadefNamespace?, principal: Principal) -> Bool {
        enforcer.enforce(rule, target: target(namespace, principal), principal: principal)
    }

    /// Throws unless `rule` allows it: 404 if the caller may not even get the namespace,
    /// 403 with Glance's message otherwise.
    public func enforce(_ rule: String, _ namespace: MetadefNamespace?, principal: Principal) throws {
        guard !allows(rule, namespace, principal: principal) else { return }
        if rule == "get_metadef_namespace" || !allows("get_metadef_namespace", namespace, principal: principal) {
            throw GlimpseError.notFound("The resource could not be found.")
        }
        throw GlimpseError.forbidden("You are not authorized to complete \(rule) action.")
    }

    /// Glance's `context.is_admin` (the `context_is_admin` rule), which its database layer reads.
    public func isAdmin(_ principal: Principal) -> Bool {
        enforcer.enforce("context_is_admin", target: PolicyTarget.project(of: principal), principal: principal)
    }

    /// The database layer's visibility (`_is_namespace_visible`): admins see every namespace,
    /// others the public ones and their own project's.
    public func canSee(_ namespace: MetadefNamespace, principal: Principal) -> Bool {
        isAdmin(principal) || namespace.isPublic || (principal.projectID != nil && principal.projectID == namespace.owner)
    }
}
