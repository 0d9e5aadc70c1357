import Foundation
import Replay

extension SVG {
    struct Series {
        var name: String
        var color: String
        var dash: String? = nil
        var points: [(Double, Double)]
        var key: Key { Key(name: name, color: color, dash: dash) }
    }

    /// A 95% interval around a series: a shaded polygon between its low and high points.
    struct Interval {
        var name: String
        var color: String
        /// (x, low, high), in x order.
        var points: [(Double, Double, Double)]
    }

    /// A shaded stretch of the x axis (the free-memory state over time).
    struct Band {
        var from: Double, to: Double
        var label: String
        var color: String
    }

    /// A line chart with linear axes from 0. `xMax`/`yMax` fix the scales (small multiples
    /// share them); otherwise they cover the data. Values outside the y range run along the
    /// plot's edge (`yMax` below the data: a zoomed chart says so in its title). The legend sits
    /// right of the plot, one row per series, and the chart grows to hold it.
    struct LineChart {
        var id: String
        var title: String
        var xLabel: String
        var yLabel: String
        var width = 900.0
        var height = 300.0
        var series: [Series] = []
        var intervals: [Interval] = []
        var bands: [Band] = []
        var thresholds: [(name: String, value: Double)] = []
        var xMax: Double?
        var yMax: Double?
        /// The x axis starts at the data's least value instead of 0 (a sweep's first value).
        var xFromData = false
        /// Legend beside the plot; off in small multiples, whose figure has one legend row.
        var legend = true
        /// Extra legend entries (state bands).
        var extraKeys: [Key] = []

        var small: Bool { width < 500 }

