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
        Metric(name: "sharing saved MiB", lowerIsBetter: false, value: { mib($0, $0.sharing.savedPages) }, format: "%.1f"),
        Metric(name: "zero pages shared", lowerIsBetter: nil, value: { Double($0.sharing.zeroSharedPages) }, format: "%.0f"),
        Metric(name: "COW breaks", lowerIsBetter: true, value: { Double($0.sharing.cowBreaks) }, format: "%.0f"),
        Metric(name: "balloon peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.balloonPagesPeak)) }, format: "%.1f"),
        Metric(name: "swapped peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.swapPeakPages)) }, format: "%.1f"),
        Metric(name: "swap-ins", lowerIsBetter: true, value: { Double($0.reclaim.swapIn) }, format: "%.0f"),
        Metric(name: "guest refaults", lowerIsBetter: true, value: { Double($0.reclaim.guestRefaults) }, format: "%.0f"),
        Metric(name: "double paging", lowerIsBetter: true, value: { Double($0.reclaim.doublePaging) }, format: "%.0f"),
        Metric(name: "hidden faults", lowerIsBetter: true, value: { Double($0.faults.hiddenFaults) }, format: "%.0f"),
        Metric(name: "time high s", lowerIsBetter: false, value: { Double($0.states.timeMicros.high) / 1e6 }, format: "%.1f"),
        Metric(name: "time soft s", lowerIsBetter: true, value: { Double($0.states.timeMicros.soft) / 1e6 }, format: "%.1f"),
        Metric(name: "time hard s", lowerIsBetter: true, value: { Double($0.states.timeMicros.hard) / 1e6 }, format: "%.1f"),
        Metric(name: "time low s", lowerIsBetter: true, value: { Double($0.states.timeMicros.low) / 1e6 }, format: "%.1f"),
        Metric(name: "blocked s", lowerIsBetter: true, value: { Double($0.reclaim.blockedMicros) / 1e6 }, format: "%.1f"),
        Metric(name: "estimator error MiB", lowerIsBetter: true,
               value: { r in r.vms.isEmpty ? 0 : mib(r, r.vms.reduce(0) { $0 + $1.idle.meanAbsError } / Double(r.vms.count)) }, format: "%.2f"),
        Metric(name: "VMs refused", lowerIsBetter: true, value: { Double($0.admission.refused.count) }, format: "%.0f"),
    ]

    /// Indices holding the best value (all of them on a tie), or none when every value is
    /// equal or the metric has no direction.
    static func best(_ values: [Double], lowerIsBetter: Bool?) -> Set<Int> {
        guard let lower = lowerIsBetter, values.count > 1, Set(values).count > 1 else { return [] }
        let b = lower ? values.min()! : values.max()!
        return Set(values.indices.filter { values[$0] == b })
    }

    public static func text(_ results: [RunResult], trace: String) -> String {
        var rows: [[String]] = [["metric"] + results.enumerated().map { "[\($0.offset + 1)]" }]
        for m in metrics {
            let vals = results.map { m.value($0.report) }
            let b = best(vals, lowerIsBetter: m.lowerIsBetter)
            rows.append([m.name] + vals.enumerated().map { i, v in String(format: m.format, v) + (b.contains(i) ? " *" : "  ") })
        }
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records\n"
        for (i, r) in results.enumerated() { s += "  [\(i + 1)] \(r.name)\n" }
        s += "\n" + TextTable.render(rows, rightAligned: Set(1..<(results.count + 1)))
        s += "* best in the row (lower is better, except sharing saved and time in high)\n"
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

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func csv(_ results: [RunResult]) -> String {
        var s = (["policy"] + metrics.map { $0.name.replacingOccurrences(of: " ", with: "_") }).joined(separator: ",") + "\n"
        for r in results {
            s += ([csvField(r.name)] + metrics.map { String(format: $0.format, $0.value(r.report)) }).joined(separator: ",") + "\n"
        }
        return s
    }
}
