import GlimpseDomain

/// What a check string can ask about the caller: oslo.context's policy values
/// (`RequestContext.to_policy_values()`), as a small tree of strings, lists and mappings.
///
/// `PolicyEnforcer.credentials(for:)` builds them from a `Principal`:
///
/// | key | value |
/// |---|---|
/// | `roles` | the principal's roles, lower-cased, plus the roles they imply (see `PolicyEnforcer.impliedRoles`) |
/// | `project_id`, `user_id` | when the principal has them; a missing one never matches |
/// | `is_admin` | `True` or `False`: the `context_is_admin` rule, as Glance's `RequestContext` sets it |
/// | `is_admin_project` | `True` (oslo.context's default when Keystone sends no `X-Is-Admin-Project`) |
///
/// Values compare as Python's `str()` would print them, so booleans are `True`/`False`.
public struct PolicyCredentials: Sendable, Equatable {
    public indirect enum Value: Sendable, Equatable {
        case string(String)
        case list([Value])
        case dict([String: Value])
    }

    public var values: [String: Value]
    /// A system- or domain-scoped token: every (project-scoped) rule refuses it.
    public var outOfScope: Bool

    public init(values: [String: Value], outOfScope: Bool = false) {
        self.values = values
        self.outOfScope = outOfScope
    }

    /// The caller's roles (the `roles` list), for `role:` checks.
    public var roles: [String] {
        guard case .list(let items) = values["roles"] else { return [] }
        return items.compactMap { if case .string(let role) = $0 { role } else { nil } }
    }

    /// oslo's `GenericCheck._find_in_dict`: follow `path` through the mappings; where a value
    /// is a list, any element may match; at the end, compare the value's text with `expected`.
    public func matches(path: [String], expected: String) -> Bool {
        Self.find(.dict(values), path: path[...], expected: expected)
    }

    private static func find(_ value: Value, path: ArraySlice<String>, expected: String) -> Bool {
        guard let key = path.first else {
            if case .string(let text) = value { return text == expected }
            return false
        }
        guard case .dict(let mapping) = value, let child = mapping[key] else { return false }
        if case .list(let items) = child {
            return items.contains { find($0, path: path.dropFirst(), expected: expected) }
        }
        return find(child, path: path.dropFirst(), expected: expected)
    }
}