        func render() -> String {
            let font = small ? 10.0 : 11.0
            let titleSize = small ? 12.0 : 14.0
            let dataX =
                series.flatMap { $0.points.map(\.0) } + bands.map(\.to) + intervals.flatMap { $0.points.map(\.0) }
            let xTop = xMax ?? max(dataX.max() ?? 1, 1e-9)
            let dataY =
                series.flatMap { $0.points.map(\.1) } + thresholds.map(\.value)
                + intervals.flatMap { $0.points.map(\.2) }
            // An all-zero chart gets a 0…1 axis rather than ticks too small to label.
            let yData = yMax ?? ((dataY.max() ?? 0) > 1e-6 ? dataY.max()! : 1)
            let (yt, ystep) = SVG.ticks(yData)
            let ymax = yMax ?? max(yt.last ?? 1, yData)
            let yTicks = yt.filter { $0 <= ymax * (1 + 1e-9) }
            let xLow = xFromData ? (dataX.min() ?? 0) : 0
            let (xtAll, xstep) = SVG.ticks(from: xLow, to: xTop)
            let x0 = xFromData ? xLow : 0
            let xm = xMax ?? max(xtAll.last ?? xTop, xTop)
            let xTicks = xtAll.filter { $0 >= x0 - 1e-9 * abs(xm) && $0 <= xm * (1 + 1e-9) }
            let yLabels = yTicks.map { SVG.tick($0, step: ystep) }
            let left = 30 + (yLabels.map { SVG.textWidth($0, font) }.max() ?? 10)
            let keys = legend ? series.map(\.key) + extraKeys : []
            let legendWidth = min(small ? 120 : 230, (keys.map { SVG.textWidth($0.name, font) }.max() ?? 0) + 34)
            let right = keys.isEmpty ? 16 : legendWidth + 14
            let top = small ? 26.0 : 30.0, bottom = 40.0
            let pw = width - left - right
            let ph = max(height - top - bottom, Double(keys.count) * 15 + 6)
            let h = top + ph + bottom
            func X(_ x: Double) -> Double { left + min(max((x - x0) / (xm - x0), 0), 1) * pw }
            func Y(_ y: Double) -> Double { top + ph - min(max(y / ymax, 0), 1) * ph }
            var s =
                "<svg class=\"chart\" data-chart=\"\(SVG.esc(id))\" data-plot=\"\(SVG.num(left)) \(SVG.num(top)) \(SVG.num(left + pw)) \(SVG.num(top + ph))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(SVG.num(width)) \(SVG.num(h))\" width=\"\(SVG.num(width))\" height=\"\(SVG.num(h))\" role=\"img\" aria-label=\"\(SVG.esc(title))\">\n"
            s += "<title>\(SVG.esc(title))</title>\n"
            s +=
                SVG.text(
                    8, titleSize + 4, SVG.fit(title, width - 16, titleSize), size: titleSize, cls: "title", bold: true)
                + "\n"
            for b in bands {
                s +=
                    "<rect class=\"band\" data-band=\"\(SVG.esc(b.label))\" x=\"\(SVG.num(X(b.from)))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(max(0.5, X(b.to) - X(b.from))))\" height=\"\(SVG.num(ph))\" fill=\"\(b.color)\"><title>\(SVG.esc(b.label))</title></rect>\n"
            }
            for (v, label) in zip(yTicks, yLabels) {
                s +=
                    "<line x1=\"\(SVG.num(left))\" x2=\"\(SVG.num(left + pw))\" y1=\"\(SVG.num(Y(v)))\" y2=\"\(SVG.num(Y(v)))\" stroke=\"#e3e3e3\"/>"
                s += SVG.text(left - 5, Y(v) + font * 0.35, label, size: font, anchor: "end") + "\n"
            }
            // x tick labels, thinned so that neighbours keep a gap.
            let xLabels = xTicks.map { SVG.tick($0, step: xstep) }
            let widest = xLabels.map { SVG.textWidth($0, font) }.max() ?? 0
            let every = max(1, Int(ceil((widest + 8) / max(1, pw / Double(max(1, xTicks.count - 1))))))
            for (k, v) in xTicks.enumerated() {
                s +=
                    "<line x1=\"\(SVG.num(X(v)))\" x2=\"\(SVG.num(X(v)))\" y1=\"\(SVG.num(top + ph))\" y2=\"\(SVG.num(top + ph + 4))\" stroke=\"#333\"/>"
                if k % every == 0 { s += SVG.text(X(v), top + ph + 15, xLabels[k], size: font, anchor: "middle") }
                s += "\n"
            }
            s +=
                "<rect x=\"\(SVG.num(left))\" y=\"\(SVG.num(top))\" width=\"\(SVG.num(pw))\" height=\"\(SVG.num(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
            s +=
                SVG.text(
                    left + pw / 2, top + ph + 32, SVG.fit(xLabel, pw, font + 1), size: font + 1, anchor: "middle",
                    cls: "xlabel") + "\n"
            let yl = SVG.fit(yLabel, ph, font + 1)
            s +=
                SVG.text(
                    13, top + ph / 2, yl, size: font + 1, anchor: "middle", cls: "ylabel",
                    extra: " transform=\"rotate(-90 13 \(SVG.num(top + ph / 2)))\"") + "\n"
            // Thresholds: dashed lines, labels at the plot's right end spread apart so that
            // close thresholds (1% and 2% of memory) stay readable, each joined to its line.
            let tys = SVG.spread(thresholds.map { Y($0.value) - 3 }, gap: font + 2, lo: top + font, hi: top + ph - 2)
            for (k, t) in thresholds.enumerated() {
                let y = Y(t.value)
                s +=
                    "<line class=\"threshold\" data-name=\"\(SVG.esc(t.name))\" x1=\"\(SVG.num(left))\" x2=\"\(SVG.num(left + pw))\" y1=\"\(SVG.num(y))\" y2=\"\(SVG.num(y))\" stroke=\"#444\" stroke-dasharray=\"5 3\"/>"
                let lx = left + pw - 6
                if abs(tys[k] + 3 - y) > 2 {
                    s +=
                        "<line x1=\"\(SVG.num(lx + 1))\" x2=\"\(SVG.num(lx + 5))\" y1=\"\(SVG.num(tys[k] - font * 0.35))\" y2=\"\(SVG.num(y))\" stroke=\"#444\" stroke-width=\"0.6\"/>"
                }
                s +=
                    SVG.text(
                        lx, tys[k], t.name, size: font, anchor: "end", cls: "threshold-label",
                        extra: " paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\"") + "\n"
            }
            for iv in intervals where !iv.points.isEmpty {
                let upper = iv.points.map { "\(SVG.num(X($0.0))),\(SVG.num(Y($0.2)))" }
                let lower = iv.points.reversed().map { "\(SVG.num(X($0.0))),\(SVG.num(Y($0.1)))" }
                s +=
                    "<polygon class=\"interval\" data-series=\"\(SVG.esc(iv.name))\" fill=\"\(iv.color)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
            }
            for se in series where !se.points.isEmpty {
                let pts = se.points.map { "\(SVG.num(X($0.0))),\(SVG.num(Y($0.1)))" }.joined(separator: " ")
                let dash = se.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                s +=
                    "<polyline class=\"series\" data-series=\"\(SVG.esc(se.name))\" fill=\"none\" stroke=\"\(se.color)\" stroke-width=\"1.8\"\(dash) points=\"\(pts)\"><title>\(SVG.esc(se.name))</title></polyline>\n"
                // A single point is a dot, not an invisible zero-length line.
                if se.points.count == 1 {
                    s +=
                        "<circle cx=\"\(SVG.num(X(se.points[0].0)))\" cy=\"\(SVG.num(Y(se.points[0].1)))\" r=\"2.5\" fill=\"\(se.color)\"/>\n"
                }
            }
            for (k, key) in keys.enumerated() {
                let ly = top + 10 + Double(k) * 15
                let lx = left + pw + 12
                s +=
                    SVG.swatch(key, x: lx, y: ly - font * 0.35)
                    + SVG.text(lx + 22, ly, SVG.fit(key.name, legendWidth - 34, font), size: font) + "\n"
            }
            s += "</svg>\n"
            return s
        }
    }

