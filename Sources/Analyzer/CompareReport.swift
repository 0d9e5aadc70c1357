import Foundation
import Replay

/// The metrics `compare`, studies and `plan` put side by side, by a stable id: the CSV column
/// and JSON key (its unit in its suffix: `_seconds`, `_mib`, `_pages`, `_percent`; counts
/// have none). Lookups go through this enum, so a metric cannot be asked for by a name that
/// does not exist.
public enum MetricID: String, CaseIterable, Sendable {
    case vmsRefused = "vms_refused"
    case slowdown = "slowdown_percent"
    case worstSlowdown = "worst_vm_slowdown_percent"
    case stall = "stall_seconds"
    case sharingSaved = "sharing_saved_mib"
    case zeroShared = "zero_shared_pages"
    case cowBreaks = "cow_breaks"
    case balloonPeak = "host_balloon_peak_mib"
    case balloonFreedPeak = "host_balloon_freed_peak_mib"
    case swappedPeak = "host_swapped_peak_mib"
    case swapIns = "swap_ins"
    case guestRefaults = "guest_refaults"
    case doublePaging = "double_paging"
    case hiddenFaults = "hidden_faults"
    case timeHigh = "time_high_seconds"
    case timeClear = "time_clear_seconds"
    case timeSoft = "time_soft_seconds"
    case timeHard = "time_hard_seconds"
    case timeLow = "time_low_seconds"
    case blocked = "blocked_seconds"
    case estimatorError = "estimator_error_mib"

    /// Its index in `CompareRenderer.metrics` (built in this enum's order).
    public var index: Int { MetricID.allCases.firstIndex(of: self)! }
}

/// Renders `tracetool compare`: the metrics people compare, one column per policy.
public enum CompareRenderer {
    public struct Metric: Sendable {
        public let id: MetricID
        /// The row label in text and HTML tables, with its unit.
        public let name: String
        /// A short column header for the long (one row per column) tables.
        public let short: String
        public let lowerIsBetter: Bool?
        public let value: @Sendable (ReplayReport) -> Double
        public let format: String
        /// The same quantity for one VM, or nil for a host-wide one (time in a state, a host
        /// peak): a VM's row in the CSV leaves it empty.
        public let vmValue: (@Sendable (ReplayReport, ReplayReport.VM) -> Double)?
    }

    static func mib(_ r: ReplayReport, _ pages: Double) -> Double { pages * Double(r.host.pageSizeBytes) / 1_048_576 }

    /// The index of the cost model's stall in `metrics` (the least-stall line ranks by it).
    static let stallMetric = MetricID.stall.index

    /// Every metric, in `MetricID` order (a switch over the ids, so none is missing).
    public static let metrics: [Metric] = MetricID.allCases.map(metric)

