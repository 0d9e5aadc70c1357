import Foundation
import Replay

/// Renders `tracetool compare`: the metrics people compare, one column per policy.
public enum CompareRenderer {
    public struct Metric: Sendable {
        public let name: String
        public let lowerIsBetter: Bool?
        public let value: @Sendable (ReplayReport) -> Double
        public let format: String
        /// The same quantity for one VM, or nil for a host-wide one (time in a state, a host
        /// peak): a VM's row in the CSV leaves it empty.
        public let vmValue: (@Sendable (ReplayReport, ReplayReport.VM) -> Double)?

        init(name: String, lowerIsBetter: Bool?, value: @escaping @Sendable (ReplayReport) -> Double, format: String,
             vm: (@Sendable (ReplayReport, ReplayReport.VM) -> Double)? = nil) {
            self.name = name
            self.lowerIsBetter = lowerIsBetter
            self.value = value
            self.format = format
            self.vmValue = vm
        }
    }

    static func mib(_ r: ReplayReport, _ pages: Double) -> Double { pages * Double(r.host.pageSize) / 1_048_576 }

    /// The index of the cost model's stall in `metrics` (the least-stall line ranks by it).
    static let stallMetric = metrics.firstIndex { $0.name.hasPrefix("estimated stall") }!

    public static let metrics: [Metric] = [
        Metric(name: "VMs refused (count)", lowerIsBetter: nil, value: { Double($0.admission.refused.count) }, format: "%.0f",
               vm: { $1.refused ? 1 : 0 }),
        Metric(name: "estimated stall s (cost model)", lowerIsBetter: true, value: { $0.cost.stallSeconds }, format: "%.3f",
               vm: { $1.cost.stallSeconds }),
        Metric(name: "sharing saved MiB", lowerIsBetter: false, value: { mib($0, $0.sharing.savedPages) }, format: "%.1f",
               vm: { mib($0, $1.sharing.savedPages) }),
        Metric(name: "zero pages shared (pages)", lowerIsBetter: nil, value: { Double($0.sharing.zeroSharedPages) }, format: "%.0f",
               vm: { Double($1.sharing.zeroSharedPages) }),
        Metric(name: "COW breaks (count)", lowerIsBetter: true, value: { Double($0.sharing.cowBreaks) }, format: "%.0f",
               vm: { Double($1.sharing.cowBreaks) }),
        Metric(name: "host balloon peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.hostBalloonPeakPages)) }, format: "%.1f"),
        Metric(name: "host swapped peak MiB", lowerIsBetter: true, value: { mib($0, Double($0.reclaim.hostSwappedPeakPages)) }, format: "%.1f"),
        Metric(name: "swap-ins (count)", lowerIsBetter: true, value: { Double($0.reclaim.swapIn) }, format: "%.0f",
               vm: { Double($1.reclaim.swapIn) }),
        Metric(name: "guest refaults (count)", lowerIsBetter: true, value: { Double($0.reclaim.guestRefaults) }, format: "%.0f",
               vm: { Double($1.reclaim.guestRefaults) }),
        Metric(name: "double paging (count)", lowerIsBetter: true, value: { Double($0.reclaim.doublePaging) }, format: "%.0f",
               vm: { Double($1.reclaim.doublePaging) }),
        Metric(name: "hidden faults (count)", lowerIsBetter: true, value: { Double($0.faults.hiddenFaults) }, format: "%.0f",
               vm: { Double($1.faults.hiddenFaults) }),
        Metric(name: "time high s", lowerIsBetter: false, value: { Double($0.states.timeMicros.high) / 1e6 }, format: "%.1f"),
        Metric(name: "time clear s", lowerIsBetter: nil, value: { Double($0.states.timeMicros.clear ?? 0) / 1e6 }, format: "%.1f"),
        Metric(name: "time soft s", lowerIsBetter: true, value: { Double($0.states.timeMicros.soft) / 1e6 }, format: "%.1f"),
        Metric(name: "time hard s", lowerIsBetter: true, value: { Double($0.states.timeMicros.hard) / 1e6 }, format: "%.1f"),
        Metric(name: "time low s", lowerIsBetter: true, value: { Double($0.states.timeMicros.low) / 1e6 }, format: "%.1f"),
        Metric(name: "blocked s (sum over VMs)", lowerIsBetter: true, value: { Double($0.reclaim.blockedMicros) / 1e6 }, format: "%.1f",
               vm: { Double($1.reclaim.blockedMicros) / 1e6 }),
        Metric(name: "estimator error MiB (mean over VMs)", lowerIsBetter: true,
               value: { r in r.vms.isEmpty ? 0 : mib(r, r.vms.reduce(0) { $0 + $1.idle.meanAbsError } / Double(r.vms.count)) }, format: "%.2f",
               vm: { mib($0, $1.idle.meanAbsError) }),
    ]

    /// The metrics the text tables show: all but time in vSphere 6's clear state when no run
    /// has that state (CSV and JSON always carry every metric).
    static func shownMetrics(_ results: [RunResult]) -> Set<Int> {
        let clear = metrics.firstIndex { $0.name == "time clear s" }!
        var all = Set(metrics.indices)
        if !results.contains(where: { $0.report.states.timeMicros.clear != nil }) { all.remove(clear) }
        return all
    }

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

    /// The columns (policy and cell, seeds summarised) none of whose runs refused a VM that
    /// another run admitted: the ones that may be marked best.
    static func eligible(_ groups: [CompareSummary], _ results: [RunResult]) -> Set<Int> {
        let skipRuns = incomparable(results)
        return Set(groups.indices.filter { g in !groups[g].runs.contains { skipRuns.contains($0) } })
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

    /// More columns than fit across a terminal: the table turns to one row per column.
    static let maxAcross = 8

    public static func text(_ results: [RunResult], trace: String) -> String {
        let groups = CompareSummary.group(results)
        if groups.count > maxAcross { return longText(groups, results, trace: trace) }
        if groups.contains(where: { $0.runs.count > 1 }) { return summaryText(groups, results, trace: trace) }
        let skip = incomparable(results)
        let eligible = Set(results.indices).subtracting(skip)
        var rows: [[String]] = [["metric"] + results.indices.map { "[\($0 + 1)]" + (skip.contains($0) ? " !" : "") }]
        let shown = shownMetrics(results)
        for m in metrics.indices.filter(shown.contains).map({ metrics[$0] }) {
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
        s += leastStall(groups, eligible: eligible)
        s += "* best in the row (lower is better, except sharing saved and time in high)"
        s += skip.isEmpty ? "\n" : "; ! refused a VM another column ran: not starred\n"
        s += "host peaks are host-wide at one moment; counts are events summed over VMs\n"
        return s
    }

    /// The answer for one grid cell: which column has the least cost-model stall.
    struct StallAnswer {
        enum Outcome {
            /// `best` beats `runnerUp` (intervals apart, or single seeds with different values).
            case best(Int, runnerUp: Int)
            /// Columns whose 95% intervals overlap the lowest one's.
            case tie([Int])
            case only(Int)
            case noComparable
            case allEqual
        }
        var cell: [SweepSetting]
        var outcome: Outcome
    }

    /// Per grid cell (in order of first appearance), the column with the least estimated stall
    /// among `eligible` (indices into `columns`).
    static func leastStallAnswers(_ columns: [CompareSummary], eligible: Set<Int>) -> [StallAnswer] {
        let m = stallMetric
        var cells: [[SweepSetting]] = []
        for c in columns where !cells.contains(c.cell) { cells.append(c.cell) }
        return cells.map { cell in
            let idx = columns.indices.filter { columns[$0].cell == cell && eligible.contains($0) }
            guard idx.count > 1 else { return StallAnswer(cell: cell, outcome: idx.first.map { .only($0) } ?? .noComparable) }
            let sub = idx.map { columns[$0] }
            switch CompareSummary.mark(sub, metric: m, lowerIsBetter: true, eligible: Set(sub.indices)) {
            case .best(let b)?:
                let runnerUp = sub.indices.filter { $0 != b }.min { sub[$0].mean[m] < sub[$1].mean[m] }!
                return StallAnswer(cell: cell, outcome: .best(idx[b], runnerUp: idx[runnerUp]))
            case .tie(let t)?:
                return StallAnswer(cell: cell, outcome: .tie(t.map { idx[$0] }))
            case nil:
                return StallAnswer(cell: cell, outcome: .allEqual)
            }
        }
    }

    /// "Least estimated stall" per grid cell: the policy whose cost-model stall is lowest
    /// (columns numbered as in the table), by how much it beats the runner-up, or a tie when
    /// their 95% intervals overlap.
    static func leastStall(_ columns: [CompareSummary], eligible: Set<Int>) -> String {
        let m = stallMetric
        var s = "\nleast estimated stall (cost model, docs/MODEL.md):\n"
        func name(_ k: Int) -> String { "[\(k + 1)] \(columns[k].policyName)" }
        for a in leastStallAnswers(columns, eligible: eligible) {
            let label = a.cell.isEmpty ? "  " : "  " + a.cell.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + ": "
            switch a.outcome {
            case .only(let k): s += label + name(k) + " only\n"
            case .noComparable: s += label + "no comparable column\n"
            case .allEqual: s += label + "all equal\n"
            case .tie(let t): s += label + "tie: " + t.map(name).joined(separator: ", ") + " (their 95% intervals overlap)\n"
            case .best(let b, let r):
                let gap = columns[r].mean[m] - columns[b].mean[m]
                let pct = columns[r].mean[m] > 0 ? String(format: ", %.0f%%", 100 * gap / columns[r].mean[m]) : ""
                s += label + String(format: "%@, %.3f s (%.3f s%@ less than %@)\n", name(b), columns[b].mean[m], gap, pct, name(r))
            }
        }
        return s
    }

    /// Many columns (a grid): one row per policy and grid cell, the swept values and the charted
    /// metrics across (every metric is in `--format csv`). In each grid cell `*` marks the best
    /// policy (with `--seeds`, only when its interval is apart from the runner-up's), `=` a tie.
    static func longText(_ groups: [CompareSummary], _ results: [RunResult], trace: String) -> String {
        let c = HTMLReport.Columns(results, groups: groups)
        let ms = HTMLReport.chartMetrics
        let seeds = c.seeds
        // Short headers, spelled out under the table.
        let short = ["stall s", "shared MiB", "balloon pk MiB", "swap pk MiB", "swap-ins", "refaults", "blocked s", "est err MiB"]
        var rows: [[String]] = [["#", "policy"] + c.keys + short]
        let marks = ms.map { m in CompareSummary.marksByCell(groups, metric: m, lowerIsBetter: metrics[m].lowerIsBetter, eligible: c.eligible) }
        for (g, group) in groups.enumerated() {
            var row = ["[\(g + 1)]" + (c.eligible.contains(g) ? "" : " !"), c.policyNames[c.policy[g]]]
            row += c.keys.map { k in group.cell.first { $0.key == k }?.value ?? "" }
            for (k, m) in ms.enumerated() {
                let f = metrics[m].format
                let mark: String
                switch marks[k][g] {
                case .best?: mark = " *"
                case .tie? where seeds: mark = " ="
                default: mark = "  "
                }
                row.append(String(format: f, group.mean[m]) + (seeds ? " ± " + String(format: f, group.halfWidth[m]) : "") + mark)
            }
            rows.append(row)
        }
        let n = groups.map(\.runs.count)
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records, "
        s += "\(c.policyNames.count) policies × \(c.cells.count) grid cells"
        s += seeds ? " × \(Set(n).count == 1 ? String(n[0]) : "\(n.min()!)–\(n.max()!)") seeds (mean ± 95% CI)\n" : "\n"
        s += "\n" + TextTable.render(rows, rightAligned: Set((2 + c.keys.count)..<rows[0].count))
        s += leastStall(groups, eligible: c.eligible)
        s += "* best in its grid cell\(seeds ? ", its 95% interval apart from the runner-up's; = a tie with the best" : "")"
        s += " (lower is better, except sharing saved)\n"
        if c.eligible.count < groups.count { s += "! refused a VM another column of its cell ran: no mark\n" }
        s += "columns: " + zip(short, ms).map { "\($0) = \(metrics[$1].name)" }.joined(separator: "; ") + "\n"
        s += "the other metrics: --format csv or json; host peaks are host-wide at one moment; counts are events summed over VMs\n"
        return s
    }

    /// `--seeds N`: one column per policy and grid cell, each value "mean ± half-width of the
    /// 95% interval"; `*` only where the best mean's interval does not overlap the runner-up's,
    /// `=` on every column whose interval overlaps the best's (a tie).
    static func summaryText(_ groups: [CompareSummary], _ results: [RunResult], trace: String) -> String {
        let eligible = eligible(groups, results)
        let skip = Set(groups.indices).subtracting(eligible)
        var rows: [[String]] = [["metric (mean ± 95% CI)"] + groups.indices.map { "[\($0 + 1)]" + (skip.contains($0) ? " !" : "") }]
        let shown = shownMetrics(results)
        for (m, metric) in metrics.enumerated() where shown.contains(m) {
            let mark = CompareSummary.mark(groups, metric: m, lowerIsBetter: metric.lowerIsBetter, eligible: eligible)
            rows.append([metric.name] + groups.indices.map { g in
                let v = String(format: metric.format, groups[g].mean[m]) + " ± " + String(format: metric.format, groups[g].halfWidth[m])
                switch mark {
                case .best(let b)? where b == g: return v + " *"
                case .tie(let t)? where t.contains(g): return v + " ="
                default: return v + "  "
                }
            })
        }
        let seeds = groups.map(\.runs.count)
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records, "
        s += Set(seeds).count == 1 ? "\(seeds[0]) seeds per column\n" : "\(seeds.min()!)–\(seeds.max()!) seeds per column\n"
        for (g, group) in groups.enumerated() {
            let refused = Set(group.runs.flatMap { results[$0].report.admission.refused }).sorted()
            s += "  [\(g + 1)] \(group.name)  (seeds \(group.runs.map { String(results[$0].report.policy.seed) }.joined(separator: ", ")))"
            if !refused.isEmpty {
                s += "  (refused in some seed: VM \(refused.map(String.init).joined(separator: ", "))"
                s += skip.contains(g) ? "; another column admitted it, so this column gets no mark)" : ")"
            }
            s += "\n"
        }
        s += "\n" + TextTable.render(rows, rightAligned: Set(1..<(groups.count + 1)))
        s += leastStall(groups, eligible: eligible)
        s += "* best mean, its 95% interval apart from the runner-up's; = a tie with the best (intervals overlap)\n"
        s += "(lower is better, except sharing saved and time in high)"
        s += skip.isEmpty ? "\n" : "; ! refused a VM another column ran: no mark\n"
        s += "host peaks are host-wide at one moment; counts are events summed over VMs\n"
        return s
    }

    public static func json(_ results: [RunResult], trace: String) -> String {
        struct Metric: Encodable { var name: String; var mean: Double; var ci95Low: Double; var ci95High: Double }
        struct VMSummary: Encodable { var id: UInt32; var name: String; var metrics: [Metric] }
        struct Summary: Encodable {
            var policy: String
            var cell: [String: String]
            var seeds: [UInt64]
            var metrics: [Metric]
            /// Per VM, the metrics that have a per-VM value.
            var vms: [VMSummary]
        }
        struct Out: Encodable {
            var schemaVersion = ReplayReport.schemaVersion
            var trace: String
            var policies: [ReplayReport]
            /// With `--seeds`: mean and 95% interval per policy and grid cell.
            var summaries: [Summary]?
        }
        let groups = CompareSummary.group(results)
        let summaries = groups.contains { $0.runs.count > 1 } ? groups.map { g in
            Summary(policy: g.policyName, cell: Dictionary(uniqueKeysWithValues: g.cell.map { ($0.key, $0.value) }),
                    seeds: g.runs.map { results[$0].report.policy.seed },
                    metrics: metrics.indices.map { m in Metric(name: metrics[m].name, mean: g.mean[m], ci95Low: g.low(m), ci95High: g.high(m)) },
                    vms: results[g.runs[0]].report.vms.indices.map { v in
                        let first = results[g.runs[0]].report.vms[v]
                        return VMSummary(id: first.id, name: first.name, metrics: metrics.compactMap { m in
                            m.vmValue.map { f in
                                let (mean, hw) = CompareSummary.interval(g.runs.map { f(results[$0].report, results[$0].report.vms[v]) })
                                return Metric(name: m.name, mean: mean, ci95Low: mean - hw, ci95High: mean + hw)
                            }
                        })
                    })
        } : nil
        let out = Out(trace: trace, policies: results.map { var r = $0.report; r.policyName = $0.name; return r }, summaries: summaries)
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

    /// A knob or sweep key as a column name: camelCase and dashes to snake_case
    /// (idleTax → idle_tax, host-memory → host_memory).
    static func snakeCase(_ key: String) -> String {
        var out = ""
        var previousLower = false
        for ch in key {
            if ch.isUppercase && previousLower { out.append("_") }
            out.append(ch.isLetter || ch.isNumber ? Character(ch.lowercased()) : "_")
            previousLower = ch.isLowercase || ch.isNumber
        }
        return out
    }

    /// Tidy CSV (docs/REPORT.md "compare --format csv"): one row per run, or with `--seeds`
    /// one row per policy and grid cell, first for the whole host (`vm` = all) then one per VM;
    /// the policy's name, one column per swept key, the host's memory and overcommit ratio, the
    /// seed (or seed count), the VM, then the metrics (with `--seeds`: each metric's mean and 95%
    /// interval bounds). A host-wide metric is empty on a VM's row.
    public static func csv(_ results: [RunResult]) -> String {
        let keys = CompareSummary.sweptKeys(results)
        let groups = CompareSummary.group(results)
        let seeds = groups.contains { $0.runs.count > 1 }
        func hostColumns(_ r: ReplayReport) -> [String] {
            let maxPages = r.vms.reduce(0) { $0 + $1.maxPages }
            let forVMs = Double(r.host.machinePages) - Double(r.host.overheadPages)
            return [String(format: "%.1f", r.host.machineMiB), forVMs > 0 ? String(format: "%.3f", Double(maxPages) / forVMs) : ""]
        }
        func cellColumns(_ cell: [SweepSetting]) -> [String] { keys.map { k in csvField(cell.first { $0.key == k }?.value ?? "") } }
        var header = ["policy"] + keys.map(snakeCase) + ["host_mib", "overcommit_ratio", seeds ? "seeds" : "seed", "vm_id", "vm"]
        for m in metrics {
            let n = csvName(m.name)
            header += seeds ? [n + "_mean", n + "_ci95_low", n + "_ci95_high"] : [n]
        }
        var s = header.joined(separator: ",") + "\n"
        // Summary rows use three decimals for counts: a mean of counts is not a count.
        func fmt(_ m: Metric) -> String { seeds && m.format == "%.0f" ? "%.3f" : m.format }
        for g in groups {
            let first = results[g.runs[0]].report
            let lead = [csvField(g.policyName)] + cellColumns(g.cell) + hostColumns(first)
                + [seeds ? String(g.runs.count) : String(first.policy.seed)]
            var row = lead + ["", "all"]
            for (m, metric) in metrics.enumerated() {
                row += (seeds ? [g.mean[m], g.low(m), g.high(m)] : [g.mean[m]]).map { String(format: fmt(metric), $0) }
            }
            s += row.joined(separator: ",") + "\n"
            for (v, vm) in first.vms.enumerated() {
                var row = lead + [String(vm.id), csvField(vm.name)]
                for metric in metrics {
                    guard let f = metric.vmValue else { row += Array(repeating: "", count: seeds ? 3 : 1); continue }
                    // The same VM in every seed's run (one trace, so the same VMs in the same order).
                    let (mean, hw) = CompareSummary.interval(g.runs.map { f(results[$0].report, results[$0].report.vms[v]) })
                    row += (seeds ? [mean, mean - hw, mean + hw] : [mean]).map { String(format: fmt(metric), $0) }
                }
                s += row.joined(separator: ",") + "\n"
            }
        }
        return s
    }
}
