import Foundation

/// Durations as people type them (`30s`, `15m`, `2h`, `1.5d`, `500ms`, `250us`), for every
/// command and spec that takes one. A bare number is refused: it is ambiguous (seconds?
/// minutes? microseconds, the trace's own unit?), as a bare size is. Zero is zero in any unit,
/// so `0` alone is accepted.
public enum DurationText {
    /// The forms a duration takes, for help texts and error messages.
    public static let forms = "N followed by us, ms, s, m, h or d (or 0); e.g. 500ms, 30s, 15m, 2h"

    /// Why `s` is not a duration: the text ends with the accepted forms.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ s: String) throws(Problem) -> Micros {
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
        func bad(_ why: String) -> Problem { Problem(description: "\"\(s)\" \(why); a duration is \(forms)") }
        if t.hasPrefix("-") { throw bad("is negative") }
        let units: [(String, Double)] = [
            ("ms", 1e3), ("us", 1), ("µs", 1), ("s", 1e6), ("m", 60e6), ("h", 3600e6), ("d", 86400e6),
        ]
        for (suffix, mult) in units where t.hasSuffix(suffix) {
            let num = t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard !num.isEmpty, num.allSatisfy({ $0.isNumber || $0 == "." }), let v = Double(num), v.isFinite else {
                throw bad("is not a number followed by a unit")
            }
            guard v * mult < 1.8e19 else { throw bad("is too long") }
            return Micros(UInt64((v * mult).rounded()))
        }
        if let v = Double(t) {
            if v == 0 && !t.contains("-") { return Micros(0) }
            throw bad("has no unit")
        }
        throw bad("is not a duration")
    }
}