    static func metric(_ id: MetricID) -> Metric {
        func m(
            _ name: String, _ short: String, _ lower: Bool?, _ format: String,
            _ value: @escaping @Sendable (ReplayReport) -> Double,
            vm: (@Sendable (ReplayReport, ReplayReport.VM) -> Double)? = nil
        ) -> Metric {
            Metric(id: id, name: name, short: short, lowerIsBetter: lower, value: value, format: format, vmValue: vm)
        }
        switch id {
        case .vmsRefused:
            return m(
                "VMs refused (count)", "refused", nil, "%.0f", { Double($0.admission.refused.count) },
                vm: { $1.refused ? 1 : 0 })
        case .slowdown:
            return m(
                "slowdown % (stall / VM time, traced span)", "slowdown %", true, "%.3f", { 100 * $0.cost.slowdown },
                vm: { 100 * $1.cost.slowdown })
        case .worstSlowdown:
            return m("worst VM slowdown %", "worst VM %", true, "%.3f", { 100 * ($0.cost.worstVMSlowdown ?? 0) })
        case .stall:
            return m(
                "estimated stall s (cost model)", "stall s", true, "%.3f", { $0.cost.stallSeconds },
                vm: { $1.cost.stallSeconds })
        case .sharingSaved:
            return m(
                "sharing saved MiB", "shared MiB", false, "%.1f", { mib($0, $0.sharing.savedPages) },
                vm: { mib($0, $1.sharing.savedPages) })
        case .zeroShared:
            return m(
                "zero pages shared (pages)", "zero pages", nil, "%.0f", { Double($0.sharing.zeroSharedPages) },
                vm: { Double($1.sharing.zeroSharedPages) })
        case .cowBreaks:
            return m(
                "COW breaks (count)", "COW", true, "%.0f", { Double($0.sharing.cowBreaks) },
                vm: { Double($1.sharing.cowBreaks) })
        case .balloonPeak:
            return m(
                "host balloon peak MiB", "balloon pk MiB", true, "%.1f",
                { mib($0, Double($0.reclaim.hostBalloonPeakPages)) })
        case .balloonFreedPeak:
            return m(
                "host balloon peak that freed memory MiB", "freed pk MiB", nil, "%.1f",
                { mib($0, Double($0.reclaim.hostBalloonFreedPeakPages)) })
        case .swappedPeak:
            return m(
                "host swapped peak MiB", "swap pk MiB", true, "%.1f",
                { mib($0, Double($0.reclaim.hostSwappedPeakPages)) })
        case .swapIns:
            return m(
                "swap-ins (count)", "swap-ins", true, "%.0f", { Double($0.reclaim.swapIn) },
                vm: { Double($1.reclaim.swapIn) })
        case .guestRefaults:
            return m(
                "guest refaults (count)", "refaults", true, "%.0f", { Double($0.reclaim.guestRefaults) },
                vm: { Double($1.reclaim.guestRefaults) })
        case .doublePaging:
            return m(
                "double paging (count)", "double pg", true, "%.0f", { Double($0.reclaim.doublePaging) },
                vm: { Double($1.reclaim.doublePaging) })
        case .hiddenFaults:
            return m(
                "hidden faults (count)", "hidden", true, "%.0f", { Double($0.faults.hiddenFaults) },
                vm: { Double($1.faults.hiddenFaults) })
        case .timeHigh:
            return m("time high s", "high s", false, "%.1f", { $0.states.timeSeconds.high })
        case .timeClear:
            return m("time clear s", "clear s", nil, "%.1f", { $0.states.timeSeconds.clear ?? 0 })
        case .timeSoft:
            return m("time soft s", "soft s", true, "%.1f", { $0.states.timeSeconds.soft })
        case .timeHard:
            return m("time hard s", "hard s", true, "%.1f", { $0.states.timeSeconds.hard })
        case .timeLow:
            return m("time low s", "low s", true, "%.1f", { $0.states.timeSeconds.low })
        case .blocked:
            return m(
                "blocked s (sum over VMs)", "blocked s", true, "%.1f", { $0.reclaim.blockedSeconds },
                vm: { $1.reclaim.blockedSeconds })
        case .estimatorError:
            return m(
                "estimator error MiB (mean over VMs)", "est err MiB", true, "%.2f",
                { r in
                    r.vms.isEmpty ? 0 : mib(r, r.vms.reduce(0) { $0 + $1.idle.meanAbsErrorPages } / Double(r.vms.count))
                },
                vm: { mib($0, $1.idle.meanAbsErrorPages) })
        }
    }

    /// The metrics the text tables show: all but time in vSphere 6's clear state when no run
    /// has that state (CSV and JSON always carry every metric).
    static func shownMetrics(_ results: [RunResult]) -> Set<Int> {
        let clear = MetricID.timeClear.index
        var all = Set(metrics.indices)
        if !results.contains(where: { $0.report.states.timeSeconds.clear != nil }) { all.remove(clear) }
        return all
    }

    /// The columns (policy and cell, seeds summarised) that may be marked best: none of their
    /// runs refused a VM that a run of another column of the same grid cell admitted. (Such a
    /// column replayed fewer VMs than its neighbours, so its values are not comparable with
    /// theirs; columns of other cells are never compared.)
    static func eligible(_ groups: [CompareSummary], _ results: [RunResult]) -> Set<Int> {
        func refused(_ g: Int) -> Set<UInt32> { Set(groups[g].runs.flatMap { results[$0].report.admission.refused }) }
        func admitted(_ g: Int) -> Set<UInt32> {
            Set(
                groups[g].runs.flatMap { r in
                    results[r].report.vms.map(\.id).filter { !results[r].report.admission.refused.contains($0) }
                })
        }
        return Set(
            groups.indices.filter { g in
                let mine = refused(g)
                return !groups.indices.contains { h in
                    h != g && groups[h].cell == groups[g].cell && !mine.isDisjoint(with: admitted(h))
                }
            })
    }

    /// More columns than fit across a terminal: the table turns to one row per column.
    static let maxAcross = 8

