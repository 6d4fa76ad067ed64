import Foundation

/// The oslo.policy rule language (oslo.policy 4.x–6.x `_parser`), parsed into a `PolicyCheck`.
///
/// Tokens are separated by whitespace. Leading `(` and trailing `)` are split off a token, so
/// `(role:admin)` is three tokens, while parentheses inside a check (`%(project_id)s`) stay.
/// `and`, `or` and `not` are operators in any letter case; `not` binds tightest, then `and`,
/// then `or`. Every other token is a check:
///
/// - `@` always, `!` never; the empty rule `""` is also always;
/// - `rule:NAME`, `role:NAME`;
/// - `KEY:VALUE`: the generic check, where KEY is a Python literal (`'public'`, `True`, `42`)
///   or a credential path (`project_id`, `token.user.id`), and VALUE may substitute
///   `%(key)s` from the target.
///
/// Where oslo.policy logs "Failed to understand rule" and quietly turns a rule into "deny",
/// this parser throws: a check without `KEY:`, a stray or missing parenthesis, a dangling
/// operator, a bare quoted string, a rule of only whitespace. `http:`/`https:` checks (remote
/// policy servers) are refused too. Glimpse refuses to start rather than run with a rule that
/// does not mean what its author thought.
public enum PolicyParser {
    /// Parses one check string; the error message describes the problem but not the rule's
    /// name, which the caller adds.
    public static func parse(_ text: String) throws(PolicyError) -> PolicyCheck {
        if text.isEmpty { return .always }
        let tokens = try tokenize(text)
        guard !tokens.isEmpty else {
            throw PolicyError("the rule is only whitespace; write \"\" to allow everyone or \"!\" to allow nobody")
        }
        var parser = Parser(tokens: tokens)
        let check = try parser.parseOr()
        if parser.position < tokens.count {
            throw PolicyError("unexpected \(tokens[parser.position]) after a complete expression")
        }
        return check
    }

    // MARK: Tokens

    enum Token: Equatable, CustomStringConvertible {
        case open, close, and, or, not
        case check(PolicyCheck, String)
        case string(String)

        var description: String {
            switch self {
            case .open: return "'('"
            case .close: return "')'"
            case .and: return "'and'"
            case .or: return "'or'"
            case .not: return "'not'"
            case .check(_, let text): return "check '\(text)'"
            case .string(let text): return "quoted string '\(text)'"
            }
        }
    }

