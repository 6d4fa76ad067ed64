import GlimpseDomain

/// Glance's policy engine: the default rules plus an operator's overrides, all parsed when the
/// enforcer is made, evaluated against a target and a caller as oslo.policy does.
///
/// ```swift
/// let policy = try PolicyEnforcer.load(policyFile: "/etc/glance/policy.yaml")
/// guard policy.enforce("get_image", target: PolicyTarget.image(image), principal: caller) else { … }
/// ```
///
/// Behaviour worth knowing (oslo.policy's, except where noted):
/// - A rule name that is not defined at all evaluates the `default` rule (`""`, everyone, in
///   Glance), as oslo's `Rules.__missing__` does; if `default` is gone too, the answer is no.
/// - A `rule:NAME` reference to an undefined rule evaluates to `false`. oslo.policy's own
///   `RuleCheck` would fall back to the `default` rule here as well (and log a warning at
///   load); Glimpse fails closed instead, so a typo in an override cannot open a rule to
///   everyone. `undefinedReferences` lists such references so the caller can log them.
/// - Rules that refer to each other in a cycle are refused when loading (oslo logs a warning
///   and fails with a recursion error when such a rule is evaluated).
/// - Scope (`enforce_scope`) is not modelled: every Glance rule is project-scoped, and so is
///   every Glimpse principal.
public struct PolicyEnforcer: Sendable {
    /// One rule: its name, the check string it came from, and the parsed check.
    public struct Rule: Sendable, Equatable {
        public let name: String
        public let source: String
        public let check: PolicyCheck
    }

    /// The name oslo.policy evaluates for rules that are not defined (`policy_default_rule`).
    public static let defaultRuleName = "default"

    /// Keystone's default implied roles (`keystone-manage bootstrap`): admin implies member,
    /// member implies reader. A Keystone token already lists implied roles; noauth headers
    /// (`X-Roles: member`) do not, so the credentials add them, matching `Principal.isMember`
    /// and `Principal.isReader`.
    public static let keystoneImpliedRoles: [String: [String]] = ["admin": ["member"], "member": ["reader"]]

    /// Every rule, defaults and overrides, by name.
    public let rules: [String: Rule]

    /// Roles that imply other roles when credentials are built; set to `[:]` to take a
    /// principal's roles literally, as oslo.policy does.
    public var impliedRoles: [String: [String]] = PolicyEnforcer.keystoneImpliedRoles

    /// Glance's defaults with `overrides` on top (rule name → check string). Every rule is
    /// parsed here; a bad one throws a `PolicyError` naming it.
    public init(overrides: [String: String] = [:]) throws {
        try self.init(ruleStrings: GlanceDefaultPolicy.rules.merging(overrides) { _, override in override })
    }

    /// Exactly `ruleStrings`, without Glance's defaults.
    init(ruleStrings: [String: String]) throws(PolicyError) {
        var rules: [String: Rule] = [:]
        for (name, source) in ruleStrings.sorted(by: { $0.key < $1.key }) {
            let check: PolicyCheck
            do {
                check = try PolicyParser.parse(source)
            } catch {
                throw PolicyError("policy rule \"\(name)\": \(error.message) (in \"\(source)\")")
            }
            rules[name] = Rule(name: name, source: source, check: check)
        }
        self.rules = rules
        try Self.refuseCycles(rules)
    }

    /// Glance's defaults, then `policyFile`, then each policy directory's files in sorted order;
    /// later files override earlier ones rule by rule. See `PolicyFiles` for the details.
    public static func load(policyFile: String?, policyDirs: [String] = ["policy.d"]) throws -> PolicyEnforcer {
        try PolicyEnforcer(overrides: PolicyFiles.read(policyFile: policyFile, policyDirs: policyDirs))
    }

    // MARK: Enforcement

    /// Whether `principal` may do `rule` on `target` (Glance's target dict for the operation;
    /// `PolicyTarget` builds them).
    public func enforce(_ rule: String, target: some PolicyTargetValues, principal: Principal) -> Bool {
        enforce(rule, target: target, credentials: credentials(for: principal))
    }