    /// The host's memory (MiB) and overcommit ratio (Σ max / memory for VMs) of a run.
    static func hostSize(_ r: ReplayReport) -> (mib: Double, overcommit: Double?) {
        let maxPages = r.vms.reduce(0) { $0 + $1.maxPages }
        let forVMs = Double(r.host.machinePages) - Double(r.host.overheadPages)
        return (r.host.machineMiB, forVMs > 0 ? Double(maxPages) / forVMs : nil)
    }

    /// Whether a run never met memory pressure: the host stayed in the high state and nothing
    /// was ballooned or paged.
    static func unpressured(_ r: ReplayReport) -> Bool {
        let t = r.states.timeSeconds
        return t.soft + t.hard + t.low + (t.clear ?? 0) == 0 && r.reclaim.balloonInflated == 0 && r.reclaim.swapOut == 0
    }

    /// The mark of column `g` for one metric: `*` best of its grid cell (with seeds, its
    /// interval apart from the runner-up's; with one seed, every column equal to the best), `=`
    /// tied with the best (seeds only: the intervals overlap).
    static func markText(_ marks: [Int: CompareSummary.Mark], _ g: Int, seeds: Bool) -> String {
        if CompareSummary.starred(marks[g], seeds: seeds) { return " *" }
        if case .tie? = marks[g] { return " =" }
        return "  "
    }

    /// Up to `maxAcross` columns (one per policy and grid cell; seeds summarised): metrics down,
    /// columns across, with each column's host size; `*` marks the best of the columns that share
    /// a grid cell, never across cells.
    public static func text(_ results: [RunResult], trace: String) -> String {
        let groups = CompareSummary.group(results)
        if groups.count > maxAcross { return longText(groups, results, trace: trace) }
        let seeds = groups.contains { $0.runs.count > 1 }
        let eligible = eligible(groups, results)
        let skip = Set(groups.indices).subtracting(eligible)
        var rows: [[String]] = [
            ["metric" + (seeds ? " (mean ± 95% CI)" : "")]
                + groups.indices.map { "[\($0 + 1)]" + (skip.contains($0) ? " !" : "") }
        ]
        let sizes = groups.map { hostSize(results[$0.runs[0]].report) }
        rows.append(["host memory MiB"] + sizes.map { String(format: "%.1f", $0.mib) + "  " })
        rows.append(
            ["overcommit (Σ max / memory for VMs)"]
                + sizes.map { ($0.overcommit.map { String(format: "%.2f", $0) } ?? "-") + "  " })
        let shown = shownMetrics(results)
        for (m, metric) in metrics.enumerated() where shown.contains(m) {
            let marks = CompareSummary.marksByCell(
                groups, metric: m, lowerIsBetter: metric.lowerIsBetter, eligible: eligible)
            rows.append(
                [metric.name]
                    + groups.indices.map { g in
                        String(format: metric.format, groups[g].mean[m])
                            + (seeds ? " ± " + String(format: metric.format, groups[g].halfWidth[m]) : "")
                            + markText(marks, g, seeds: seeds)
                    })
        }
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records"
        let n = groups.map(\.runs.count)
        s +=
            seeds
            ? ", " + (Set(n).count == 1 ? "\(n[0]) seeds per column\n" : "\(n.min()!)–\(n.max()!) seeds per column\n")
            : "\n"
        for (g, group) in groups.enumerated() {
            s += "  [\(g + 1)] \(group.name)"
            if seeds {
                s += "  (seeds \(group.runs.map { String(results[$0].report.policy.seed) }.joined(separator: ", ")))"
            }
            let refused = Set(group.runs.flatMap { results[$0].report.admission.refused }).sorted()
            if !refused.isEmpty {
                s += "  (refused\(seeds ? " in some seed" : ""): VM \(refused.map(String.init).joined(separator: ", "))"
                s += skip.contains(g) ? "; another column of its cell admitted it, so this column gets no mark)" : ")"
            }
            s += "\n"
        }
        s += "\n" + TextTable.render(rows, rightAligned: Set(1..<(groups.count + 1)))
        s += leastStall(groups, eligible: eligible, results: results)
        s += legend(groups, seeds: seeds, skip: !skip.isEmpty)
        s +=
            "host peaks are host-wide at one moment; counts are events summed over VMs; slowdown and stall cover the traced span (not --settle)\n"
        return s
    }

