import Foundation

/// Reads back the HTML report's SVG and checks what docs/REPORT.md "HTML report" promises:
/// points inside the plot, every series with a legend entry, colours distinct, no two text
/// labels overlapping.
struct HTMLPage {
    struct Text {
        var x: Double, y: Double, size: Double
        var anchor: String
        var content: String
        var rotated: Bool
        /// The label's box (x0, y0, x1, y1), estimated at 0.6 em a character.
        var box: (Double, Double, Double, Double) {
            let w = Double(content.count) * size * 0.6
            if rotated { return (x - 0.8 * size, y - w / 2, x + 0.2 * size, y + w / 2) }
            let x0 = anchor == "middle" ? x - w / 2 : anchor == "end" ? x - w : x
            return (x0, y - 0.8 * size, x0 + w, y + 0.2 * size)
        }
    }

    struct Series {
        var name: String
        var color: String
        var dash: String
        var points: [(Double, Double)]
    }

    struct Chart {
        var id: String
        var figure: String
        var plot: (Double, Double, Double, Double)?
        var series: [Series] = []
        var bars: [(name: String, x: Double, width: Double)] = []
        var intervals: [(name: String, points: [(Double, Double)])] = []
        var thresholds: [String] = []
        var bands: [String] = []
        var texts: [Text] = []
        var legend: [String] = []
    }

    var html: String
    var charts: [Chart] = []

    static func attr(_ tag: Substring, _ name: String) -> String? {
        guard let r = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[r.upperBound...].prefix { $0 != "\"" })
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func points(_ s: String) -> [(Double, Double)] {
        s.split(separator: " ").map { pair in
            let xy = pair.split(separator: ",")
            return (Double(xy[0])!, Double(xy[1])!)
        }
    }

    init(_ html: String) {
        self.html = html
        var figure = ""
        var current: Chart?
        // Tags in document order.
        var rest = html[...]
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { break }
            let tag = rest[open...close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("<figure") { figure = Self.attr(tag, "data-fig") ?? "" }
            if tag.hasPrefix("</figure") { figure = "" }
            if tag.hasPrefix("<svg") {
                current = Chart(id: Self.attr(tag, "data-chart") ?? "legend", figure: figure)
                if let p = Self.attr(tag, "data-plot") {
                    let v = p.split(separator: " ").map { Double($0)! }
                    current!.plot = (v[0], v[1], v[2], v[3])
                }
                continue
            }
            if tag.hasPrefix("</svg") { if let c = current { charts.append(c) }; current = nil; continue }
            guard current != nil else { continue }
            let cls = Self.attr(tag, "class")
            if tag.hasPrefix("<text") {
                let end = rest.range(of: "</text>")!
                let content = Self.unescape(String(rest[..<end.lowerBound]))
                rest = rest[end.upperBound...]
                let transform = Self.attr(tag, "transform")
                var x = Double(Self.attr(tag, "x")!)!, y = Double(Self.attr(tag, "y")!)!
                if let t = transform {  // rotate(-90 cx cy) about the anchor point itself
                    let v = t.dropFirst("rotate(".count).dropLast().split(separator: " ").map { Double($0)! }
                    x = v[1]; y = v[2]
                }
                current!.texts.append(
                    Text(
                        x: x, y: y, size: Double(Self.attr(tag, "font-size")!)!,
                        anchor: Self.attr(tag, "text-anchor") ?? "start", content: content, rotated: transform != nil))
            } else if cls == "series" {
                current!.series.append(
                    Series(
                        name: Self.unescape(Self.attr(tag, "data-series")!), color: Self.attr(tag, "stroke")!,
                        dash: Self.attr(tag, "stroke-dasharray") ?? "", points: Self.points(Self.attr(tag, "points")!)))
            } else if cls == "bar" {
                current!.bars.append(
                    (
                        Self.unescape(Self.attr(tag, "data-series")!), Double(Self.attr(tag, "x")!)!,
                        Double(Self.attr(tag, "width")!)!
                    ))
            } else if cls == "interval" {
                current!.intervals.append(
                    (Self.unescape(Self.attr(tag, "data-series")!), Self.points(Self.attr(tag, "points")!)))
            } else if cls == "legend" {
                current!.legend.append(Self.unescape(Self.attr(tag, "data-series")!))
            } else if cls == "threshold" {
                current!.thresholds.append(Self.attr(tag, "data-name")!)
            } else if cls == "band" {
                current!.bands.append(Self.attr(tag, "data-band")!)
            }
        }
    }

    /// Everything the report promises about every chart; an empty list when all holds.
    func problems() -> [String] {
        var out: [String] = []
        if !html.hasPrefix("<!doctype html>") { out.append("not an HTML5 document") }
        if html.contains("<script") || html.contains("src=") || html.contains("href=") {
            out.append("not self-contained")
        }
        for c in charts {
            let label = "\(c.figure)/\(c.id)"
            if let (x0, y0, x1, y1) = c.plot {
                for se in c.series {
                    for (x, y) in se.points where x < x0 - 0.01 || x > x1 + 0.01 || y < y0 - 0.01 || y > y1 + 0.01 {
                        out.append("\(label): \(se.name) point \(x),\(y) outside the plot")
                    }
                }
                for iv in c.intervals {
                    for (x, y) in iv.points where x < x0 - 0.01 || x > x1 + 0.01 || y < y0 - 0.01 || y > y1 + 0.01 {
                        out.append("\(label): interval of \(iv.name) point \(x),\(y) outside the plot")
                    }
                }
                for b in c.bars where b.x < x0 - 0.01 || b.x + b.width > x1 + 0.01 || b.width < 0 {
                    out.append("\(label): bar \(b.name) outside the plot")
                }
            } else if !c.series.isEmpty || !c.bars.isEmpty {
                out.append("\(label): no plot area")
            }
            // Distinct up to eight series: no two series of one chart share colour and dash.
            var seen: [String: String] = [:]
            for se in c.series {
                let k = se.color + "|" + se.dash
                if let other = seen[k], other != se.name {
                    out.append("\(label): \(se.name) and \(other) look the same")
                }
                seen[k] = se.name
            }
            // No two labels' boxes overlap.
            for i in c.texts.indices {
                for j in c.texts.indices where j > i {
                    let a = c.texts[i].box, b = c.texts[j].box
                    if a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3 {
                        out.append("\(label): labels \"\(c.texts[i].content)\" and \"\(c.texts[j].content)\" overlap")
                    }
                }
                let t = c.texts[i].box
                if t.0 < -0.5 || t.1 < -0.5 {
                    out.append("\(label): label \"\(c.texts[i].content)\" outside the picture")
                }
            }
        }
        // Every series and bar has a legend entry in its figure.
        var legends: [String: Set<String>] = [:]
        for c in charts { legends[c.figure, default: []].formUnion(c.legend) }
        for c in charts {
            for name in c.series.map(\.name) + c.bars.map(\.name) where !legends[c.figure, default: []].contains(name) {
                out.append("\(c.figure)/\(c.id): \(name) has no legend entry")
            }
        }
        return out
    }
}