    /// Whether credentials built once (with `credentials(for:)`) allow `rule` on `target`.
    public func enforce(_ rule: String, target: some PolicyTargetValues, credentials: PolicyCredentials) -> Bool {
        guard !credentials.outOfScope, let check = (rules[rule] ?? rules[Self.defaultRuleName])?.check else { return false }
        return evaluate(check, target: target, credentials: credentials)
    }

    /// Evaluates a check tree with this enforcer's rules for `rule:` references.
    public func evaluate(_ check: PolicyCheck, target: some PolicyTargetValues, credentials: PolicyCredentials) -> Bool {
        switch check {
        case .always:
            return true
        case .never:
            return false
        case .rule(let name):
            guard let referenced = rules[name] else { return false }
            return evaluate(referenced.check, target: target, credentials: credentials)
        case .role(let template):
            guard let role = template.render(target)?.lowercased() else { return false }
            return credentials.roles.contains { $0.lowercased() == role }
        case .match(let subject, let template):
            guard let expected = template.render(target) else { return false }
            switch subject {
            case .literal(let text, _): return text == expected
            case .credential(let path): return credentials.matches(path: path, expected: expected)
            }
        case .not(let inner):
            return !evaluate(inner, target: target, credentials: credentials)
        case .and(let checks):
            return checks.allSatisfy { evaluate($0, target: target, credentials: credentials) }
        case .or(let checks):
            return checks.contains { evaluate($0, target: target, credentials: credentials) }
        }
    }

    /// The oslo credentials for `principal` (see `PolicyCredentials`). `is_admin` is the
    /// `context_is_admin` rule, evaluated as Glance's `RequestContext` does: with `is_admin`
    /// still false and the context's own values as the target.
    public func credentials(for principal: Principal) -> PolicyCredentials {
        var values: [String: PolicyCredentials.Value] = [
            "roles": .list(expandedRoles(principal.roles).map { .string($0) }),
            "is_admin": .string("False"),
            "is_admin_project": .string("True"),
        ]
        var context: [String: String] = [:]
        if let project = principal.projectID {
            values["project_id"] = .string(project)
            context["project_id"] = project
        }
        if let user = principal.userID {
            values["user_id"] = .string(user)
            context["user_id"] = user
        }
        let isAdmin = enforce("context_is_admin", target: context, credentials: PolicyCredentials(values: values))
        values["is_admin"] = .string(isAdmin ? "True" : "False")
        return PolicyCredentials(values: values, outOfScope: principal.outOfProjectScope)
    }

    /// `roles` lower-cased with everything they imply (transitively), sorted.
    func expandedRoles(_ roles: Set<String>) -> [String] {
        var result = Set(roles.map { $0.lowercased() })
        var pending = Array(result)
        while let role = pending.popLast() {
            for implied in impliedRoles[role] ?? [] where result.insert(implied.lowercased()).inserted {
                pending.append(implied.lowercased())
            }
        }
        return result.sorted()
    }

    // MARK: Inspection

    /// Whether a rule of this name exists (defaults or overrides).
    public func isDefined(_ name: String) -> Bool { rules[name] != nil }

    /// The check string in force for `name`, if defined.
    public func checkString(_ name: String) -> String? { rules[name]?.source }

    /// Rules that refer (`rule:NAME`) to rules that do not exist, with the missing names; those
    /// references evaluate to `false`. oslo.policy logs these at load; so should the caller.
    public var undefinedReferences: [String: [String]] {
        var result: [String: [String]] = [:]
        for (name, rule) in rules {
            let missing = rule.check.referencedRules.filter { rules[$0] == nil }
            if !missing.isEmpty { result[name] = missing }
        }
        return result
    }

    /// Throws if `rule:` references form a cycle, naming it (`a -> b -> a`).
    static func refuseCycles(_ rules: [String: Rule]) throws(PolicyError) {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var path: [String] = []

        func visit(_ name: String) throws(PolicyError) {
            switch marks[name] {
            case .done: return
            case .visiting:
                let cycle = path[path.lastIndex(of: name)!...] + [name]
                throw PolicyError("policy rules refer to each other in a cycle: \(cycle.joined(separator: " -> "))")
            case nil: break
            }
            guard let rule = rules[name] else { return }
            marks[name] = .visiting
            path.append(name)
            for reference in rule.check.referencedRules { try visit(reference) }
            path.removeLast()
            marks[name] = .done
        }

        for name in rules.keys.sorted() { try visit(name) }
    }
}
