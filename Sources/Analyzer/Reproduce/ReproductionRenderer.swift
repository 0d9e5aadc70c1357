import Foundation
import Replay

/// `tracetool reproduce` output: a Markdown summary (`--format md`, docs/REPRODUCTION.md) and
/// a self-contained HTML report with the same tables and the charts. Both are pure functions of
/// the reproduction: no times, paths or host names.
public enum ReproductionRenderer {
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    /// One Markdown table row per compared quantity.
    static func markdownRow(_ r: Reproduction.Row) -> String {
        "| \(cell(r.quantity)) | \(cell(r.paperText)) | \(cell(r.oursText)) | \(r.difference) | \(cell(r.reason)) |"
    }

    public static func markdown(_ rep: Reproduction) -> String {
        var s = "# The paper's experiments, rerun\n\n"
        s +=
            rep.quick
            ? "`tracetool reproduce --quick --format md`: scaled-down settings (smaller generated guests, the two largest bundled traces left out); MiB of scaled guests are scaled back up to the paper's sizes.\n\n"
            : "`tracetool reproduce --format md` (`bash scripts/reproduce.sh` regenerates this file). Each experiment of Waldspurger, \"Memory Resource Management in VMware ESX Server\" (OSDI 2002), rerun on the bundled traces (traces/README.md) and on `tracetool gen` scenarios, with the paper's numbers (docs/PAPER.md) beside ours. \"ours − paper\" is followed by ours / paper; a reason is given when they differ by more than the tolerance, pointing at docs/MODEL.md, \"Reproducing the paper\".\n\n"
        let notRun = rep.notRun
        if !notRun.isEmpty {
            s += "**Not run:** " + notRun.joined(separator: "; ") + ".\n\n"
        }
        s += "## Summary\n\n| experiment | quantity | paper | ours | ours − paper | why |\n|---|---|---|---|---|---|\n"
        for (e, r) in rep.headlines { s += "| \(e.short) " + markdownRow(summaryRow(r)) + "\n" }
        s += "\n"
        for e in rep.experiments {
            s += "## \(e.title)\n\n\(e.setting)\n\n"
            if !e.notRun.isEmpty { s += "**Not run:** " + e.notRun.joined(separator: "; ") + ".\n\n" }
            for t in e.tables where !t.rows.isEmpty {
                s += "**\(t.title)**\n\n| quantity | paper | ours | ours − paper | why |\n|---|---|---|---|---|\n"
                for r in t.rows { s += markdownRow(r) + "\n" }
                s += "\n"
            }
            if !e.reasons.isEmpty {
                s += "Why they differ (docs/MODEL.md, \"Reproducing the paper\"):\n\n"
                for w in e.reasons { s += "- *\(w.rawValue)*: \(w.sentence).\n" }
                s += "\n"
            }
            if !e.commands.isEmpty {
                s += "Commands (T: a temporary trace):\n\n```sh\n" + e.commands.joined(separator: "\n") + "\n```\n\n"
            }
        }
        return s
    }

    // MARK: HTML