    static func tokenize(_ text: String) throws(PolicyError) -> [Token] {
        var tokens: [Token] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            var rest = word[...]
            while rest.first == "(" {
                tokens.append(.open)
                rest = rest.dropFirst()
            }
            if rest.isEmpty { continue }
            var clean = rest
            var trailing = 0
            while clean.last == ")" {
                clean = clean.dropLast()
                trailing += 1
            }
            switch clean.lowercased() {
            case "and": tokens.append(.and)
            case "or": tokens.append(.or)
            case "not": tokens.append(.not)
            case "": break
            default:
                // As in oslo, a token that is wholly quoted ('x' or "x", before the trailing
                // parentheses are removed) is a string, not a check.
                if rest.count >= 2, let first = rest.first, first == rest.last, first == "'" || first == "\"" {
                    tokens.append(.string(String(rest.dropFirst().dropLast())))
                } else {
                    tokens.append(.check(try parseCheck(String(clean)), String(clean)))
                }
            }
            tokens.append(contentsOf: repeatElement(.close, count: trailing))
        }
        return tokens
    }

    /// One check: `@`, `!`, or `KIND:MATCH` (split at the first colon).
    static func parseCheck(_ text: String) throws(PolicyError) -> PolicyCheck {
        if text == "@" { return .always }
        if text == "!" { return .never }
        guard let colon = text.firstIndex(of: ":") else {
            throw PolicyError("'\(text)' is not a check; checks are written KIND:VALUE (such as role:admin or rule:NAME), '@' or '!'")
        }
        let kind = String(text[..<colon])
        let match = String(text[text.index(after: colon)...])
        switch kind {
        case "rule":
            guard !match.isEmpty else { throw PolicyError("'rule:' needs the name of a rule") }
            return .rule(match)
        case "role":
            return .role(try PolicyTemplate(parsing: match))
        case "http", "https":
            throw PolicyError("'\(text)': http and https checks (asking a remote policy server) are not supported")
        case "":
            throw PolicyError("'\(text)': the part before ':' is empty")
        default:
            return .match(try subject(kind), try PolicyTemplate(parsing: match))
        }
    }

    // MARK: The generic check's subject (a Python literal or a credential path)

    static func subject(_ kind: String) throws(PolicyError) -> PolicySubject {
        if let first = kind.first, first == "'" || first == "\"" {
            return .literal(try quotedString(kind), source: kind)
        }
        if ["True", "False", "None"].contains(kind) {
            return .literal(kind, source: kind)
        }
        var unsigned = kind[...]
        while let sign = unsigned.first, sign == "-" || sign == "+" { unsigned = unsigned.dropFirst() }
        let startsNumber = unsigned.first?.isASCII == true && unsigned.first?.isNumber == true
            || (unsigned.first == "." && unsigned.dropFirst().first?.isNumber == true)
        if startsNumber {
            guard let value = numberText(kind) else {
                throw PolicyError("'\(kind)' is not a valid number literal")
            }
            return .literal(value, source: kind)
        }
        return .credential(kind.split(separator: ".", omittingEmptySubsequences: false).map(String.init))
    }

    /// The value of a Python string literal written with single or double quotes.
    static func quotedString(_ literal: String) throws(PolicyError) -> String {
        let quote = literal.first!
        guard literal.count >= 2, literal.last == quote else {
            throw PolicyError("\(literal): the string literal is not closed")
        }
        var result = ""
        var escaped = false
        for character in literal.dropFirst().dropLast() {
            if escaped {
                switch character {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "\\", "'", "\"": result.append(character)
                default: result += "\\\(character)"
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == quote {
                throw PolicyError("\(literal): the string literal is not closed")
            } else {
                result.append(character)
            }
        }
        if escaped { throw PolicyError("\(literal): the string literal is not closed") }
        return result
    }

    /// `str()` of a Python int or float literal (with optional signs), or `nil` if invalid.
    static func numberText(_ literal: String) -> String? {
        var text = literal[...]
        var negative = false
        while let sign = text.first, sign == "-" || sign == "+" {
            if sign == "-" { negative.toggle() }
            text = text.dropFirst()
        }
        let digits = text.replacingOccurrences(of: "_", with: "").lowercased()
        var integer: Int?
        if digits.hasPrefix("0x") {
            integer = Int(digits.dropFirst(2), radix: 16)
        } else if digits.hasPrefix("0o") {
            integer = Int(digits.dropFirst(2), radix: 8)
        } else if digits.hasPrefix("0b") {
            integer = Int(digits.dropFirst(2), radix: 2)
        } else if digits.allSatisfy(\.isNumber) {
            integer = Int(digits)
        }
        if let integer { return String(negative ? -integer : integer) }
        guard digits.allSatisfy({ $0.isNumber || $0 == "." || $0 == "e" || $0 == "-" || $0 == "+" }),
            let value = Double(digits), value.isFinite
        else { return nil }
        // Swift's shortest round-trip form matches Python's float repr (1.5, 1e+16, 1e-05).
        return (negative ? -value : value).description
    }

    // MARK: Grammar

    /// or-expr := and-expr ("or" and-expr)* ; and-expr := not-expr ("and" not-expr)* ;
    /// not-expr := "not" not-expr | "(" or-expr ")" | check
    struct Parser {
        let tokens: [Token]
        var position = 0

        var next: Token? { position < tokens.count ? tokens[position] : nil }

        mutating func parseOr() throws(PolicyError) -> PolicyCheck {
            var checks = [try parseAnd()]
            while next == .or {
                position += 1
                checks.append(try parseAnd())
            }
            return checks.count == 1 ? checks[0] : .or(checks)
        }

        mutating func parseAnd() throws(PolicyError) -> PolicyCheck {
            var checks = [try parseNot()]
            while next == .and {
                position += 1
                checks.append(try parseNot())
            }
            return checks.count == 1 ? checks[0] : .and(checks)
        }

        mutating func parseNot() throws(PolicyError) -> PolicyCheck {
            guard let token = next else {
                throw PolicyError("the rule ends where a check was expected")
            }
            position += 1
            switch token {
            case .not:
                return .not(try parseNot())
            case .open:
                let inner = try parseOr()
                guard next == .close else {
                    if let token = next { throw PolicyError("expected ')' but found \(token)") }
                    throw PolicyError("'(' is not closed")
                }
                position += 1
                return inner
            case .check(let check, _):
                return check
            case .string(let text):
                throw PolicyError("'\(text)' in quotes is not a check; a quoted literal must be followed by :VALUE, as in 'public':%(visibility)s")
            case .close, .and, .or:
                throw PolicyError("unexpected \(token) where a check was expected")
            }
        }
    }
}
