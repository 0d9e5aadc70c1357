import Foundation
import Replay
import TraceFormat

/// The self-contained HTML report of `replay --html` and `compare --html` (docs/REPORT.md
/// "HTML report"): a summary that answers the question the run asks, a table, the policies
/// compared on shared axes (curves over a swept value, or bars), and timelines: per-VM series as
/// small multiples on shared scales.
public enum HTMLReport {
    /// The metrics drawn when policies are compared (and the long text table's columns).
    static let chartMetrics: [Int] =
        ([
            .slowdown, .stall, .sharingSaved, .balloonPeak, .swappedPeak, .swapIns, .guestRefaults,
            .blocked, .estimatorError,
        ] as [MetricID]).map(\.index)

    /// Most runs whose timelines one page overlays.
    static let maxTimelineRuns = 8

    static func esc(_ s: String) -> String { SVG.esc(s) }

    /// The rules every page shares (the reports here and the reproduction's page), in the order
    /// the pages use them: page, headings, warnings and notes, tables, figures, charts.
    enum Style {
        static let page = #"body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;max-width:960px}"#
        static let headings = "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}"
        static let notes =
            "p.warning{background:#fff1ee;border-left:4px solid #D55E00;padding:4px 8px}p.note{color:#444}"
        static let tables =
            "table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        static let figures = "figure{margin:18px 0}figcaption{font-weight:bold;font-size:14px;margin-bottom:4px}"
        static let charts = "svg{display:block;margin:6px 0}"

        /// A `<style>` element: the shared rules with a page's own after each group.
        static func sheet(
            headings extraHeadings: String = "", afterHeadings: [String] = [], cells: String,
            afterTables: [String] = [],
            charts extraCharts: String = ""
        ) -> String {
            (["<style>" + page, headings + extraHeadings] + afterHeadings + [notes, tables, cells] + afterTables
                + [figures, charts + extraCharts + "</style>"]).joined(separator: "\n")
        }
    }

    /// The pages' style sheet (replay, compare and study reports).
    static let style = Style.sheet(
        afterHeadings: [
            ".summary{background:#f4f7fb;border:1px solid #c9d6e6;padding:4px 16px 10px}",
            ".question{font-size:16px;font-weight:bold}.answer{font-size:15px}",
        ],
        cells:
            "th:first-child,td:first-child{text-align:left;white-space:nowrap}table.answer td,table.answer th{text-align:left}td.best{font-weight:bold;background:#e6f2ea}",
        charts: ".multiples svg{display:inline-block;margin:2px 4px 2px 0;vertical-align:top}")
    static func mib1(_ v: Double) -> String { String(format: "%.1f", v) }

    /// The page's columns: one per policy and grid cell (the seeds of one are summarised).
    struct Columns {
        var results: [RunResult]
        var groups: [CompareSummary]
        var keys: [String]
        var cells: [[SweepSetting]]
        /// Per column, which policy (line colour) it belongs to.
        var policy: [Int]
        var policyNames: [String]
        var seeds: Bool
        var eligible: Set<Int>

        /// `groups`: `CompareSummary.group(results)` when the caller has it already.
        init(_ results: [RunResult], groups known: [CompareSummary]? = nil) {
            self.results = results
            let groups = known ?? CompareSummary.group(results)
            self.groups = groups
            keys = CompareSummary.sweptKeys(results)
            var cells: [[SweepSetting]] = []
            for g in groups where !cells.contains(g.cell) { cells.append(g.cell) }
            self.cells = cells
            // Runs come policy by policy, every cell in turn (CompareCommand's order).
            let n = cells.count
            let ordered =
                n > 0 && groups.count % n == 0 && groups.indices.allSatisfy { groups[$0].cell == cells[$0 % n] }
            let policy = groups.indices.map { ordered ? $0 / n : $0 }
            self.policy = policy
            let count = (policy.max() ?? -1) + 1
            var names: [String] = []
            for p in 0..<count {
                let name = groups[policy.firstIndex(of: p)!].policyName
                let earlier = names.filter { $0 == name || $0.hasPrefix(name + " #") }.count
                names.append(earlier == 0 ? name : "\(name) #\(earlier + 1)")
            }
            policyNames = names
            seeds = groups.contains { $0.runs.count > 1 }
            eligible = CompareRenderer.eligible(groups, results)
        }

        func style(_ g: Int) -> (color: String, dash: String?) { SVG.style(policy[g]) }
        func label(_ g: Int) -> String {
            ([policyNames[policy[g]]] + groups[g].cell.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }
    }

