import TraceFormat

/// Parsing of the sizes and durations users type.
public enum Units {
    /// The forms a memory size takes, for help texts and error messages.
    public static let sizeForms = "N followed by K, M, G or T (optionally with B or iB; all binary: 1M = 1MB = 1MiB = 1,048,576 bytes), or N pages; e.g. 512MiB, 1.5G, 4096 pages"

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
            guard let v = Double(num), v >= 0, v.isFinite, !num.isEmpty, num.allSatisfy({ $0.isNumber || $0 == "." }) else {
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

    /// `30s`, `15m`, `2h`, `500ms`, `250us`; a bare number is seconds.
    public static func parseDuration(_ s: String) -> Micros? {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 1e3), ("us", 1), ("µs", 1), ("s", 1e6), ("m", 60e6), ("h", 3600e6), ("d", 86400e6)]
        for (suffix, mult) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite, v * mult < 1.8e19 else { return nil }
            return Micros(UInt64((v * mult).rounded()))
        }
        guard let v = Double(t), v >= 0, v.isFinite, v * 1e6 < 1.8e19 else { return nil }
        return Micros(UInt64((v * 1e6).rounded()))
    }

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
