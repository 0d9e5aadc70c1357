import Foundation
import Replay

/// A self-contained HTML report: inline SVG charts, no scripts, no network.
public enum HTMLReport {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func num(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int64(v)) }
        return String(format: "%.2f", v)
    }

    /// Round tick values covering 0…max.
    static func ticks(_ maxValue: Double) -> [Double] {
        let m = maxValue > 0 ? maxValue : 1
        let raw = m / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        return stride(from: 0, through: m + step * 0.001, by: step).map { $0 }
    }

    public struct Series {
        public var name: String
        public var color: String
        public var dash: String?
        public var points: [(Double, Double)]
    }

    /// A 95% interval around a series: a shaded polygon between its low and high points.
    public struct Interval {
        public var name: String
        public var color: String
        /// (x, low, high), in x order.
        public var points: [(Double, Double, Double)]
    }

    public struct Band {
        public var from: Double, to: Double
        public var label: String
        public var color: String
    }

    /// A line chart. Series are `<polyline class="series" data-series=…>`, state bands
    /// `<rect class="band" data-band=…>`, thresholds `<line class="threshold" data-name=…>`;
    /// every point lies inside the plot area (x from `left` to `width − right`, y from `top` to
    /// `height − bottom`).
    public static func lineChart(id: String, title: String, xLabel: String, yLabel: String, series: [Series],
                                 bands: [Band] = [], thresholds: [(String, Double)] = [], intervals: [Interval] = []) -> String {
        let w = 900.0, h = 300.0, left = 70.0, right = 170.0, top = 34.0, bottom = 44.0
        let pw = w - left - right, ph = h - top - bottom
        let xmax = max(1, (series.flatMap { $0.points.map(\.0) } + bands.map(\.to)).max() ?? 1)
        // An all-zero chart gets a 0…1 axis rather than ticks too small to label.
        let dataMax = (series.flatMap { $0.points.map(\.1) } + thresholds.map(\.1) + intervals.flatMap { $0.points.map(\.2) }).max() ?? 0
        let ymaxData = dataMax > 1e-6 ? dataMax : 1
        let yt = ticks(ymaxData)
        let ymax = max(yt.last ?? 1, ymaxData)
        let xt = ticks(xmax)
        let xm = max(xt.last ?? xmax, xmax)
        func X(_ x: Double) -> Double { left + min(max(x / xm, 0), 1) * pw }
        func Y(_ y: Double) -> Double { top + ph - min(max(y / ymax, 0), 1) * ph }
        var s = "<svg class=\"chart\" data-chart=\"\(esc(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(num(w)) \(num(h))\" width=\"\(num(w))\" height=\"\(num(h))\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s += "<text class=\"title\" x=\"\(num(left))\" y=\"20\" font-size=\"15\" font-weight=\"bold\">\(esc(title))</text>\n"
        for b in bands {
            s += "<rect class=\"band\" data-band=\"\(esc(b.label))\" x=\"\(num(X(b.from)))\" y=\"\(num(top))\" width=\"\(num(max(0.5, X(b.to) - X(b.from))))\" height=\"\(num(ph))\" fill=\"\(b.color)\" fill-opacity=\"0.25\"><title>\(esc(b.label))</title></rect>\n"
        }
        for v in yt {
            s += "<line x1=\"\(num(left))\" x2=\"\(num(left + pw))\" y1=\"\(num(Y(v)))\" y2=\"\(num(Y(v)))\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(num(left - 6))\" y=\"\(num(Y(v) + 4))\" font-size=\"11\" text-anchor=\"end\">\(num(v))</text>\n"
        }
        for v in xt {
            s += "<line x1=\"\(num(X(v)))\" x2=\"\(num(X(v)))\" y1=\"\(num(top + ph))\" y2=\"\(num(top + ph + 4))\" stroke=\"#333\"/>"
            s += "<text x=\"\(num(X(v)))\" y=\"\(num(top + ph + 16))\" font-size=\"11\" text-anchor=\"middle\">\(num(v))</text>\n"
        }
        s += "<rect x=\"\(num(left))\" y=\"\(num(top))\" width=\"\(num(pw))\" height=\"\(num(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text class=\"xlabel\" x=\"\(num(left + pw / 2))\" y=\"\(num(h - 6))\" font-size=\"12\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        s += "<text class=\"ylabel\" x=\"14\" y=\"\(num(top + ph / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(num(top + ph / 2)))\">\(esc(yLabel))</text>\n"
        for (name, v) in thresholds {
            s += "<line class=\"threshold\" data-name=\"\(esc(name))\" x1=\"\(num(left))\" x2=\"\(num(left + pw))\" y1=\"\(num(Y(v)))\" y2=\"\(num(Y(v)))\" stroke=\"#555\" stroke-dasharray=\"6 3\"/>"
            s += "<text x=\"\(num(left + pw + 4))\" y=\"\(num(Y(v) + 4))\" font-size=\"10\">\(esc(name))</text>\n"
        }
        for iv in intervals where !iv.points.isEmpty {
            let upper = iv.points.map { "\(num(X($0.0))),\(num(Y($0.2)))" }
            let lower = iv.points.reversed().map { "\(num(X($0.0))),\(num(Y($0.1)))" }
            s += "<polygon class=\"interval\" data-series=\"\(esc(iv.name))\" fill=\"\(iv.color)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
        }
        for (i, se) in series.enumerated() where !se.points.isEmpty {
            let pts = se.points.map { "\(num(X($0.0))),\(num(Y($0.1)))" }.joined(separator: " ")
            let dash = se.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            s += "<polyline class=\"series\" data-series=\"\(esc(se.name))\" fill=\"none\" stroke=\"\(se.color)\" stroke-width=\"1.6\"\(dash) points=\"\(pts)\"/>\n"
            let ly = top + 12 + Double(i) * 14
            if ly < top + ph {
                s += "<line x1=\"\(num(left + pw + 28))\" x2=\"\(num(left + pw + 46))\" y1=\"\(num(ly - 4))\" y2=\"\(num(ly - 4))\" stroke=\"\(se.color)\" stroke-width=\"2\"\(dash)/>"
                s += "<text x=\"\(num(left + pw + 50))\" y=\"\(num(ly))\" font-size=\"10\">\(esc(se.name))</text>\n"
            }
        }
        s += "</svg>\n"
        return s
    }

    /// A sweep over a numeric key drawn as curves: for each metric, one line per policy (and
    /// per value of any other swept key) over the swept value, the mean over seeds with its 95%
    /// interval shaded when there are several. The first swept key whose values are all numbers
    /// (at least two of them) is the x axis; nil when there is none.
    static func sweepSection(_ results: [RunResult]) -> String? {
        let keys = CompareSummary.sweptKeys(results)
        func value(_ r: [SweepSetting], _ k: String) -> String? { r.first { $0.key == k }?.value }
        guard let x = keys.first(where: { k in
            let vs = results.compactMap { value($0.cell, k) }
            return vs.count == results.count && vs.allSatisfy { Double($0) != nil } && Set(vs).count > 1
        }) else { return nil }
        let groups = CompareSummary.group(results)
        // One line per policy and values of the other keys, in order of first appearance.
        var lines: [String] = []
        func lineName(_ g: CompareSummary) -> String {
            ([g.policyName] + g.cell.filter { $0.key != x }.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
        }
        for g in groups where !lines.contains(lineName(g)) { lines.append(lineName(g)) }
        var s = "<h2>Sweep over \(esc(x))</h2>\n"
        let seeds = groups.contains { $0.runs.count > 1 }
        if seeds { s += "<p>Lines are means over \(groups[0].runs.count) seeds; shading is the 95% interval.</p>\n" }
        let chosen = CompareRenderer.metrics.enumerated().filter { $0.offset <= 9 }
        for (m, metric) in chosen {
            var series: [Series] = [], intervals: [Interval] = []
            for (i, line) in lines.enumerated() {
                let color = palette[i % palette.count]
                let pts = groups.filter { lineName($0) == line }
                    .map { g in (Double(value(g.cell, x)!)!, g) }
                    .sorted { $0.0 < $1.0 }
                series.append(Series(name: line, color: color, dash: nil, points: pts.map { ($0.0, $0.1.mean[m]) }))
                if seeds { intervals.append(Interval(name: line, color: color, points: pts.map { ($0.0, $0.1.low(m), $0.1.high(m)) })) }
            }
            let direction = metric.lowerIsBetter.map { $0 ? "lower is better" : "higher is better" } ?? "for information"
            s += lineChart(id: "sweep-\(metric.name)", title: "\(metric.name) (\(direction))", xLabel: x, yLabel: metric.name,
                           series: series, intervals: intervals)
        }
        return s
    }

    /// Horizontal bars, one per policy, for one metric.
    public static func barChart(id: String, title: String, unit: String, labels: [String], values: [Double]) -> String {
        let w = 900.0, rowH = 22.0, left = 260.0, right = 90.0, top = 30.0
        let h = top + rowH * Double(values.count) + 10
        let vmax = max(values.max() ?? 1, 1e-9)
        var s = "<svg class=\"chart bars\" data-chart=\"\(esc(id))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(num(w)) \(num(h))\" width=\"\(num(w))\" height=\"\(num(h))\">\n"
        s += "<text class=\"title\" x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(esc(title)) (\(esc(unit)))</text>\n"
        for (i, v) in values.enumerated() {
            let y = top + rowH * Double(i)
            let bw = (w - left - right) * v / vmax
            s += "<text x=\"\(num(left - 8))\" y=\"\(num(y + 15))\" font-size=\"11\" text-anchor=\"end\">\(esc(labels[i]))</text>"
            s += "<rect class=\"bar\" data-value=\"\(num(v))\" x=\"\(num(left))\" y=\"\(num(y + 3))\" width=\"\(num(bw))\" height=\"\(num(rowH - 6))\" fill=\"\(palette[i % palette.count])\"/>"
            s += "<text x=\"\(num(left + bw + 6))\" y=\"\(num(y + 15))\" font-size=\"11\">\(num((v * 100).rounded() / 100))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    static let stateColors: [FreeState: String] = [.high: "#b7e4c7", .soft: "#ffe08a", .hard: "#f8ad6b", .low: "#f07167"]

    /// The charts of one replay.
    public static func runSection(_ r: RunResult, stats: TraceStats?, index: Int) -> String {
        let mib = Double(r.report.host.pageSize) / 1_048_576
        let rows = r.timeline
        let vmIDs = r.report.vms.map(\.id)
        var s = ""
        let perVM = vmIDs.map { id in rows.filter { $0.vm == id } }
        /// One series per VM and field, in the VM's colour, each field with its own dash.
        func series(_ fields: [(String, String?, KeyPath<TimelineRow, UInt64>)]) -> [Series] {
            var out: [Series] = []
            for (i, mine) in perVM.enumerated() {
                let c = palette[i % palette.count]
                for (label, dash, kp) in fields {
                    out.append(Series(name: "\(r.report.vms[i].name) \(label)", color: c, dash: dash,
                                      points: mine.map { ($0.time.seconds, Double($0[keyPath: kp]) * mib) }))
                }
            }
            return out
        }
        let memory = series([("allocated", nil, \.allocated), ("target", "6 3", \.target), ("balloon", "2 2", \.balloon),
                             ("swapped", "10 2 2 2", \.swapped)])
        s += lineChart(id: "memory-\(index)", title: "Allocation, target, balloon and swapped memory per VM",
                       xLabel: "simulated time (s)", yLabel: "MiB", series: memory)
        // Free memory with states.
        let freeRows = perVM.first ?? []
        var bands: [Band] = []
        var prev: (Double, FreeState)?
        for row in freeRows {
            if let p = prev { bands.append(Band(from: p.0, to: row.time.seconds, label: p.1.rawValue, color: stateColors[p.1]!)) }
            prev = (row.time.seconds, row.state)
        }
        let t = r.thresholds
        s += lineChart(id: "free-\(index)", title: "Free memory; state bands: high green, soft yellow, hard orange, low red",
                       xLabel: "simulated time (s)", yLabel: "MiB",
                       series: [Series(name: "free", color: "#000", dash: nil, points: freeRows.map { ($0.time.seconds, Double($0.free) * mib) })],
                       bands: bands,
                       thresholds: [("high", Double(t.high) * mib), ("soft", Double(t.soft) * mib), ("hard", Double(t.hard) * mib), ("low", Double(t.low) * mib)])
        // Sharing against the oracle bound.
        var savedByTime: [(Double, Double)] = []
        var i = 0
        while i < rows.count {
            let time = rows[i].time
            var sum = 0.0
            while i < rows.count && rows[i].time == time { sum += rows[i].sharedSaved; i += 1 }
            savedByTime.append((time.seconds, sum * mib))
        }
        var sharing = [Series(name: "saved by sharing", color: palette[0], dash: nil, points: savedByTime)]
        if let stats {
            sharing.append(Series(name: "oracle bound", color: palette[1], dash: "6 3",
                                  points: stats.intervals.map { ($0.timeSeconds, Double($0.oracleSavedPages) * mib) }))
        }
        s += lineChart(id: "sharing-\(index)", title: "Memory saved by sharing, against an instant perfect scanner",
                       xLabel: "simulated time (s)", yLabel: "MiB", series: sharing)
        let idle = series([("estimate", nil, \.activeEstimate), ("true", "4 3", \.activeTrue)])
        s += lineChart(id: "idle-\(index)", title: "Active memory: sampled estimate against the true working set",
                       xLabel: "simulated time (s)", yLabel: "MiB", series: idle)
        return s
    }

    public static func page(results: [RunResult], stats: TraceStats?, trace: String) -> String {
        var s = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>tracetool report: \(esc(trace))</title>
        <style>body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;max-width:960px}
        h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
        table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th:first-child,td:first-child{text-align:left}svg{display:block;margin:12px 0}</style></head><body>
        <h1>tracetool report: \(esc(trace))</h1>

        """
        let first = results.first?.report
        if let first {
            s += "<p>\(first.host.records) records, \(num((first.host.simulatedSeconds * 10).rounded() / 10)) s simulated, host \(num(first.host.machineMiB)) MiB, \(results.count) polic\(results.count == 1 ? "y" : "ies").</p>\n"
        }
        s += "<table><tr><th>metric</th>" + results.map { "<th>\(esc($0.name))</th>" }.joined() + "</tr>\n"
        for m in CompareRenderer.metrics {
            s += "<tr><td>\(esc(m.name))</td>" + results.map { "<td>\(String(format: m.format, m.value($0.report)))</td>" }.joined() + "</tr>\n"
        }
        s += "</table>\n"
        // What a run dropped, where the reader looks: refused VMs and an unfinished scan.
        for r in results {
            for f in r.report.admission.refusals {
                s += "<p class=\"warning\"><b>\(esc(r.name)):</b> \(esc(f.sentence(pageSize: r.report.host.pageSize)))</p>\n"
            }
            for line in r.report.scanLines().split(separator: "\n") {
                s += "<p class=\"note\"><b>\(esc(r.name)):</b> \(esc(line.trimmingCharacters(in: .whitespaces)))</p>\n"
            }
        }
        if let sweep = sweepSection(results) {
            s += sweep
        } else if results.count > 1 {
            s += "<h2>Policies side by side</h2>\n"
            for m in CompareRenderer.metrics.prefix(9) {
                let direction = m.lowerIsBetter.map { $0 ? "lower is better" : "higher is better" } ?? "for information"
                s += barChart(id: "bars-\(m.name)", title: m.name, unit: direction,
                              labels: results.map(\.name), values: results.map { m.value($0.report) })
            }
        }
        for (i, r) in results.enumerated() {
            s += "<h2>\(esc(r.name))</h2>\n" + runSection(r, stats: stats, index: i)
        }
        s += "</body></html>\n"
        return s
    }
}
