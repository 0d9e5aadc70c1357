import Foundation

/// Inline-SVG building blocks of the HTML report: no scripts, no external resources.
///
/// Every chart is an `<svg class="chart" data-chart=ID data-plot="x0 y0 x1 y1">` whose data
/// points lie inside the plot rectangle; every drawn series (`class="series"`, `class="bar"`)
/// names itself in `data-series` and has a legend entry (`class="legend"` with the same
/// `data-series`) in the same `<figure>`; every text label is a `<text>` with `x`, `y`,
/// `font-size` and `text-anchor`, placed so that no two labels' boxes overlap (widths estimated
/// at `charWidth` em per character, as `HTMLReportTests` checks them).
enum SVG {
    /// Okabe and Ito's colour-blind-safe palette (2008), ordered for contrast on white; yellow,
    /// the weakest on white, last.
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
    /// Beyond eight series the colours repeat with a different dash.
    static let dashes: [String?] = [nil, "7 3", "2 2", "10 3 2 3"]

    static func style(_ i: Int) -> (color: String, dash: String?) {
        (palette[i % palette.count], dashes[(i / palette.count) % dashes.count])
    }

    /// The width a label is laid out with: 0.62 em a character (DejaVu Sans averages below).
    static let charWidth = 0.62
    static func textWidth(_ s: String, _ size: Double) -> Double { Double(s.count) * size * charWidth }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func num(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int64(v)) }
        return String(format: "%.2f", v)
    }

    /// A tick label: as many decimals as the step needs (step 0.25 → two).
    static func tick(_ v: Double, step: Double) -> String {
        var d = 0
        while d < 6 && abs(step * pow(10, Double(d)) - (step * pow(10, Double(d))).rounded()) > 1e-6 { d += 1 }
        let s = String(format: "%.\(d)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }

    /// `s` cut to fit `width` at `size`, with an ellipsis when cut.
    static func fit(_ s: String, _ width: Double, _ size: Double) -> String {
        if textWidth(s, size) <= width + 0.5 { return s }
        let n = max(1, Int(width / (size * charWidth)) - 1)
        return String(s.prefix(n)) + "…"
    }

    static func text(
        _ x: Double, _ y: Double, _ s: String, size: Double, anchor: String = "start", cls: String? = nil,
        bold: Bool = false, extra: String = ""
    ) -> String {
        let c = cls.map { " class=\"\($0)\"" } ?? ""
        let b = bold ? " font-weight=\"bold\"" : ""
        return
            "<text\(c) x=\"\(num(x))\" y=\"\(num(y))\" font-size=\"\(num(size))\" text-anchor=\"\(anchor)\"\(b)\(extra)>\(esc(s))</text>"
    }

    /// Round tick values covering 0…max, and their step.
    static func ticks(_ maxValue: Double) -> (values: [Double], step: Double) { ticks(from: 0, to: maxValue) }

    /// Round tick values covering lo…hi (the first at or below lo), and their step.
    static func ticks(from lo: Double, to hi: Double) -> (values: [Double], step: Double) {
        let span = hi - lo > 0 ? hi - lo : max(abs(hi), 1)
        let raw = span / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw * (1 - 1e-12) } ?? 10 * mag
        let start = (lo / step).rounded(.down) * step
        return (
            stride(from: start, through: max(hi, start + step) + step * 0.999, by: step).map {
                abs($0) < step * 1e-9 ? 0 : $0
            }, step
        )
    }

    /// Positions for labels wanted at `ys`, at least `gap` apart, inside `lo…hi`, in the same
    /// order as wanted (labels never cross).
    static func spread(_ ys: [Double], gap: Double, lo: Double, hi: Double) -> [Double] {
        let order = ys.indices.sorted { ys[$0] < ys[$1] }
        var placed = order.map { min(max(ys[$0], lo), hi) }
        for i in placed.indices.dropFirst() { placed[i] = max(placed[i], placed[i - 1] + gap) }
        if let last = placed.last, last > hi {
            placed[placed.count - 1] = hi
            for i in placed.indices.dropLast().reversed() { placed[i] = min(placed[i], placed[i + 1] - gap) }
        }
        var out = ys
        for (k, i) in order.enumerated() { out[i] = placed[k] }
        return out
    }

    /// One legend entry: a swatch (a line or a filled box) and its label.
    struct Key {
        var name: String
        var color: String
        var dash: String? = nil
        var box = false
    }

    /// Legend entries flowing left to right, wrapping at `width`: its own small SVG above a
    /// figure's charts.
    static func legendRow(_ keys: [Key], width: Double = 900) -> String {
        let size = 11.0, rowH = 16.0
        var x = 4.0, y = 14.0
        var body = ""
        for k in keys {
            let label = fit(k.name, width - 40, size)
            let w = 26 + textWidth(label, size) + 16
            if x + w > width && x > 4 { x = 4; y += rowH }
            body += swatch(k, x: x, y: y - 4) + text(x + 24, y, label, size: size) + "\n"
            x += w
        }
        return
            "<svg class=\"legend-row\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(num(width)) \(num(y + 6))\" width=\"\(num(width))\" height=\"\(num(y + 6))\">\n\(body)</svg>\n"
    }

    static func swatch(_ k: Key, x: Double, y: Double) -> String {
        let name = esc(k.name)
        if k.box {
            return
                "<rect class=\"legend\" data-series=\"\(name)\" x=\"\(num(x))\" y=\"\(num(y - 5))\" width=\"18\" height=\"10\" fill=\"\(k.color)\" stroke=\"#555\" stroke-width=\"0.5\"/>"
        }
        let dash = k.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        return
            "<line class=\"legend\" data-series=\"\(name)\" x1=\"\(num(x))\" x2=\"\(num(x + 18))\" y1=\"\(num(y))\" y2=\"\(num(y))\" stroke=\"\(k.color)\" stroke-width=\"2.2\"\(dash)/>"
    }

    /// A figure: a caption (none when its one chart has the same title), then its charts.
    static func figure(_ id: String, caption: String?, _ body: String) -> String {
        "<figure class=\"fig\" data-fig=\"\(esc(id))\">" + (caption.map { "<figcaption>\(esc($0))</figcaption>" } ?? "")
            + "\n\(body)</figure>\n"
    }
}
