import Foundation
import Replay

/// Renders `tracetool compare`: the metrics people compare, one column per policy.
public enum CompareRenderer {
    public struct Metric: Sendable {
        public let name: String
        public let lowerIsBetter: Bool?
        public let value: @Sendable (ReplayReport) -> Double
        public let format: String
    }

    static func mib(_ r: ReplayReport, _ pages: Double) -> Double { pages * Double(r.host.pageSize) / 1_048_576 }

    public static let metrics: [Metric] = [
        Metric(name: "VMs refused (count)", lowerIsBetter: nil, value: { Double($0.admission.refused.count) }, format: "%.0f"),
        Metric(name: "sharing saved MiB", lowerIsBetter: false, value: { mib($0, $0.sharing.savedPages) }, format: "%.1f"),
        Metric(name: "zero pages shared (pages)", lowerIsBetter: nil, value: { Double($0.sharing.zeroSharedPages) }, format: "%.0f"),
        Metric(name: "COW breaks (count)", lowerIsBetter: true, value: { Double($0.sharing.cowBreaks) }, format: "%.0f"),
        Metric(name: "host balloon peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.hostBalloonPeakPages)) }, format: "%.1f"),
        Metric(name: "host swapped peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.hostSwappedPeakPages)) }, format: "%.1f"),
        Metric(name: "swap-ins (count)", lowerIsBetter: true, value: { Double($0.reclaim.swapIn) }, format: "%.0f"),
        Metric(name: "guest refaults (count)", lowerIsBetter: true, value: { Double($0.reclaim.guestRefaults) }, format: "%.0f"),
        Metric(name: "double paging (count)", lowerIsBetter: true, value: { Double($0.reclaim.doublePaging) }, format: "%.0f"),
        Metric(name: "hidden faults (count)", lowerIsBetter: true, value: { Double($0.faults.hiddenFaults) }, format: "%.0f"),
        Metric(name: "time high s", lowerIsBetter: false, value: { Double($0.states.timeMicros.high) / 1e6 }, format: "%.1f"),
        Metric(name: "time soft s", lowerIsBetter: true, value: { Double($0.states.timeMicros.soft) / 1e6 }, format: "%.1f"),
        Metric(name: "time hard s", lowerIsBetter: true, value: { Double($0.states.timeMicros.hard) / 1e6 }, format: "%.1f"),
        Metric(name: "time low s", lowerIsBetter: true, value: { Double($0.states.timeMicros.low) / 1e6 }, format: "%.1f"),
        Metric(name: "blocked s (sum over VMs)", lowerIsBetter: true, value: { Double($0.reclaim.blockedMicros) / 1e6 }, format: "%.1f"),
        Metric(name: "estimator error MiB (mean over VMs)", lowerIsBetter: true,
               value: { r in r.vms.isEmpty ? 0 : mib(r, r.vms.reduce(0) { $0 + $1.idle.meanAbsError } / Double(r.vms.count)) }, format: "%.2f"),
    ]

    /// Columns whose run refused a VM that another column admitted: they replayed fewer VMs,
    /// so their values are not comparable and never get a `*`.
    static func incomparable(_ results: [RunResult]) -> Set<Int> {
        let refused = results.map { Set($0.report.admission.refused) }
        var out = Set<Int>()
        for i in results.indices {
            for v in refused[i] where results.indices.contains(where: { !refused[$0].contains(v) }) { out.insert(i) }
        }
        return out
    }

    /// Indices holding the best value (all of them on a tie) among `eligible`, or none when
    /// every eligible value is equal or the metric has no direction.
    static func best(_ values: [Double], lowerIsBetter: Bool?, eligible: Set<Int>? = nil) -> Set<Int> {
        let idx = values.indices.filter { eligible?.contains($0) ?? true }
        let vals = idx.map { values[$0] }
        guard let lower = lowerIsBetter, vals.count > 1, Set(vals).count > 1 else { return [] }
        let b = lower ? vals.min()! : vals.max()!
        return Set(idx.filter { values[$0] == b })
    }

    public static func text(_ results: [RunResult], trace: String) -> String {
        let skip = incomparable(results)
        let eligible = Set(results.indices).subtracting(skip)
        var rows: [[String]] = [["metric"] + results.indices.map { "[\($0 + 1)]" + (skip.contains($0) ? " !" : "") }]
        for m in metrics {
            let vals = results.map { m.value($0.report) }
            let b = best(vals, lowerIsBetter: m.lowerIsBetter, eligible: eligible)
            rows.append([m.name] + vals.enumerated().map { i, v in String(format: m.format, v) + (b.contains(i) ? " *" : "  ") })
        }
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records\n"
        for (i, r) in results.enumerated() {
            s += "  [\(i + 1)] \(r.name)"
            if !r.report.admission.refused.isEmpty {
                s += "  (refused \(r.report.admission.refused.count): VM \(r.report.admission.refused.map(String.init).joined(separator: ", "))"
                s += skip.contains(i) ? "; another column admitted it, so this column gets no *)" : ")"
            }
            s += "\n"
        }
        s += "\n" + TextTable.render(rows, rightAligned: Set(1..<(results.count + 1)))
        s += "* best in the row (lower is better, except sharing saved and time in high)"
        s += skip.isEmpty ? "\n" : "; ! refused a VM another column ran: not starred\n"
        s += "host peaks are host-wide at one moment; counts are events summed over VMs\n"
        return s
    }

    public static func json(_ results: [RunResult], trace: String) -> String {
        struct Out: Encodable {
            var schemaVersion = ReplayReport.schemaVersion
            var trace: String
            var policies: [ReplayReport]
        }
        let out = Out(trace: trace, policies: results.map { var r = $0.report; r.policyName = $0.name; return r })
        return String(decoding: try! JSONEncoder.canonical(pretty: true).encode(out), as: UTF8.self) + "\n"
    }

    public static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// A metric's column name in CSV: lower case, runs of other characters as one `_`
    /// ("host balloon peak MiB" → host_balloon_peak_mib).
    static func csvName(_ name: String) -> String {
        var out = ""
        for ch in name.lowercased() {
            if ch.isASCII && (ch.isLetter || ch.isNumber) { out.append(ch) } else if !out.isEmpty && out.last != "_" { out.append("_") }
        }
        while out.last == "_" { out.removeLast() }
        return out
    }

    public static func csv(_ results: [RunResult]) -> String {
        var s = (["policy"] + metrics.map { csvName($0.name) }).joined(separator: ",") + "\n"
        for r in results {
            s += ([csvField(r.name)] + metrics.map { String(format: $0.format, $0.value(r.report)) }).joined(separator: ",") + "\n"
        }
        return s
    }
}
