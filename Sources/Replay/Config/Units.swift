import TraceFormat

/// Parsing of the sizes and durations users type.
public enum Units {
    /// The forms a memory size takes, for help texts and error messages.
    public static let sizeForms =
        "N followed by K, M, G or T (optionally with B or iB; all binary: 1M = 1MB = 1MiB = 1,048,576 bytes), or N pages; e.g. 512MiB, 1.5G, 4096 pages"

    /// A size as typed: bytes (from a K/M/G/T unit) or pages.
    public enum Size: Equatable, Sendable {
        case bytes(Double)
        case pages(UInt64)

        /// Pages of `pageSize` bytes (rounded up).
        public func pages(pageSize: UInt64) -> UInt64 {
            switch self {
            case .pages(let p): return p
            case .bytes(let b): return UInt64((b / Double(pageSize)).rounded(.up))
            }
        }
    }

    /// Parses `512MiB`, `1.5G`, `64KB`, `2T`, `4096 pages`: K, M, G and T are binary multiples
    /// whether written alone or with `B` or `iB` (the convention of QEMU's `-m` and hypervisor
    /// UIs). A bare number is refused: it is ambiguous (bytes? pages? MiB?).
    public static func parseSize(_ s: String) throws(ConfigError) -> Size {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        func bad(_ why: String) -> ConfigError { ConfigError("\"\(s)\" \(why); a size is \(sizeForms)") }
        if t.hasPrefix("-") { throw bad("is negative") }
        for suffix in ["pages", "page"] where t.hasSuffix(suffix) {
            let num = t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let v = UInt64(num) else { throw bad("is not a whole number of pages") }
            return .pages(v)
        }
        let units: [(String, Double)] = [("t", 0x1p40), ("g", 0x1p30), ("m", 0x1p20), ("k", 0x1p10)]
        var body = Substring(t)
        if body.hasSuffix("ib") { body = body.dropLast(2) } else if body.hasSuffix("b") { body = body.dropLast(1) }
        for (u, mult) in units where body.hasSuffix(u) {
            let num = body.dropLast(u.count).trimmingCharacters(in: .whitespaces)
            guard let v = Double(num), v >= 0, v.isFinite, !num.isEmpty, num.allSatisfy({ $0.isNumber || $0 == "." })
            else {
                throw bad("is not a number followed by a unit")
            }
            let bytes = v * mult
            guard bytes < 0x1p62 else { throw bad("is too large") }
            return .bytes(bytes)
        }
        if Double(t) != nil { throw bad("has no unit") }
        throw bad("is not a size")
    }

    /// Pages of `pageSize` bytes, or nil when `s` is not a size (see `parseSize`).
    public static func parsePages(_ s: String, pageSize: UInt64) -> UInt64? {
        (try? parseSize(s))?.pages(pageSize: pageSize)
    }

    /// The forms a duration takes, for help texts and error messages.
    public static let durationForms = DurationText.forms

    /// Parses `30s`, `15m`, `2h`, `1.5d`, `500ms`, `250us` (DurationText); a bare number is
    /// refused, as a bare size is.
    public static func duration(_ s: String) throws(ConfigError) -> Micros {
        do { return try DurationText.parse(s) } catch { throw ConfigError(error.description) }
    }

    /// The duration `s` gives, or nil when it is not one (see `duration`).
    public static func parseDuration(_ s: String) -> Micros? { try? duration(s) }

    public static func formatDuration(_ m: Micros) -> String {
        let us = m.rawValue
        if us % 3_600_000_000 == 0 && us > 0 { return "\(us / 3_600_000_000)h" }
        if us % 60_000_000 == 0 && us > 0 { return "\(us / 60_000_000)m" }
        if us % 1_000_000 == 0 { return "\(us / 1_000_000)s" }
        if us % 1000 == 0 { return "\(us / 1000)ms" }
        return "\(us)us"
    }
}

import Foundation