    public static func page(results: [RunResult], stats: TraceStats?, trace: String) -> String {
        let c = Columns(results)
        var s = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>tracetool report: \(esc(trace))</title>
            \(style)</head><body>
            <h1>tracetool report: \(esc(trace))</h1>

            """
        s += summary(c, stats: stats, trace: trace)
        s += table(c)
        if c.groups.count > 1 { s += comparison(c) }
        s += timelines(c, stats: stats)
        s += "</body></html>\n"
        return s
    }

    // MARK: summary

    static func summary(_ c: Columns, stats: TraceStats?, trace: String) -> String {
        guard let first = c.results.first?.report else { return "<p>No runs.</p>\n" }
        let m = CompareRenderer.stallMetric
        var s = "<section class=\"summary\"><h2>Summary</h2>\n"
        let where_ = c.keys.isEmpty ? "on this trace" : "at each " + c.keys.joined(separator: " × ")
        if c.groups.count == 1 {
            s += "<p class=\"question\">What would \(esc(c.policyNames[0])) cost these VMs on this trace?</p>\n"
        } else {
            s += "<p class=\"question\">Which policy costs the VMs least \(esc(where_))?</p>\n"
        }
        s +=
            "<p>Cost is the cost model's estimated stall: the seconds the VMs lose to hidden faults, page copies, sharing scans, ballooning, guest refaults, host swapping and blocking, each event priced by a latency knob (docs/MODEL.md \"Cost model\"). An estimate to rank policies by, not a measurement.</p>\n"
        if c.groups.count == 1 {
            let r = first
            s +=
                "<p class=\"answer\">"
                + String(
                    format:
                        "Estimated stall <b>%.3f s</b> over %llu VM-seconds powered on in the traced span (slowdown %.3f%%)",
                    r.cost.stallSeconds, r.cost.onSeconds, 100 * r.cost.slowdown)
            if let worst = r.vms.max(by: { $0.cost.stallSeconds < $1.cost.stallSeconds }), worst.cost.stallSeconds > 0 {
                let b = worst.cost.breakdownSeconds
                let kinds: [(String, Double)] = [
                    ("hidden faults", b.hiddenFaults), ("page copies", b.pageCopies), ("sharing scans", b.scan),
                    ("ballooning", b.balloon), ("guest refaults", b.guestRefaults), ("swap-outs", b.swapOut),
                    ("swap-ins", b.swapIn), ("blocking", b.blocked),
                ]
                let top = kinds.max { $0.1 < $1.1 }!
                s += String(
                    format: "; most in %@: %.3f s, mainly %@ (%.3f s)", esc(worst.name), worst.cost.stallSeconds, top.0,
                    top.1)
            }
            s +=
                ". "
                + String(
                    format: "Sharing saved %.1f MiB; host balloon peak %.1f MiB; host swap peak %.1f MiB.",
                    r.sharing.savedMiB, CompareRenderer.mib(r, Double(r.reclaim.hostBalloonPeakPages)),
                    CompareRenderer.mib(r, Double(r.reclaim.hostSwappedPeakPages))) + "</p>\n"
        } else {
            let answers = CompareRenderer.leastStallAnswers(c.groups, eligible: c.eligible, results: c.results)
            s +=
                "<table class=\"answer\"><tr>" + c.keys.map { "<th>\(esc($0))</th>" }.joined()
                + "<th>least estimated stall</th><th>stall s\(c.seeds ? " (mean ± 95% CI)" : "")</th><th>ahead of the runner-up by</th><th>memory pressure</th></tr>\n"
            func stall(_ g: Int) -> String {
                String(format: "%.3f", c.groups[g].mean[m])
                    + (c.seeds ? String(format: " ± %.3f", c.groups[g].halfWidth[m]) : "")
            }
            for a in answers {
                s += "<tr>" + c.keys.map { k in "<td>\(esc(a.cell.first { $0.key == k }?.value ?? ""))</td>" }.joined()
                switch a.outcome {
                case .best(let b, let r):
                    let gap = c.groups[r].mean[m] - c.groups[b].mean[m]
                    let pct =
                        c.groups[r].mean[m] > 0 ? String(format: " (%.0f%%)", 100 * gap / c.groups[r].mean[m]) : ""
                    s +=
                        "<td class=\"best\">\(esc(c.policyNames[c.policy[b]]))</td><td>\(stall(b))</td><td>"
                        + (gap < 0.0005 ? "under 0.001 s" : String(format: "%.3f s", gap) + pct)
                        + " over \(esc(c.policyNames[c.policy[r]]))</td>"
                case .tie(let t):
                    s +=
                        "<td>tie: \(esc(t.map { c.policyNames[c.policy[$0]] }.joined(separator: ", ")))</td><td>\(t.map(stall).joined(separator: " / "))</td><td>\(c.seeds ? "95% intervals overlap" : "equal")</td>"
                case .only(let k):
                    s +=
                        "<td>\(esc(c.policyNames[c.policy[k]])) only</td><td>\(stall(k))</td><td>no other comparable policy</td>"
                case .noComparable:
                    s += "<td>none comparable</td><td></td><td>every policy refused a VM another ran</td>"
                case .allEqual:
                    s +=
                        "<td>all equal</td><td>\(stall(c.groups.indices.first { c.groups[$0].cell == a.cell }!))</td><td>0</td>"
                }
                s +=
                    "<td>" + (a.noPressure ? "none: the host never left high; nothing ballooned or paged" : "yes")
                    + "</td></tr>\n"
            }
            s += "</table>\n"
            if !c.seeds, answers.contains(where: { if case .best = $0.outcome { return true } else { return false } }) {
                s +=
                    "<p class=\"note\">One seed per policy: a difference can be the seed's. <code>--seeds 5</code> gives each policy a 95% interval and names a winner only when the intervals are apart.</p>\n"
            }
        }
        // The trace's facts.
        let vms = first.vms
        let vmList =
            vms.prefix(12).map { "\(esc($0.name)) (\(mib1(CompareRenderer.mib(first, Double($0.maxPages)))) MiB)" }
            .joined(separator: ", ")
            + (vms.count > 12 ? ", and \(vms.count - 12) more" : "")
        s += "<ul class=\"facts\">\n"
        s +=
            "<li>Trace \(esc(trace)): \(first.host.records) records, \(mib1(first.host.simulatedSeconds)) s simulated (with any --settle), pages of \(first.host.pageSizeBytes / 1024) KiB.</li>\n"
        s += "<li>\(vms.count) VM\(vms.count == 1 ? "" : "s") (maximum memory): \(vmList).</li>\n"
        let hosts = Set(c.results.map { $0.report.host.machineMiB })
        s +=
            "<li>Host machine memory: "
            + (hosts.count == 1
                ? "\(mib1(first.host.machineMiB)) MiB"
                : "\(mib1(hosts.min()!))–\(mib1(hosts.max()!)) MiB across the sweep")
            + "; VM overhead \(mib1(CompareRenderer.mib(first, Double(first.host.overheadPages)))) MiB.</li>\n"
        s +=
            "<li>\(c.policyNames.count) polic\(c.policyNames.count == 1 ? "y" : "ies")"
            + (c.cells.count > 1 ? " × \(c.cells.count) grid cells" : "")
        if c.seeds {
            let n = c.groups.map(\.runs.count)
            s += " × \(Set(n).count == 1 ? String(n[0]) : "\(n.min()!)–\(n.max()!)") seeds (means with 95% intervals)"
        }
        s += " = \(c.results.count) run\(c.results.count == 1 ? "" : "s").</li>\n</ul>\n"
        s += warnings(c)
        s += "</section>\n"
        return s
    }

    /// What a run dropped (refused VMs, an unfinished scan), each sentence once with the runs it
    /// applies to.
    static func warnings(_ c: Columns) -> String {
        var order: [String] = []
        var runs: [String: [String]] = [:]
        var isWarning: [String: Bool] = [:]
        func add(_ sentence: String, _ run: String, warning: Bool) {
            if runs[sentence] == nil { order.append(sentence); isWarning[sentence] = warning; runs[sentence] = [] }
            if runs[sentence]!.last != run { runs[sentence]!.append(run) }
        }
        for (g, group) in c.groups.enumerated() {
            for i in group.runs {
                let r = c.results[i].report
                for f in r.admission.refusals {
                    add(f.sentence(pageSize: r.host.pageSizeBytes), c.label(g), warning: true)
                }
                for line in r.scanLines().split(separator: "\n") {
                    add(line.trimmingCharacters(in: .whitespaces), c.label(g), warning: false)
                }
            }
        }
        var s = ""
        for sentence in order {
            let who = runs[sentence]!
            let scope =
                who.count == c.groups.count && c.groups.count > 1
                ? "every column"
                : who.prefix(4).joined(separator: "; ") + (who.count > 4 ? "; and \(who.count - 4) more" : "")
            let cls = isWarning[sentence]! ? "warning" : "note"
            s += "<p class=\"\(cls)\"><b>\(esc(scope)):</b> \(esc(sentence))</p>\n"
        }
        return s
    }

    // MARK: table

    static func cellText(_ c: Columns, _ g: Int, _ m: Int) -> String {
        let f = CompareRenderer.metrics[m].format
        return String(format: f, c.groups[g].mean[m])
            + (c.seeds ? " ± " + String(format: f, c.groups[g].halfWidth[m]) : "")
    }

    /// Up to six columns: metrics down, columns across. More: a row per column, the charted
    /// metrics across (every metric is in `--format csv`).
    static func table(_ c: Columns) -> String {
        var s = "<h2>Results</h2>\n"
        if c.groups.count <= 6 {
            s +=
                "<table class=\"metrics\"><tr><th>metric\(c.seeds ? " (mean ± 95% CI)" : "")</th>"
                + c.groups.indices.map { "<th>\(esc(c.label($0)))</th>" }.joined() + "</tr>\n"
            let sizes = c.groups.map { CompareRenderer.hostSize(c.results[$0.runs[0]].report) }
            s +=
                "<tr><td>host memory MiB</td>"
                + sizes.map { "<td>" + String(format: "%.1f", $0.mib) + "</td>" }.joined() + "</tr>\n"
            s +=
                "<tr><td>overcommit (Σ max / memory for VMs)</td>"
                + sizes.map { "<td>" + ($0.overcommit.map { String(format: "%.2f", $0) } ?? "-") + "</td>" }.joined()
                + "</tr>\n"
            for (m, metric) in CompareRenderer.metrics.enumerated()
            where CompareRenderer.shownMetrics(c.results).contains(m) {
                let best = bestByCell(c, m)
                s +=
                    "<tr><td>\(esc(metric.name))</td>"
                    + c.groups.indices.map { g in
                        "<td\(best.contains(g) ? " class=\"best\"" : "")>\(cellText(c, g, m))</td>"
                    }.joined() + "</tr>\n"
            }
        } else {
            let ms = chartMetrics
            s +=
                "<table class=\"metrics\"><tr><th>policy</th>" + c.keys.map { "<th>\(esc($0))</th>" }.joined()
                + ms.map { "<th>\(esc(CompareRenderer.metrics[$0].name))</th>" }.joined() + "</tr>\n"
            let best = ms.map { m in bestByCell(c, m) }
            for g in c.groups.indices {
                s +=
                    "<tr><td>\(esc(c.policyNames[c.policy[g]]))</td>"
                    + c.keys.map { k in "<td>\(esc(c.groups[g].cell.first { $0.key == k }?.value ?? ""))</td>" }
                    .joined()
                s +=
                    ms.indices.map { k in
                        "<td\(best[k].contains(g) ? " class=\"best\"" : "")>\(cellText(c, g, ms[k]))</td>"
                    }.joined() + "</tr>\n"
            }
        }
        s += "</table>\n"
        s +=
            "<p class=\"note\">Bold: best among the columns of the same grid cell\(c.seeds ? ", its 95% interval apart from the runner-up's" : "") (lower is better, except sharing saved and time in high); columns of different cells are never compared, and a column whose run refused a VM another ran is never marked. Host peaks are host-wide at one moment; counts are events summed over VMs; slowdown and stall cover the traced span.</p>\n"
        return s
    }

    /// The best column of each grid cell for metric `m`.
    static func bestByCell(_ c: Columns, _ m: Int) -> Set<Int> {
        let marks = CompareSummary.marksByCell(
            c.groups, metric: m, lowerIsBetter: CompareRenderer.metrics[m].lowerIsBetter, eligible: c.eligible)
        return Set(marks.compactMap { CompareSummary.starred($0.value, seeds: c.seeds) ? $0.key : nil })
    }

    // MARK: policies compared

    /// A metric's unit, for a small chart's y axis ("swap-ins (count)" → count).
    static func unit(_ name: String) -> String {
        if name.contains("(count)") { return "count" }
        if name.contains("MiB") { return "MiB" }
        if name.contains(" s ") || name.hasSuffix(" s") { return "seconds" }
        return name
    }

    static func direction(_ m: Int) -> String {
        CompareRenderer.metrics[m].lowerIsBetter.map { $0 ? "lower is better" : "higher is better" }
            ?? "for information"
    }

    static func comparison(_ c: Columns) -> String {
        func value(_ cell: [SweepSetting], _ k: String) -> String? { cell.first { $0.key == k }?.value }
        // The first swept key with at least two values, all numbers, is the x axis.
        let x = c.keys.first { k in
            let vs = c.cells.compactMap { value($0, k) }
            return vs.count == c.cells.count && vs.allSatisfy { Double($0) != nil } && Set(vs).count > 1
        }
        guard let x else { return bars(c) }
        let others = c.keys.filter { $0 != x }
        var panels: [[SweepSetting]] = []
        for cell in c.cells {
            let rest = cell.filter { $0.key != x }
            if !panels.contains(rest) { panels.append(rest) }
        }
        let policies = c.policyNames.indices
        var s = "<h2>Sweep over \(esc(x))</h2>\n"
        s +=
            "<p class=\"note\">One line per policy over \(esc(x))"
            + (others.isEmpty
                ? "" : "; one small chart per value of \(esc(others.joined(separator: " × "))), all on the same scales")
            + (c.seeds ? "; lines are means over the seeds, shading their 95% intervals" : "") + ".</p>\n"
        let keys = policies.map { p in
            SVG.Key(name: c.policyNames[p], color: SVG.style(p).color, dash: SVG.style(p).dash)
        }
        for m in chartMetrics {
            let metric = CompareRenderer.metrics[m]
            var charts: [(String, [SVG.Series], [SVG.Interval])] = []
            for panel in panels {
                var series: [SVG.Series] = [], intervals: [SVG.Interval] = []
                for p in policies {
                    let pts = c.groups.indices.filter {
                        c.policy[$0] == p && c.groups[$0].cell.filter { $0.key != x } == panel
                    }
                    .map { g in (Double(value(c.groups[g].cell, x)!)!, g) }.sorted { $0.0 < $1.0 }
                    let (color, dash) = SVG.style(p)
                    series.append(
                        SVG.Series(
                            name: c.policyNames[p], color: color, dash: dash,
                            points: pts.map { ($0.0, c.groups[$0.1].mean[m]) }))
                    if c.seeds {
                        intervals.append(
                            SVG.Interval(
                                name: c.policyNames[p], color: color,
                                points: pts.map { ($0.0, c.groups[$0.1].low(m), c.groups[$0.1].high(m)) }))
                    }
                }
                charts.append((panel.map { "\($0.key)=\($0.value)" }.joined(separator: " "), series, intervals))
            }
            let id = "sweep-\(metric.name)"
            let caption = "\(metric.name) (\(direction(m)))"
            if panels.count == 1 {
                var chart = SVG.LineChart(
                    id: id, title: caption, xLabel: x, yLabel: metric.name, series: charts[0].1, intervals: charts[0].2)
                chart.xFromData = true
                s += SVG.figure(id, caption: nil, chart.render())
            } else {
                s += multiples(
                    id: id, caption: caption, xLabel: x, yLabel: unit(metric.name), panels: charts, keys: keys,
                    xFromData: true)
            }
        }
        return s
    }

    /// No numeric sweep: a bar per column for each charted metric, coloured by policy, with the
    /// 95% interval as a whisker when there are seeds.
    static func bars(_ c: Columns) -> String {
        var s = "<h2>Policies side by side</h2>\n"
        let labels = c.groups.indices.map { c.label($0) }
        let colors = c.groups.indices.map { c.style($0).color }
        for m in chartMetrics {
            let metric = CompareRenderer.metrics[m]
            let title = "\(metric.name) (\(direction(m)))"
            let id = "bars-\(metric.name)"
            s += SVG.figure(
                id, caption: nil,
                SVG.barChart(
                    id: id, title: title, labels: labels, colors: colors,
                    values: c.groups.map { $0.mean[m] },
                    intervals: c.seeds ? c.groups.indices.map { (c.groups[$0].low(m), c.groups[$0].high(m)) } : nil,
                    format: metric.format))
        }
        return s
    }

    /// Small multiples: one small chart per panel on shared x and y scales, one legend row.
    static func multiples(
        id: String, caption: String, xLabel: String, yLabel: String,
        panels: [(String, [SVG.Series], [SVG.Interval])], keys: [SVG.Key], xFromData: Bool = false
    ) -> String {
        let xs = panels.flatMap { $0.1.flatMap { $0.points.map(\.0) } }
        let ys = panels.flatMap { $0.1.flatMap { $0.points.map(\.1) } + $0.2.flatMap { $0.points.map(\.2) } }
        let xMax = SVG.ticks(from: xFromData ? xs.min() ?? 0 : 0, to: max(xs.max() ?? 1, 1e-9)).values.last!
        let yTop = (ys.max() ?? 0) > 1e-6 ? ys.max()! : 1
        let yMax = max(SVG.ticks(yTop).values.last!, yTop)
        var body = SVG.legendRow(keys) + "<div class=\"multiples\">\n"
        for (k, p) in panels.enumerated() {
            body += SVG.LineChart(
                id: "\(id)-\(k)", title: p.0, xLabel: xLabel, yLabel: yLabel, width: 296, height: 200,
                series: p.1, intervals: p.2, xMax: xMax, yMax: yMax, xFromData: xFromData, legend: false
            ).render()
        }
        body += "</div>\n"
        return SVG.figure(id, caption: caption, body)
    }

    // MARK: timelines

    /// Rows of one run grouped by time stamp: (seconds, rows at that time).
    static func byTime(_ rows: [TimelineRow]) -> [(Double, ArraySlice<TimelineRow>)] {
        var out: [(Double, ArraySlice<TimelineRow>)] = []
        var i = 0
        while i < rows.count {
            var j = i
            while j < rows.count && rows[j].time == rows[i].time { j += 1 }
            out.append((rows[i].time.seconds, rows[i..<j]))
            i = j
        }
        return out
    }

    /// A run's timeline rows split by VM id, in time order (looked up, never iterated).
    static func rowsByVM(_ r: RunResult) -> [UInt32: [TimelineRow]] {
        var out: [UInt32: [TimelineRow]] = [:]
        for row in r.timeline { out[row.vm, default: []].append(row) }
        return out
    }

    /// The free-memory state's exact spans (seconds) from a run's state changes: high from 0 to
    /// the first change, then each state until the next, the last until `end`.
    static func stateSpans(_ changes: [(time: Micros, state: FreeState)], end: Double) -> [(Double, Double, FreeState)]
    {
        var out: [(Double, Double, FreeState)] = []
        var from = 0.0, state = FreeState.high
        for c in changes {
            if c.time.seconds > from { out.append((from, c.time.seconds, state)) }
            from = c.time.seconds
            state = c.state
        }
        if end > from { out.append((from, end, state)) }
        return out
    }

    /// The oracle bound of sharing over time, held at its last value to the run's end (after
    /// the last record no content changes, so the bound stays).
    static func oracle(_ stats: TraceStats, mib: Double, end: Double) -> [(Double, Double)] {
        var pts: [(Double, Double)] = []
        for i in stats.intervals {
            // Intervals without records before this row kept the previous row's bound.
            if i.emptyIntervalsBefore != nil, let last = pts.last {
                pts.append((i.timeSeconds - stats.intervalSeconds, last.1))
            }
            pts.append((i.timeSeconds, Double(i.oracleSavedPages) * mib))
        }
        if let last = pts.last, end > last.0 { pts.append((end, last.1)) }
        return pts
    }

    static func timelines(_ c: Columns, stats: TraceStats?) -> String {
        if !c.keys.isEmpty {
            return
                "<h2>Timelines</h2>\n<p class=\"note\">Timelines are not drawn for a sweep (\(c.results.count) runs): <code>compare --timeline FILE.csv</code> writes every run's rows to one table, and <code>replay --html</code> with one setting draws them.</p>\n"
        }
        var picked = c.groups.indices.map { $0 }
        var s = "<h2>Timelines</h2>\n"
        if picked.count > maxTimelineRuns {
            s += "<p class=\"note\">The first \(maxTimelineRuns) of \(picked.count) columns are drawn.</p>\n"
            picked = Array(picked.prefix(maxTimelineRuns))
        }
        if c.seeds { s += "<p class=\"note\">Each policy's timeline is its first seed's run.</p>\n" }
        let runs = picked.map { c.results[c.groups[$0].runs[0]] }
        guard runs.contains(where: { !$0.timeline.isEmpty }) else {
            return s + "<p class=\"note\">No timeline rows.</p>\n"
        }
        return s + (runs.count == 1 ? singleRun(runs[0], stats: stats) : overlaid(c, picked, runs, stats: stats))
    }

    static func thresholds(_ r: RunResult, mib: Double) -> [(name: String, value: Double)] {
        let t = r.thresholds
        return [("high", Double(t.high) * mib)] + (t.hasClear ? [("clear", Double(t.clear) * mib)] : [])
            + [("soft", Double(t.soft) * mib), ("hard", Double(t.hard) * mib), ("low", Double(t.low) * mib)]
    }

    /// Free memory on the full range, then zoomed to 0…2 × high so the thresholds are apart.
    static func freeCharts(
        id: String, series: [SVG.Series], bands: [SVG.Band], thresholds: [(name: String, value: Double)],
        extraKeys: [SVG.Key]
    ) -> String {
        var full = SVG.LineChart(
            id: "\(id)-full", title: "Free machine memory (MiB) and the reclamation thresholds",
            xLabel: "simulated time (s)", yLabel: "MiB")
        full.series = series; full.bands = bands; full.thresholds = thresholds; full.extraKeys = extraKeys
        var zoom = full
        zoom.id = "\(id)-zoom"
        let high = thresholds.first?.value ?? 1
        zoom.yMax = max(2 * high, 1e-6)
        zoom.title = "Near the thresholds: 0 to \(mib1(2 * high)) MiB (more free memory runs along the top edge)"
        return SVG.figure(id, caption: "Free memory", full.render() + zoom.render())
    }

    static func singleRun(_ r: RunResult, stats: TraceStats?) -> String {
        let mib = Double(r.report.host.pageSizeBytes) / 1_048_576
        let times = byTime(r.timeline)
        let end = times.last?.0 ?? 0
        var s = ""
        let free = SVG.Series(
            name: "free", color: "#000000", points: times.map { ($0.0, Double($0.1.first!.free) * mib) })
        let spans = stateSpans(r.stateChanges, end: r.report.host.simulatedSeconds)
        let bands = spans.map { SVG.Band(from: $0.0, to: $0.1, label: $0.2.rawValue, color: SVG.stateColors[$0.2]!) }
        s += freeCharts(
            id: "free", series: [free], bands: bands, thresholds: thresholds(r, mib: mib),
            extraKeys: SVG.stateKeys(clear: r.thresholds.hasClear))
        var sharing = SVG.LineChart(
            id: "sharing", title: "Memory saved by sharing (MiB), against an instant perfect scanner",
            xLabel: "simulated time (s)", yLabel: "MiB")
        sharing.series = [
            SVG.Series(
                name: "saved by sharing", color: SVG.palette[0],
                points: times.map { t in (t.0, t.1.reduce(0) { $0 + $1.sharedSaved } * mib) })
        ]
        if let stats {
            sharing.series.append(
                SVG.Series(
                    name: "oracle bound", color: "#000000", dash: "6 3", points: oracle(stats, mib: mib, end: end)))
        }
        s += SVG.figure("sharing", caption: "Sharing", sharing.render())
        // Per VM: allocation, target, balloon and swap; then the active-memory estimate.
        let fields: [(String, String, String?, KeyPath<TimelineRow, UInt64>)] = [
            ("allocated", SVG.palette[0], nil, \.allocated), ("target", SVG.palette[1], "6 3", \.target),
            ("balloon", SVG.palette[2], nil, \.balloon), ("swapped", SVG.palette[5], "2 2", \.swapped),
        ]
        let byVM = rowsByVM(r)
        /// One panel per VM with a line per field (MiB over simulated time).
        func panels(
            _ fields: [(String, String, String?, KeyPath<TimelineRow, UInt64>)]
        ) -> [(String, [SVG.Series], [SVG.Interval])] {
            r.report.vms.map { vm in
                let mine = byVM[vm.id] ?? []
                return (
                    panelTitle(vm, mib: mib),
                    fields.map { f in
                        SVG.Series(
                            name: f.0, color: f.1, dash: f.2,
                            points: mine.map { ($0.time.seconds, Double($0[keyPath: f.3]) * mib) })
                    }, []
                )
            }
        }
        let memoryPanels = panels(fields)
        s += multiples(
            id: "memory", caption: "Memory per VM (MiB): allocated, target, balloon and swapped",
            xLabel: "simulated time (s)", yLabel: "MiB",
            panels: memoryPanels, keys: fields.map { SVG.Key(name: $0.0, color: $0.1, dash: $0.2) })
        let idle: [(String, String, String?, KeyPath<TimelineRow, UInt64>)] = [
            ("sampled estimate", SVG.palette[0], nil, \.activeEstimate),
            ("true working set", "#000000", "4 3", \.activeTrue),
        ]
        let idlePanels = panels(idle)
        s += multiples(
            id: "idle", caption: "Active memory per VM (MiB): the sampled estimate against the pages really touched",
            xLabel: "simulated time (s)", yLabel: "MiB",
            panels: idlePanels, keys: idle.map { SVG.Key(name: $0.0, color: $0.1, dash: $0.2) })
        return s
    }

    static func panelTitle(_ vm: ReplayReport.VM, mib: Double) -> String {
        "\(vm.name) (max \(mib1(Double(vm.maxPages) * mib)) MiB)" + (vm.refused ? ", refused" : "")
    }

    /// Several policies' timelines on shared axes: a line per policy in every chart.
    static func overlaid(_ c: Columns, _ picked: [Int], _ runs: [RunResult], stats: TraceStats?) -> String {
        let mib = Double(runs[0].report.host.pageSizeBytes) / 1_048_576
        let names = picked.map { c.policyNames[c.policy[$0]] }
        let styles = picked.map { c.style($0) }
        let times = runs.map { byTime($0.timeline) }
        let end = times.compactMap { $0.last?.0 }.max() ?? 0
        func perPolicy(_ f: (ArraySlice<TimelineRow>) -> Double) -> [SVG.Series] {
            runs.indices.map { k in
                SVG.Series(
                    name: names[k], color: styles[k].color, dash: styles[k].dash,
                    points: times[k].map { ($0.0, f($0.1) * mib) })
            }
        }
        let keys = runs.indices.map { SVG.Key(name: names[$0], color: styles[$0].color, dash: styles[$0].dash) }
        var s = ""
        let sameThresholds = runs.allSatisfy { $0.thresholds == runs[0].thresholds }
        if !sameThresholds {
            s += "<p class=\"note\">The policies' thresholds differ; the lines drawn are \(esc(names[0]))'s.</p>\n"
        }
        s += freeCharts(
            id: "free", series: perPolicy { Double($0.first!.free) }, bands: [],
            thresholds: thresholds(runs[0], mib: mib), extraKeys: [])
        s += SVG.figure(
            "states", caption: "Reclamation state over time",
            SVG.legendRow(SVG.stateKeys(clear: runs.contains { $0.thresholds.hasClear }))
                + SVG.stateStrips(
                    id: "states", title: "Free-memory state per policy",
                    rows: runs.indices.map {
                        (names[$0], stateSpans(runs[$0].stateChanges, end: runs[$0].report.host.simulatedSeconds))
                    }, xMax: end))
        var sharing = SVG.LineChart(
            id: "sharing", title: "Memory saved by sharing (MiB), against an instant perfect scanner",
            xLabel: "simulated time (s)", yLabel: "MiB")
        sharing.series = perPolicy { $0.reduce(0) { $0 + $1.sharedSaved } }
        if let stats {
            sharing.series.append(
                SVG.Series(
                    name: "oracle bound", color: "#555555", dash: "6 3", points: oracle(stats, mib: mib, end: end)))
        }
        s += SVG.figure("sharing", caption: "Sharing", sharing.render())
        var balloon = SVG.LineChart(
            id: "host-balloon", title: "Memory in all balloons at once (MiB)", xLabel: "simulated time (s)",
            yLabel: "MiB")
        balloon.series = perPolicy { Double($0.reduce(0) { $0 + $1.balloon }) }
        var swapped = SVG.LineChart(
            id: "host-swapped", title: "Memory swapped to the host's disk at once (MiB)", xLabel: "simulated time (s)",
            yLabel: "MiB")
        swapped.series = perPolicy { Double($0.reduce(0) { $0 + $1.swapped }) }
        s += SVG.figure("host-reclaim", caption: "Host-wide reclamation", balloon.render() + swapped.render())
        let vms = runs[0].report.vms
        let byVM = runs.map(rowsByVM)
        func panels(_ kp: KeyPath<TimelineRow, UInt64>, truth: Bool = false) -> [(String, [SVG.Series], [SVG.Interval])]
        {
            vms.map { vm in
                var series = runs.indices.map { k in
                    SVG.Series(
                        name: names[k], color: styles[k].color, dash: styles[k].dash,
                        points: (byVM[k][vm.id] ?? []).map { ($0.time.seconds, Double($0[keyPath: kp]) * mib) })
                }
                if truth {
                    series.append(
                        SVG.Series(
                            name: "true working set (\(names[0]))", color: "#555555", dash: "2 3",
                            points: (byVM[0][vm.id] ?? []).map { ($0.time.seconds, Double($0.activeTrue) * mib) }))
                }
                return (panelTitle(vm, mib: mib), series, [])
            }
        }
        let x = "simulated time (s)"
        s += multiples(
            id: "allocated", caption: "Allocated memory per VM (MiB)", xLabel: x, yLabel: "MiB",
            panels: panels(\.allocated), keys: keys)
        s += multiples(
            id: "balloon", caption: "Balloon size per VM (MiB)", xLabel: x, yLabel: "MiB", panels: panels(\.balloon),
            keys: keys)
        s += multiples(
            id: "swapped", caption: "Swapped memory per VM (MiB)", xLabel: x, yLabel: "MiB", panels: panels(\.swapped),
            keys: keys)
        s += multiples(
            id: "idle",
            caption: "Active memory per VM (MiB): each policy's sampled estimate against the pages really touched",
            xLabel: x, yLabel: "MiB",
            panels: panels(\.activeEstimate, truth: true),
            keys: keys + [SVG.Key(name: "true working set (\(names[0]))", color: "#555555", dash: "2 3")])
        return s
    }
}

extension HTMLReport {
    /// `study merge`'s report: per trace, the summary, the results table and the policies
    /// compared (the seeds of one policy and grid cell summarised as mean ± 95% interval), and
    /// at the top the cells that have no result. No timelines (cells keep none).
    static func studyPage(_ cells: [(StudyCell, RunResult)], missing: [StudyMerge.Missing], cells total: Int) -> String
    {
        var s = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>tracetool study</title>
            \(style)</head><body>
            <h1>tracetool study: \(cells.count) of \(total) cells</h1>

            """
        if !missing.isEmpty {
            s +=
                "<p class=\"warning\">\(missing.count) of \(total) cells have no result and are not in this report:</p>\n<table><tr><th>cell</th><th>trace</th><th>run</th><th>why</th></tr>\n"
            for m in missing {
                s +=
                    "<tr><td>\(m.cell)</td><td>\(esc(m.trace))</td><td>\(esc(m.run))</td><td>\(esc(m.reason))</td></tr>\n"
            }
            s += "</table>\n"
        }
        var traces: [String] = []
        for (c, _) in cells where !traces.contains(c.trace) { traces.append(c.trace) }
        for (i, t) in traces.enumerated() {
            // Seeds of one policy and grid cell are adjacent in plan order: summarise them.
            var results: [RunResult] = []
            for (_, r) in cells.filter({ $0.0.trace == t }) {
                var r = r
                r.replicate = results.last.map { $0.policyName == r.policyName && $0.cell == r.cell } == true ? 1 : 0
                results.append(r)
            }
            let c = Columns(results)
            var section = summary(c, stats: nil, trace: t) + table(c)
            if c.groups.count > 1 { section += comparison(c) }
            // Chart ids are per page: prefix each trace's.
            section = section.replacingOccurrences(of: "data-chart=\"", with: "data-chart=\"t\(i)-")
                .replacingOccurrences(of: "data-fig=\"", with: "data-fig=\"t\(i)-")
            s += "<h2>\(esc(t))</h2>\n" + section
        }
        s += "</body></html>\n"
        return s
    }
}
