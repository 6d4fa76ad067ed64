import Foundation
import GlimpseDomain

/// Glance's property protections (`property_protection_file`, `glance/common/property_utils.py`):
/// who may create, read, update and delete which additional image properties.
///
/// ```ini
/// [^x_billing_.*]
/// create = admin
/// read = admin,member
/// update = admin
/// delete = !
/// ```
///
/// - Each section name is a Python regular expression over property names, compiled when the
///   file is loaded (a bad one throws). Glance tests it with `re.search`, so it matches
///   anywhere in the name unless anchored with `^`/`$`; Glimpse does the same. Swift's `Regex`
///   syntax covers what such files use (classes, anchors, groups, `(?P<name>…)`, `(?i)`);
///   the few Python features it lacks, lookbehind and conditionals, are refused at load.
/// - The first matching section, in file order, decides. A property no section matches is
///   denied for every operation. (A file with no sections at all protects nothing, as in
///   Glance; with the reserved section below, that never happens.)
/// - Every section needs all four keys, `create`, `read`, `update` and `delete` (a missing one
///   throws). An empty value allows nobody.
/// - `roles` format: a comma-separated list of roles, compared case-insensitively with the
///   caller's roles (including the roles they imply); `@` allows everyone and `!` nobody; a list
///   with both throws.
/// - `policies` format: the value is one policy rule name (a comma throws), which must exist in
///   the enforcer (else it throws), evaluated with an empty target; `@` and `!` work as above.
/// - A property the caller may not read is invisible to it, so it may not update or delete it
///   either: `allows(.update)` and `allows(.delete)` also require `read`. (In Glance, setting
///   an unreadable property that exists is then checked as a `create`; that is the caller's
///   business.)
/// - Reserved namespace (Glance 32+): Glance drops every section whose name starts with
///   `os_glance` and puts an `[os_glance.*]` section allowing everyone first, so its own
///   `os_glance_*` properties are never blocked by the file. `reservedSection: true` (the
///   default) does the same. Whether a *user* may set `os_glance_*` properties at all is
///   decided elsewhere (Glance's API refuses them); these protections do not.
public struct PropertyProtections: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case roles, policies
    }

    public enum Operation: String, Sendable, CaseIterable {
        case create, read, update, delete
    }

    /// `Regex<AnyRegexOutput>` is not declared `Sendable`, but a compiled regex is immutable and
    /// the standard library initialises its lowered program atomically, so sharing one between
    /// threads for matching is safe.
    struct Section: @unchecked Sendable {
        let name: String
        let regex: Regex<AnyRegexOutput>
        /// Per operation: the roles (lower-cased), or the one policy name, or `@`/`!`; empty
        /// means nobody.
        let permissions: [Operation: [String]]
    }

    /// The section Glance 32+ puts first (`_inject_os_glance_section`).
    public static let reservedSectionName = "os_glance.*"

    public let format: Format
    let sections: [Section]
    let enforcer: PolicyEnforcer

    /// The section names in the order they are tried.
    public var sectionNames: [String] { sections.map(\.name) }

    public init(iniText: String, format: Format, enforcer: PolicyEnforcer, reservedSection: Bool = true) throws {
        let ini = try ProtectionINI(parsing: iniText)
        var parsed: [ProtectionINI.Section] = ini.sections
        if reservedSection {
            parsed.removeAll { $0.name.hasPrefix("os_glance") }
            let everyone = Dictionary(uniqueKeysWithValues: Operation.allCases.map { ($0.rawValue, "@") })
            parsed.insert(ProtectionINI.Section(name: Self.reservedSectionName, values: everyone), at: 0)
        }
        self.format = format
        self.enforcer = enforcer
        self.sections = try parsed.map { section throws(PolicyError) in
            try Self.section(section, format: format, enforcer: enforcer)
        }
    }

    static func section(_ section: ProtectionINI.Section, format: Format, enforcer: PolicyEnforcer) throws(PolicyError) -> Section {
        let regex: Regex<AnyRegexOutput>
        do {
            regex = try Regex(section.name)
        } catch {
            throw PolicyError("property protection section [\(section.name)] is not a valid regular expression: \(error)")
        }
        var permissions: [Operation: [String]] = [:]
        for operation in Operation.allCases {
            guard let value = section.values[operation.rawValue] else {
                throw PolicyError(
                    "property protection section [\(section.name)] has no '\(operation.rawValue)' key; every section needs create, read, update and delete"
                )
            }
            if value.isEmpty {
                permissions[operation] = []
                continue
            }
            switch format {
            case .roles:
                let roles = value.split(separator: ",", omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                if roles.contains("@") && roles.contains("!") {
                    throw PolicyError(
                        "property protection section [\(section.name)] \(operation.rawValue) = \(value): '@' and '!' are mutually exclusive"
                    )
                }
                permissions[operation] = roles.map { $0.lowercased() }
            case .policies:
                if value.contains(",") {
                    throw PolicyError(
                        "property protection section [\(section.name)] \(operation.rawValue) = \(value): only one policy is allowed; combine policies in the policy file"
                    )
                }
                if value != "@" && value != "!" && !enforcer.isDefined(value) {
                    throw PolicyError(
                        "property protection section [\(section.name)] \(operation.rawValue) = \(value): no policy rule named '\(value)'"
                    )
                }
                permissions[operation] = [value]
            }
        }
        return Section(name: section.name, regex: regex, permissions: permissions)
    }

    /// Whether `principal` may do `operation` on the additional property `property`.
    public func allows(_ operation: Operation, property: String, principal: Principal) -> Bool {
        allows(operation, property: property, credentials: enforcer.credentials(for: principal))
    }

    /// The same, with credentials built once (`PolicyEnforcer.credentials(for:)`), for callers
    /// that check many properties of one request.
    public func allows(_ operation: Operation, property: String, credentials: PolicyCredentials) -> Bool {
        switch operation {
        case .create, .read:
            return check(operation, property: property, credentials: credentials)
        case .update, .delete:
            return check(.read, property: property, credentials: credentials)
                && check(operation, property: property, credentials: credentials)
        }
    }

    /// The name of the section that decides for `property`, if any.
    public func section(for property: String) -> String? {
        sections.first { $0.regex.matches(anywhereIn: property) }?.name
    }

    /// Glance's `check_property_rules`, for one operation.
    func check(_ operation: Operation, property: String, credentials: PolicyCredentials) -> Bool {
        if sections.isEmpty { return true }
        guard let section = sections.first(where: { $0.regex.matches(anywhereIn: property) }),
            let permitted = section.permissions[operation], !permitted.isEmpty
        else { return false }
        if permitted.contains("!") { return false }
        if permitted.contains("@") { return true }
        switch format {
        case .roles:
            let roles = Set(credentials.roles.map { $0.lowercased() })
            return permitted.contains { roles.contains($0) }
        case .policies:
            return enforcer.enforce(permitted[0], target: [:], credentials: credentials)
        }
    }
}

extension Regex {
    /// Python's `pattern.search(text) is not None`.
    func matches(anywhereIn text: String) -> Bool {
        (try? firstMatch(in: text)) != nil
    }
}