    /// What the marks mean, and why there are none when no grid cell has two columns.
    static func legend(_ groups: [CompareSummary], seeds: Bool, skip: Bool) -> String {
        var cells: [[SweepSetting]] = []
        for g in groups where !cells.contains(g.cell) { cells.append(g.cell) }
        if cells.count == groups.count && groups.count > 1 {
            return
                "no marks: each grid cell has one column, and columns of different cells are not compared (their hosts or knobs differ)\n"
        }
        var s =
            "* best among the columns of its grid cell\(seeds ? ", its 95% interval apart from the runner-up's; = a tie with the best (intervals overlap)" : "")"
        s += " (lower is better, except sharing saved and time in high)"
        s += skip ? "; ! refused a VM another column of its cell ran: no mark\n" : "\n"
        return s
    }

    /// The answer for one grid cell: which column has the least estimated stall.
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
        /// Every column of the cell ran without memory pressure (never left high, nothing
        /// ballooned or paged): the stall left is that of the faults the policies share or
        /// break pages with, not of reclamation.
        var noPressure = false
    }

    /// Per grid cell (in order of first appearance), the column with the least estimated stall
    /// among `eligible` (indices into `columns`).
    static func leastStallAnswers(
        _ columns: [CompareSummary], eligible: Set<Int>, results: [RunResult]
    ) -> [StallAnswer] {
        let m = stallMetric
        var cells: [[SweepSetting]] = []
        for c in columns where !cells.contains(c.cell) { cells.append(c.cell) }
        func answer(_ cell: [SweepSetting], _ all: [Int]) -> StallAnswer {
            let idx = all.filter { eligible.contains($0) }
            guard idx.count > 1 else {
                return StallAnswer(cell: cell, outcome: idx.first.map { .only($0) } ?? .noComparable)
            }
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
        return cells.map { cell in
            let all = columns.indices.filter { columns[$0].cell == cell }
            var a = answer(cell, all)
            a.noPressure =
                all.count > 1 && all.allSatisfy { columns[$0].runs.allSatisfy { unpressured(results[$0].report) } }
            return a
        }
    }

    /// "Least estimated stall" per grid cell: the policy whose cost-model stall is lowest
    /// (columns numbered as in the table), by how much it beats the runner-up, or a tie when
    /// their 95% intervals overlap; a winner from one seed says so.
    static func leastStall(_ columns: [CompareSummary], eligible: Set<Int>, results: [RunResult]) -> String {
        let m = stallMetric
        let oneSeed = !columns.contains { $0.runs.count > 1 }
        var s = "\nleast estimated stall (cost model, docs/MODEL.md):\n"
        func name(_ k: Int) -> String { "[\(k + 1)] \(columns[k].policyName)" }
        var winners = 0
        for a in leastStallAnswers(columns, eligible: eligible, results: results) {
            let label =
                a.cell.isEmpty ? "  " : "  " + a.cell.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + ": "
            var line: String
            switch a.outcome {
            case .only(let k): line = name(k) + " only"
            case .noComparable: line = "no comparable column"
            case .allEqual: line = "all equal"
            case .tie(let t):
                line =
                    "tie: " + t.map(name).joined(separator: ", ")
                    + (oneSeed
                        ? String(format: " (equal: %.3f s)", columns[t[0]].mean[m]) : " (their 95% intervals overlap)")
            case .best(let b, let r):
                winners += 1
                let gap = columns[r].mean[m] - columns[b].mean[m]
                let pct = columns[r].mean[m] > 0 ? String(format: ", %.0f%%", 100 * gap / columns[r].mean[m]) : ""
                let by = gap < 0.0005 ? "under 0.001 s" : String(format: "%.3f s", gap) + pct
                line = String(format: "%@, %.3f s (%@ less than %@)", name(b), columns[b].mean[m], by, name(r))
            }
            // Without pressure the stall is only the faults that sharing and page mapping cause.
            if a.noPressure { line += "; no memory pressure (never left high, nothing ballooned or paged)" }
            s += label + line + "\n"
        }
        if oneSeed && winners > 0 {
            s += "  (one seed per column: a difference can be the seed's; --seeds 5 gives each column a 95% interval)\n"
        }
        return s
    }

    /// The metrics across the long text table (the CSV and JSON have them all).
    static let longTextMetrics: [Int] =
        ([.slowdown, .stall, .sharingSaved, .balloonPeak, .swappedPeak, .swapIns, .guestRefaults] as [MetricID]).map(
            \.index)

    /// Many columns (a grid): one row per policy and grid cell, the swept values, the host size
    /// and the charted metrics across (every metric is in `--format csv`). In each grid cell `*`
    /// marks the best policy (with `--seeds`, only when its interval is apart from the
    /// runner-up's), `=` a tie.
    static func longText(_ groups: [CompareSummary], _ results: [RunResult], trace: String) -> String {
        let c = HTMLReport.Columns(results, groups: groups)
        let ms = longTextMetrics
        let seeds = c.seeds
        // The ratio is its own column unless it is swept already.
        let ratio = !c.keys.contains("overcommit")
        var rows: [[String]] = [
            ["#", "policy"] + c.keys + ["host MiB"] + (ratio ? ["overcommit"] : []) + ms.map { metrics[$0].short }
        ]
        let marks = ms.map { m in
            CompareSummary.marksByCell(groups, metric: m, lowerIsBetter: metrics[m].lowerIsBetter, eligible: c.eligible)
        }
        for (g, group) in groups.enumerated() {
            var row = ["[\(g + 1)]" + (c.eligible.contains(g) ? "" : " !"), c.policyNames[c.policy[g]]]
            row += c.keys.map { k in group.cell.first { $0.key == k }?.value ?? "" }
            let size = hostSize(results[group.runs[0]].report)
            row +=
                [String(format: "%.1f", size.mib)]
                + (ratio ? [size.overcommit.map { String(format: "%.2f", $0) } ?? "-"] : [])
            for (k, m) in ms.enumerated() {
                let f = metrics[m].format
                row.append(
                    String(format: f, group.mean[m]) + (seeds ? " ± " + String(format: f, group.halfWidth[m]) : "")
                        + markText(marks[k], g, seeds: seeds))
            }
            rows.append(row)
        }
        let n = groups.map(\.runs.count)
        var s = "trace \(trace), \(results.first.map { String($0.report.host.records) } ?? "0") records, "
        s += "\(c.policyNames.count) policies × \(c.cells.count) grid cells"
        s += seeds ? " × \(Set(n).count == 1 ? String(n[0]) : "\(n.min()!)–\(n.max()!)") seeds (mean ± 95% CI)\n" : "\n"
        s += "\n" + TextTable.render(rows, rightAligned: Set((2 + c.keys.count)..<rows[0].count))
        s += leastStall(groups, eligible: c.eligible, results: results)
        s += legend(groups, seeds: seeds, skip: c.eligible.count < groups.count)
        s += "columns: " + ms.map { "\(metrics[$0].short) = \(metrics[$0].name)" }.joined(separator: "; ") + "\n"
        s +=
            "the other metrics: --format csv or json; host peaks are host-wide at one moment; counts are events summed over VMs\n"
        return s
    }

    public static func json(_ results: [RunResult], trace: String) -> String {
        struct Metric: Encodable {
            var id: String; var label: String; var mean: Double; var ci95Low: Double; var ci95High: Double
        }
        struct VMSummary: Encodable { var vmId: UInt32; var vmName: String; var metrics: [Metric] }
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
            /// Every run's full report (one per policy, grid cell and seed), named in
            /// `policyName`.
            var runs: [ReplayReport]
            /// Per policy and grid cell: each metric's mean and 95% interval over its seeds
            /// (one seed: an interval of zero width).
            var summaries: [Summary]
        }
        let groups = CompareSummary.group(results)
        let summaries = groups.map { g in
            Summary(
                policy: g.policyName, cell: Dictionary(uniqueKeysWithValues: g.cell.map { ($0.key, $0.value) }),
                seeds: g.runs.map { results[$0].report.policy.seed },
                metrics: metrics.indices.map { m in
                    Metric(
                        id: metrics[m].id.rawValue, label: metrics[m].name, mean: g.mean[m], ci95Low: g.low(m),
                        ci95High: g.high(m))
                },
                vms: results[g.runs[0]].report.vms.indices.map { v in
                    let first = results[g.runs[0]].report.vms[v]
                    return VMSummary(
                        vmId: first.id, vmName: first.name,
                        metrics: metrics.compactMap { m in
                            m.vmValue.map { f in
                                let (mean, hw) = CompareSummary.interval(
                                    g.runs.map { f(results[$0].report, results[$0].report.vms[v]) })
                                return Metric(
                                    id: m.id.rawValue, label: m.name, mean: mean, ci95Low: mean - hw,
                                    ci95High: mean + hw)
                            }
                        })
                })
        }
        let out = Out(
            trace: trace,
            runs: results.map {
                var r = $0.report; r.policyName = $0.name; return r
            }, summaries: summaries)
        return String(decoding: try! JSONEncoder.canonical(pretty: true).encode(out), as: UTF8.self) + "\n"
    }

    public static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
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

    /// The columns before the metrics in both CSV shapes (docs/REPORT.md "compare --format csv").
    static func csvLead(_ keys: [String], seeds: Bool) -> [String] {
        ["policy"] + keys.map(snakeCase) + [
            "host_mib", "overcommit_ratio", seeds ? "seeds" : "seed", "vm_id", "vm_name",
        ]
    }

    static func hostColumns(_ r: ReplayReport) -> [String] {
        let size = hostSize(r)
        return [String(format: "%.1f", size.mib), size.overcommit.map { String(format: "%.3f", $0) } ?? ""]
    }

    /// Long CSV (docs/REPORT.md "compare --format csv"): one row per run — every policy, grid
    /// cell and seed — first for the whole host (`vm_id` empty, `vm_name` all) then one per VM:
    /// the policy's name, one column per swept key, the host's memory and overcommit ratio, the
    /// seed, the VM, then every metric by its id (a host-wide metric is empty on a VM's row).
    public static func csv(_ results: [RunResult]) -> String { table(results).csv }

    /// The long table as typed cells (the CSV above; a study's merged JSON).
    public static func table(_ results: [RunResult]) -> TypedTable {
        let keys = CompareSummary.sweptKeys(results)
        var t = TypedTable(columns: csvLead(keys, seeds: false) + metrics.map(\.id.rawValue))
        for r in results {
            let rep = r.report
            let size = hostSize(rep)
            let lead: [TypedTable.Cell] =
                [.text(r.policyName)] + keys.map { k in .value(r.cell.first { $0.key == k }?.value ?? "") }
                + [.number(size.mib, "%.1f"), .number(size.overcommit, "%.3f"), .number(String(rep.policy.seed))]
            t.rows.append(lead + [.empty, .text("all")] + metrics.map { .number($0.value(rep), $0.format) })
            for vm in rep.vms {
                t.rows.append(
                    lead + [.number(String(vm.id)), .text(vm.name)]
                        + metrics.map { m in .number(m.vmValue.map { $0(rep, vm) }, m.format) })
            }
        }
        return t
    }

    /// Summary CSV (`--format csv-summary`): one row per policy and grid cell (seeds summarised:
    /// `seeds` is their count), first for the whole host then one per VM; each metric's mean and
    /// the bounds of its 95% interval (`ID_mean`, `ID_ci95_low`, `ID_ci95_high`).
    public static func csvSummary(_ results: [RunResult]) -> String {
        let keys = CompareSummary.sweptKeys(results)
        let groups = CompareSummary.group(results)
        var header = csvLead(keys, seeds: true)
        for m in metrics {
            header += [m.id.rawValue + "_mean", m.id.rawValue + "_ci95_low", m.id.rawValue + "_ci95_high"]
        }
        var s = header.joined(separator: ",") + "\n"
        // A mean of counts is not a count: three decimals.
        func fmt(_ m: Metric) -> String { m.format == "%.0f" ? "%.3f" : m.format }
        for g in groups {
            let first = results[g.runs[0]].report
            let lead =
                [csvField(g.policyName)] + keys.map { k in csvField(g.cell.first { $0.key == k }?.value ?? "") }
                + hostColumns(first)
                + [String(g.runs.count)]
            var row = lead + ["", "all"]
            for (m, metric) in metrics.enumerated() {
                row += [g.mean[m], g.low(m), g.high(m)].map { String(format: fmt(metric), $0) }
            }
            s += row.joined(separator: ",") + "\n"
            for (v, vm) in first.vms.enumerated() {
                var row = lead + [String(vm.id), csvField(vm.name)]
                for metric in metrics {
                    guard let f = metric.vmValue else { row += ["", "", ""]; continue }
                    // The same VM in every seed's run (one trace, so the same VMs in the same order).
                    let (mean, hw) = CompareSummary.interval(
                        g.runs.map { f(results[$0].report, results[$0].report.vms[v]) })
                    row += [mean, mean - hw, mean + hw].map { String(format: fmt(metric), $0) }
                }
                s += row.joined(separator: ",") + "\n"
            }
        }
        return s
    }
}