    /// Horizontal bars, one per label, for one metric; with intervals a whisker per bar.
    static func barChart(
        id: String, title: String, labels: [String], colors: [String], values: [Double],
        intervals: [(Double, Double)]? = nil, format: String
    ) -> String {
        let w = 900.0, rowH = 22.0, top = 30.0, font = 11.0
        let left = min(320, (labels.map { textWidth($0, font) }.max() ?? 40) + 26)
        let valueLabels = values.indices.map { i -> String in
            let v = String(format: format, values[i])
            guard let iv = intervals?[i] else { return v }
            return v + " ± " + String(format: format, (iv.1 - iv.0) / 2)
        }
        let right = (valueLabels.map { textWidth($0, font) }.max() ?? 30) + 16
        let pw = w - left - right
        let h = top + rowH * Double(values.count) + 8
        let vmax = max((values + (intervals?.map(\.1) ?? [])).max() ?? 1, 1e-9)
        func X(_ v: Double) -> Double { left + min(max(v / vmax, 0), 1) * pw }
        var s =
            "<svg class=\"chart bars\" data-chart=\"\(esc(id))\" data-plot=\"\(num(left)) \(num(top)) \(num(left + pw)) \(num(h - 8))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(num(w)) \(num(h))\" width=\"\(num(w))\" height=\"\(num(h))\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s += "<title>\(esc(title))</title>\n"
        s += text(8, 18, fit(title, w - 16, 13), size: 13, cls: "title", bold: true) + "\n"
        s += "<line x1=\"\(num(left))\" x2=\"\(num(left))\" y1=\"\(num(top))\" y2=\"\(num(h - 8))\" stroke=\"#333\"/>\n"
        for (i, v) in values.enumerated() {
            let y = top + rowH * Double(i)
            // The label doubles as the bar's legend entry.
            s +=
                "<rect class=\"legend\" data-series=\"\(esc(labels[i]))\" x=\"\(num(left - 14))\" y=\"\(num(y + 7))\" width=\"8\" height=\"8\" fill=\"\(colors[i])\"/>"
            s += text(left - 18, y + 15, fit(labels[i], left - 24, font), size: font, anchor: "end")
            s +=
                "<rect class=\"bar\" data-series=\"\(esc(labels[i]))\" data-value=\"\(num(v))\" x=\"\(num(left))\" y=\"\(num(y + 4))\" width=\"\(num(X(v) - left))\" height=\"\(num(rowH - 8))\" fill=\"\(colors[i])\"><title>\(esc(labels[i])): \(esc(valueLabels[i]))</title></rect>"
            var end = X(v)
            if let iv = intervals?[i] {
                let a = X(iv.0), b = X(iv.1), my = y + rowH / 2
                s +=
                    "<line class=\"whisker\" x1=\"\(num(a))\" x2=\"\(num(b))\" y1=\"\(num(my))\" y2=\"\(num(my))\" stroke=\"#222\"/>"
                s +=
                    "<line x1=\"\(num(a))\" x2=\"\(num(a))\" y1=\"\(num(my - 4))\" y2=\"\(num(my + 4))\" stroke=\"#222\"/><line x1=\"\(num(b))\" x2=\"\(num(b))\" y1=\"\(num(my - 4))\" y2=\"\(num(my + 4))\" stroke=\"#222\"/>"
                end = max(end, b)
            }
            s += text(end + 6, y + 15, valueLabels[i], size: font) + "\n"
        }
        s += "</svg>\n"
        return s
    }

