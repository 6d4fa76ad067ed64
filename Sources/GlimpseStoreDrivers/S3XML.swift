/// Just enough XML for S3's responses (`InitiateMultipartUploadResult`, `Error`, listings):
/// the text of elements by name. S3's documents are flat, unqualified and small; the reader
/// takes `<Name>text</Name>` pairs, ignores attributes, and decodes the five predefined
/// entities and numeric character references.
enum S3XML {
    /// The text of every `<tag>…</tag>` in `document`, in document order.
    static func values(_ tag: String, in document: String) -> [String] {
        var out: [String] = []
        let open = "<\(tag)>"
        let openWithAttributes = "<\(tag) "
        let close = "</\(tag)>"
        var rest = Substring(document)
        while true {
            let plain = rest.firstRange(of: open)
            let attributed = rest.firstRange(of: openWithAttributes)
            let start: Substring.Index
            if let p = plain, attributed.map({ p.lowerBound < $0.lowerBound }) ?? true {
                start = p.upperBound
            } else if let a = attributed, let end = rest[a.upperBound...].firstIndex(of: ">") {
                if rest[..<end].hasSuffix("/") {  // <Tag attr="…"/>
                    out.append("")
                    rest = rest[rest.index(after: end)...]
                    continue
                }
                start = rest.index(after: end)
            } else {
                return out
            }
            guard let end = rest[start...].firstRange(of: close) else { return out }
            out.append(unescape(rest[start..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
    }

    static func first(_ tag: String, in document: String) -> String? { values(tag, in: document).first }

    /// The inner XML of every `<tag>…</tag>` block, for lists of records (`<Upload>`, `<Contents>`).
    static func blocks(_ tag: String, in document: String) -> [String] {
        var out: [String] = []
        var rest = Substring(document)
        while let open = rest.firstRange(of: "<\(tag)>"), let close = rest[open.upperBound...].firstRange(of: "</\(tag)>") {
            out.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var scalar: Unicode.Scalar?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                }
                if let scalar { out.unicodeScalars.append(scalar) } else { out += rest[amp...semi] }
            }
            rest = rest[rest.index(after: semi)...]
        }
        out += rest
        return out
    }
}
