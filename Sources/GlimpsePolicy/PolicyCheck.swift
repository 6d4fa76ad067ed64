/// A parsed oslo.policy check string: a tree of checks joined by `and`, `or` and `not`.
///
/// `PolicyParser` builds it from text such as
/// `rule:context_is_admin or (role:member and project_id:%(project_id)s)`, and
/// `PolicyEnforcer` evaluates it against a target and the caller's credentials.
public indirect enum PolicyCheck: Sendable, Equatable, CustomStringConvertible {
    /// `@`, or the empty rule `""`: everyone.
    case always
    /// `!`: nobody.
    case never
    /// `rule:NAME`: the result of another rule. A rule that is not defined answers `false`.
    case rule(String)
    /// `role:NAME`: the caller holds the role; compared case-insensitively. NAME may use
    /// `%(key)s` substitution from the target.
    case role(PolicyTemplate)
    /// `KEY:VALUE`, oslo's generic check: the subject (a literal such as `'public'`, or a
    /// credential such as `project_id`) equals VALUE after substitution from the target.
    case match(PolicySubject, PolicyTemplate)
    case not(PolicyCheck)
    case and([PolicyCheck])
    case or([PolicyCheck])

    /// The check in oslo.policy's own notation (`str()` of its check tree).
    public var description: String {
        switch self {
        case .always: return "@"
        case .never: return "!"
        case .rule(let name): return "rule:\(name)"
        case .role(let match): return "role:\(match.source)"
        case .match(let subject, let match): return "\(subject.source):\(match.source)"
        case .not(let check): return "not \(check)"
        case .and(let checks): return "(" + checks.map(\.description).joined(separator: " and ") + ")"
        case .or(let checks): return "(" + checks.map(\.description).joined(separator: " or ") + ")"
        }
    }

    /// Names of the rules this check refers to with `rule:NAME`, in order of appearance.
    public var referencedRules: [String] {
        switch self {
        case .rule(let name): return [name]
        case .always, .never, .role, .match: return []
        case .not(let check): return check.referencedRules
        case .and(let checks), .or(let checks): return checks.flatMap(\.referencedRules)
        }
    }
}

/// The left side of a generic check (`KEY` in `KEY:VALUE`).
///
/// oslo.policy first tries `ast.literal_eval(KEY)`; if that succeeds the check compares the
/// literal's `str()` with VALUE, otherwise KEY is a dotted path into the credentials.
public enum PolicySubject: Sendable, Equatable {
    /// A Python literal, kept as the text its `str()` gives: `'public'` is `public`,
    /// `True` is `True`, `0x10` is `16`.
    case literal(String, source: String)
    /// A credential attribute such as `project_id`, `user_id`, `is_admin`, or a dotted path
    /// such as `token.user.id`.
    case credential([String])

    /// The subject as written in the rule.
    public var source: String {
        switch self {
        case .literal(_, let source): return source
        case .credential(let path): return path.joined(separator: ".")
        }
    }
}

/// The right side of a check (`VALUE` in `KEY:VALUE` or `role:VALUE`): text with Python
/// `%(key)s` substitutions taken from the target, and `%%` for a literal percent sign.
public struct PolicyTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case key(String)
    }

    let parts: [Part]
    /// The value as written in the rule.
    public let source: String

    /// Parses `source`; throws a description of the problem (a `%` that is neither `%%` nor
    /// `%(key)s`, which Python would reject when the rule is first used).
    init(parsing source: String) throws(PolicyError) {
        self.source = source
        var parts: [Part] = []
        var text = ""
        var index = source.startIndex
        while index < source.endIndex {
            let character = source[index]
            guard character == "%" else {
                text.append(character)
                index = source.index(after: index)
                continue
            }
            let next = source.index(after: index)
            if next < source.endIndex, source[next] == "%" {
                text.append("%")
                index = source.index(after: next)
                continue
            }
            guard next < source.endIndex, source[next] == "(",
                let close = source[next...].firstIndex(of: ")"),
                source.index(after: close) < source.endIndex,
                source[source.index(after: close)] == "s"
            else {
                throw PolicyError("'\(source)': '%' must start a '%(name)s' substitution or be written '%%'")
            }
            if !text.isEmpty {
                parts.append(.text(text))
                text = ""
            }
            parts.append(.key(String(source[source.index(after: next)..<close])))
            index = source.index(close, offsetBy: 2)
        }
        if !text.isEmpty || parts.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    /// The value with substitutions made, or `nil` when the target lacks a key (oslo.policy
    /// then answers `false` for the check).
    func render(_ target: some PolicyTargetValues) -> String? {
        if parts.count == 1, case .text(let text) = parts[0] { return text }
        var result = ""
        for part in parts {
            switch part {
            case .text(let text): result += text
            case .key(let key):
                guard let value = target[key] else { return nil }
                result += value
            }
        }
        return result
    }
}
