import Foundation

/// A table whose cells know what they are — text, a number (as formatted), or empty — so its
/// CSV and its JSON come from the same values: `compare --format csv` and a study's
/// merged.csv and merged.json. A trace or policy named "2024" stays a string in JSON.
public struct TypedTable: Sendable, Equatable {
    public enum Cell: Sendable, Equatable {
        case text(String)
        /// A number in the text it is written as (its decimals chosen by the column).
        case number(String)
        case empty

        /// `value` with `format` (printf style), or empty for a missing value.
        static func number(_ value: Double?, _ format: String) -> Cell {
            value.map { .number(String(format: format, $0)) } ?? .empty
        }

        /// A value given as text that is a number when it reads as one (a swept knob's value).
        static func value(_ s: String) -> Cell {
            if s.isEmpty { return .empty }
            if let d = Double(s), d.isFinite, s.first != "+", !s.hasPrefix("0x") { return .number(s) }
            return .text(s)
        }

        var csv: String {
            switch self {
            case .text(let s): return CompareRenderer.csvField(s)
            case .number(let s): return s
            case .empty: return ""
            }
        }

        var json: String {
            switch self {
            case .text(let s): return TypedTable.jsonString(s)
            case .number(let s):
                // A value printf wrote as nan or inf is not a JSON number; ".5" needs its 0.
                if let d = Double(s), d.isFinite { return s.hasPrefix(".") ? "0" + s : s }
                return TypedTable.jsonString(s)
            case .empty: return "null"
            }
        }
    }

    public var columns: [String]
    public var rows: [[Cell]]

    public init(columns: [String], rows: [[Cell]] = []) {
        self.columns = columns
        self.rows = rows
    }

    /// The header and one line per row.
    public var csv: String {
        ([columns.joined(separator: ",")] + rows.map { $0.map(\.csv).joined(separator: ",") }).joined(separator: "\n")
            + "\n"
    }

    /// `"columns": […]` and `"rows": [[…], …]` members, indented for a top-level object.
    func jsonMembers() -> String {
        var s = "  \"columns\": [" + columns.map(TypedTable.jsonString).joined(separator: ", ") + "],\n  \"rows\": [\n"
        s += rows.map { "    [" + $0.map(\.json).joined(separator: ", ") + "]" }.joined(separator: ",\n")
        return s + "\n  ]"
    }

    /// A JSON string literal.
    public static func jsonString(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case _ where u.value < 0x20: o += String(format: "\\u%04x", u.value)
            default: o.unicodeScalars.append(u)
            }
        }
        return o + "\""
    }
}