    static let stateColors: [FreeState: String] = [
        .high: "#d9efe3", .clear: "#eef6d2", .soft: "#fbeeb0", .hard: "#f6c48f", .low: "#e8877a",
    ]
    /// The legend of the state strips: vSphere 6's clear state only when a strip shows it.
    static func stateKeys(clear: Bool) -> [Key] {
        FreeState.allCases.filter { clear || $0 != .clear }.map {
            Key(name: "state \($0.rawValue)", color: stateColors[$0]!, box: true)
        }
    }

    /// The free-memory state over time, one strip per run, all on one time axis.
    static func stateStrips(
        id: String, title: String, rows: [(label: String, spans: [(Double, Double, FreeState)])], xMax: Double
    ) -> String {
        let w = 900.0, rowH = 18.0, font = 11.0, top = 30.0
        let left = min(320, (rows.map { textWidth($0.label, font) }.max() ?? 40) + 14)
        let pw = w - left - 16
        let h = top + rowH * Double(rows.count) + 40
        let (xt, xstep) = ticks(xMax)
        let xm = max(xt.last ?? xMax, xMax)
        func X(_ x: Double) -> Double { left + min(max(x / xm, 0), 1) * pw }
        var s =
            "<svg class=\"chart strips\" data-chart=\"\(esc(id))\" data-plot=\"\(num(left)) \(num(top)) \(num(left + pw)) \(num(top + rowH * Double(rows.count)))\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(num(w)) \(num(h))\" width=\"\(num(w))\" height=\"\(num(h))\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s +=
            "<title>\(esc(title))</title>\n" + text(8, 18, fit(title, w - 16, 13), size: 13, cls: "title", bold: true)
            + "\n"
        for (i, row) in rows.enumerated() {
            let y = top + rowH * Double(i)
            s += text(left - 8, y + 13, fit(row.label, left - 14, font), size: font, anchor: "end")
            for (a, b, state) in row.spans {
                s +=
                    "<rect class=\"band\" data-band=\"\(state.rawValue)\" x=\"\(num(X(a)))\" y=\"\(num(y + 2))\" width=\"\(num(max(0.5, X(b) - X(a))))\" height=\"\(num(rowH - 4))\" fill=\"\(stateColors[state]!)\"><title>\(esc(row.label)): \(state.rawValue) from \(num(a)) s to \(num(b)) s</title></rect>"
            }
            s += "\n"
        }
        let axisY = top + rowH * Double(rows.count)
        for v in xt where v <= xm * (1 + 1e-9) {
            s +=
                "<line x1=\"\(num(X(v)))\" x2=\"\(num(X(v)))\" y1=\"\(num(axisY))\" y2=\"\(num(axisY + 4))\" stroke=\"#333\"/>"
                + text(X(v), axisY + 15, tick(v, step: xstep), size: font, anchor: "middle") + "\n"
        }
        s +=
            text(left + pw / 2, axisY + 32, "simulated time (s)", size: font + 1, anchor: "middle", cls: "xlabel")
            + "\n"
        s += "</svg>\n"
        return s
    }
}
