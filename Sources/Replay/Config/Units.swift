import TraceFormat

/// A machine page number: a page of host memory.
public struct MPN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ v: UInt32) { self.rawValue = v }
    @inlinable public static func < (a: MPN, b: MPN) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// Parsing of the sizes and durations users type.
public enum Units {
    /// `1GiB`, `512MiB`, `64KiB`, `4096B`, `1000 pages`, `1000pages`; a bare number is bytes.
    /// Returns pages of `pageSize` bytes (rounded up).
    public static func parsePages(_ s: String, pageSize: UInt64) -> UInt64? {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, UInt64?)] = [("pages", nil), ("page", nil), ("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10),
                                          ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10), ("b", 1)]
        for (suffix, mult) in units where t.hasSuffix(suffix) {
            let num = t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let v = Double(num), v >= 0, v.isFinite, v < 1e18 else { return nil }
            guard let mult else { return UInt64(v.rounded(.up)) }
            let bytes = v * Double(mult)
            return UInt64((bytes / Double(pageSize)).rounded(.up))
        }
        guard let v = UInt64(t) else { return nil }
        return (v + pageSize - 1) / pageSize
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