    public static func html(_ rep: Reproduction) -> String {
        var s = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>tracetool: the paper's experiments, rerun</title>
            \(HTMLReport.Style.sheet(
                headings: "h3{font-size:15px}",
                cells: "th:first-child,td:first-child,th:last-child,td:last-child{text-align:left}td.agree{background:#e6f2ea}td.differ{background:#fdf0e0}",
                afterTables: ["pre{background:#f6f6f6;padding:6px 10px;font-size:12px;white-space:pre-wrap}"]))</head><body>
            <h1>The paper's experiments, rerun</h1>

            """
        s +=
            rep.quick
            ? "<p class=\"note\">Quick run (<code>--quick</code>): scaled-down settings; MiB of scaled guests are scaled back up to the paper's sizes.</p>\n"
            : "<p class=\"note\">Each experiment of Waldspurger, “Memory Resource Management in VMware ESX Server” (OSDI 2002), rerun by tracetool on the bundled traces and on generated scenarios, with the paper's numbers beside ours. Reasons for differences point at docs/MODEL.md, “Reproducing the paper”.</p>\n"
        if !rep.notRun.isEmpty {
            s += "<p class=\"warning\">Not run: \(SVG.esc(rep.notRun.joined(separator: "; "))).</p>\n"
        }
        s +=
            "<h2>Summary</h2>\n<table><tr><th>experiment</th><th>quantity</th><th>paper</th><th>ours</th><th>ours − paper</th><th>why</th></tr>\n"
        for (e, r) in rep.headlines { s += "<tr><td>\(SVG.esc(e.short))</td>" + htmlCells(summaryRow(r)) + "</tr>\n" }
        s += "</table>\n"
        for e in rep.experiments {
            s += "<h2 id=\"\(SVG.esc(e.id))\">\(SVG.esc(e.title))</h2>\n<p>\(SVG.esc(e.setting))</p>\n"
            if !e.notRun.isEmpty {
                s += "<p class=\"warning\">Not run: \(SVG.esc(e.notRun.joined(separator: "; "))).</p>\n"
            }
            for t in e.tables where !t.rows.isEmpty {
                s +=
                    "<h3>\(SVG.esc(t.title))</h3>\n<table><tr><th>quantity</th><th>paper</th><th>ours</th><th>ours − paper</th><th>why</th></tr>\n"
                for r in t.rows { s += "<tr>" + htmlCells(r) + "</tr>\n" }
                s += "</table>\n"
            }
            if !e.reasons.isEmpty {
                s += "<p class=\"note\">Why they differ (docs/MODEL.md, “Reproducing the paper”):</p><ul>"
                for w in e.reasons { s += "<li><i>\(w.rawValue)</i>: \(SVG.esc(w.sentence)).</li>" }
                s += "</ul>\n"
            }
            for c in e.charts { s += chart(c) }
            if !e.commands.isEmpty {
                s +=
                    "<p class=\"note\">Commands (T: a temporary trace):</p><pre>\(SVG.esc(e.commands.joined(separator: "\n")))</pre>\n"
            }
        }
        s += "</body></html>\n"
        return s
    }

    /// A summary row names its source when its table holds several.
    static func summaryRow(_ r: Reproduction.Row) -> Reproduction.Row {
        var r = r
        if !r.source.isEmpty { r.quantity = r.source + ", " + r.quantity }
        return r
    }

    static func htmlCells(_ r: Reproduction.Row) -> String {
        let cls = r.agrees.map { $0 ? " class=\"agree\"" : " class=\"differ\"" } ?? ""
        return
            "<td>\(SVG.esc(r.quantity))</td><td>\(SVG.esc(r.paperText))</td><td\(cls)>\(SVG.esc(r.oursText))</td><td>\(SVG.esc(r.difference))</td><td>\(SVG.esc(r.reason))</td>"
    }

    static func chart(_ c: Reproduction.Chart) -> String {
        switch c.kind {
        case .lines:
            let series = c.series.enumerated().map { i, sr -> SVG.Series in
                let st = SVG.style(i)
                return SVG.Series(name: sr.name, color: st.color, dash: st.dash, points: sr.points)
            }
            var ch = SVG.LineChart(id: c.id, title: c.title, xLabel: c.xLabel, yLabel: c.yLabel)
            ch.series = series
            return SVG.figure(c.id, caption: nil, ch.render())
        case .bars:
            let colors = c.bars.indices.map { SVG.style($0).color }
            return SVG.figure(
                c.id, caption: nil,
                SVG.barChart(
                    id: c.id, title: c.title, labels: c.bars.map(\.label), colors: colors,
                    values: c.bars.map(\.value), format: c.barFormat))
        case .states:
            let xMax = c.strips.flatMap { $0.spans.map(\.1) }.max() ?? 1
            let clear = c.strips.contains { $0.spans.contains { $0.2 == .clear } }
            return SVG.figure(
                c.id, caption: nil,
                SVG.legendRow(SVG.stateKeys(clear: clear))
                    + SVG.stateStrips(id: c.id, title: c.title, rows: c.strips, xMax: xMax))
        }
    }
}
