import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

@Suite("HTML report structure")
struct HTMLReportTests {
    struct Polyline {
        var series: String
        var chart: String
        var points: [(Double, Double)]
    }

    /// Every `<polyline class="series">` with the chart it belongs to.
    func polylines(_ html: String) -> [Polyline] {
        var out: [Polyline] = []
        var chart = ""
        for line in html.split(separator: "\n") {
            if let r = line.range(of: "data-chart=\"") {
                chart = String(line[r.upperBound...].prefix { $0 != "\"" })
            }
            guard line.contains("class=\"series\""), let n = line.range(of: "data-series=\""), let p = line.range(of: "points=\"") else { continue }
            let name = String(line[n.upperBound...].prefix { $0 != "\"" })
            let pts = line[p.upperBound...].prefix { $0 != "\"" }.split(separator: " ").map { pair -> (Double, Double) in
                let xy = pair.split(separator: ",")
                return (Double(xy[0])!, Double(xy[1])!)
            }
            out.append(Polyline(series: name, chart: chart, points: pts))
        }
        return out
    }

    @Test("Every chart has its series, state bands and thresholds, and every point lies inside the plot area")
    func structure() throws {
        var o = GenOptions()
        o.vms = 3
        o.pagesPerVM = 2048
        o.records = 30_000
        o.duration = 120
        o.contentFraction = 0.2
        var p = Policy()
        p.shareScanVM = 200
        var spec = HostSpec()
        spec.memory = .overcommit(1.4)
        let (engine, report) = try runScenario(MixScenario.self, o, policy: p, spec: spec, settle: Micros.seconds(30), timeline: Micros.seconds(10))
        let run = RunResult(name: "esx", report: report, timeline: engine.timeline, thresholds: engine.thresholds, machinePages: engine.host.machinePages)
        let html = HTMLReport.page(results: [run, run], stats: nil, trace: "t")
        // Self-contained: no scripts, no external resources.
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        let lines = polylines(html)
        for vm in ["vm0", "vm1", "vm2"] {
            for kind in ["allocated", "target", "balloon", "swapped", "estimate", "true"] {
                #expect(lines.contains { $0.series == "\(vm) \(kind)" }, "missing \(vm) \(kind)")
            }
        }
        #expect(lines.contains { $0.series == "free" } && lines.contains { $0.series == "saved by sharing" })
        #expect(html.contains("class=\"threshold\" data-name=\"high\"") && html.contains("class=\"threshold\" data-name=\"low\""))
        #expect(html.contains("class=\"band\" data-band=\"high\""))
        #expect(html.contains("class=\"chart bars\""))
        // The plot area of line charts: x 70…730, y 34…256.
        for l in lines {
            #expect(l.points.count == engine.timeline.count / 3 || l.series == "saved by sharing" || l.series == "free" || l.series == "oracle bound")
            for (x, y) in l.points {
                #expect(x >= 70 && x <= 730 && y >= 34 && y <= 256, "\(l.chart) \(l.series) point \(x),\(y) outside the axes")
            }
        }
        // Values map onto the axes: vm0's allocated line is highest where its allocation is.
        let alloc = lines.first { $0.series == "vm0 allocated" }!
        let rows = engine.timeline.filter { $0.vm == 0 }
        let iMax = rows.indices.max { rows[$0].allocated < rows[$1].allocated }!
        let yMin = alloc.points.map(\.1).min()!
        #expect(abs(alloc.points[iMax].1 - yMin) < 0.01)
    }
}
