import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

@Suite("HTML report structure")
struct HTMLReportTests {
    /// Three VMs under pressure, one run of `policy`.
    func run(_ name: String, policy: Policy = Policy(), overcommit: Double = 1.4) throws -> (ReplayEngine, RunResult) {
        var o = GenOptions()
        o.vms = 3
        o.pagesPerVM = 2048
        o.records = 30_000
        o.duration = 120
        o.contentFraction = 0.2
        var p = policy
        p.shareScanVM = 200
        var spec = HostSpec()
        spec.memory = .overcommit(overcommit)
        let (engine, report) = try runScenario(
            MixScenario.self, o, policy: p, spec: spec, settle: Micros.seconds(30), timeline: Micros.seconds(10))
        return (
            engine,
            RunResult(
                name: name, report: report, timeline: engine.timeline, thresholds: engine.thresholds,
                machinePages: engine.host.machinePages)
        )
    }

    @Test(
        "One run: a summary that answers, free memory with its four thresholds (and a zoom), per-VM small multiples on shared scales; points inside, legends complete, labels apart"
    )
    func replayPage() throws {
        let (engine, r) = try run("esx")
        let html = HTMLReport.page(results: [r], stats: nil, trace: "t")
        let page = HTMLPage(html)
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        #expect(html.contains("What would esx cost these VMs on this trace?") && html.contains("Estimated stall <b>"))
        let chart = { (id: String) in page.charts.first { $0.id == id } }
        for id in ["free-full", "free-zoom"] {
            #expect(chart(id)?.thresholds == ["high", "soft", "hard", "low"], "\(id)")
            #expect(chart(id)?.bands.contains("high") == true)
        }
        // The zoomed chart's range is 0 … 2 × high: the low threshold is a quarter of it up (1% of 6%×2).
        let zoom = try #require(chart("free-zoom"))
        #expect(zoom.texts.contains { $0.content == "low" } && zoom.texts.contains { $0.content == "hard" })
        // One small chart per VM, each with the four series, on one y scale.
        let memory = page.charts.filter { $0.figure == "memory" && $0.id.hasPrefix("memory-") }
        #expect(memory.count == 3)
        for c in memory {
            #expect(c.series.map(\.name) == ["allocated", "target", "balloon", "swapped"], "\(c.id)")
            #expect(c.series.allSatisfy { $0.points.count == engine.timeline.count / 3 })
        }
        let tickSets = memory.map { $0.texts.filter { !$0.rotated && $0.anchor == "end" }.map(\.content) }
        #expect(Set(tickSets.map { $0.joined(separator: ",") }).count == 1, "shared y scale: \(tickSets)")
        // Values map onto the axes: vm0's allocated line is highest where its allocation is.
        let alloc = memory[0].series[0]
        let rows = engine.timeline.filter { $0.vm == 0 }
        let iMax = rows.indices.max { rows[$0].allocated < rows[$1].allocated }!
        #expect(abs(alloc.points[iMax].1 - alloc.points.map(\.1).min()!) < 0.01)
        #expect(page.charts.filter { $0.figure == "idle" && $0.id.hasPrefix("idle-") }.count == 3)
    }

    @Test("The state band is the engine's exact transitions: spans by hand, and time per state adds up to the report's")
    func stateBand() throws {
        let spans = HTMLReport.stateSpans(
            [(Micros.seconds(5), .soft), (Micros.seconds(8), .high), (Micros(8_500_000), .low)], end: 10)
        #expect(
            spans.map { "\($0.0)-\($0.1) \($0.2)" } == ["0.0-5.0 high", "5.0-8.0 soft", "8.0-8.5 high", "8.5-10.0 low"])
        #expect(HTMLReport.stateSpans([], end: 3).map { "\($0.0)-\($0.1) \($0.2)" } == ["0.0-3.0 high"])
        let (engine, r) = try run("esx", overcommit: 3)
        let changes = engine.stateChanges
        let transitions = r.report.states.transitions.values.reduce(0, +)
        #expect(transitions >= 2 && UInt64(changes.count) == transitions, "\(r.report.states.transitions)")
        var total: [FreeState: Double] = [:]
        for (a, b, st) in HTMLReport.stateSpans(changes, end: r.report.host.simulatedSeconds) {
            total[st, default: 0] += b - a
        }
        let t = r.report.states.timeSeconds
        #expect(t.soft + t.hard + t.low > 0)
        for (st, want) in [(FreeState.high, t.high), (.soft, t.soft), (.hard, t.hard), (.low, t.low)] {
            #expect(abs((total[st] ?? 0) - want) < 1e-3, "\(st): band \(total[st] ?? 0) s, report \(want) s")
        }
    }

    @Test(
        "Several policies: one line per policy on shared axes, state strips, bars coloured per policy; with ten, colours stay distinct by dash and every one has a legend entry"
    )
    func comparePage() throws {
        var noShare = Policy()
        noShare.sharing = .off
        let runs = [try run("esx").1, try run("no-sharing", policy: noShare).1, try run("esx 1.8", overcommit: 1.8).1]
        let page = HTMLPage(HTMLReport.page(results: runs, stats: nil, trace: "t"))
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        #expect(
            page.html.contains("Which policy costs the VMs least on this trace?")
                && page.html.contains("least estimated stall"))
        let names = ["esx", "no-sharing", "esx 1.8"]
        #expect(page.charts.first { $0.id == "free-full" }?.series.map(\.name) == names)
        #expect(page.charts.first { $0.id == "states" }?.bands.isEmpty == false)
        for c in page.charts where c.figure == "allocated" && c.id.hasPrefix("allocated-") {
            #expect(c.series.map(\.name) == names)
        }
        let stall = try #require(page.charts.first { $0.id == "bars-estimated stall s (cost model)" })
        #expect(stall.bars.map(\.name) == names)
        // Ten policies: ten bars, the first eight timelines, and no two lines alike.
        let ten = try (0..<10).map { i -> RunResult in
            var r = try run("p\(i)").1; r.name = "p\(i)"; r.policyName = "p\(i)"; return r
        }
        let big = HTMLPage(HTMLReport.page(results: ten, stats: nil, trace: "t"))
        #expect(big.problems().isEmpty, "\(big.problems().prefix(5))")
        #expect(big.charts.first { $0.id == "bars-sharing saved MiB" }?.bars.count == 10)
        #expect(
            big.charts.first { $0.id == "free-full" }?.series.count == 8
                && big.html.contains("The first 8 of 10 columns are drawn"))
    }

    @Test("Label placement: close thresholds are spread apart and kept in order; a long legend grows the chart")
    func labels() {
        let ys = SVG.spread([100, 101, 103, 300], gap: 12, lo: 10, hi: 400)
        #expect(ys == [100, 112, 124, 300])
        let atBottom = SVG.spread([395, 398, 399], gap: 12, lo: 10, hi: 400)
        #expect(atBottom == [376, 388, 400])
        var c = SVG.LineChart(id: "c", title: "t", xLabel: "x", yLabel: "y")
        c.series = (0..<30).map {
            SVG.Series(
                name: "series \($0)", color: SVG.style($0).color, dash: SVG.style($0).dash, points: [(0, 1), (1, 2)])
        }
        let page = HTMLPage("<!doctype html>" + SVG.figure("f", caption: nil, c.render()))
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        #expect(page.charts[0].legend.count == 30)
        // The checker itself finds each kind of fault.
        let bad = HTMLPage(
            """
            <!doctype html><figure class="fig" data-fig="f"><svg class="chart" data-chart="c" data-plot="10 10 100 100">
            <text x="20" y="20" font-size="10" text-anchor="start">overlapping</text><text x="40" y="22" font-size="10" text-anchor="start">labels</text>
            <polyline class="series" data-series="a" stroke="#000" points="10,10 150,50"/>
            <polyline class="series" data-series="b" stroke="#000" points="10,10 50,50"/>
            <line class="legend" data-series="a"/></svg></figure>
            """
        ).problems()
        #expect(
            bad.contains { $0.contains("overlap") } && bad.contains { $0.contains("outside the plot") }
                && bad.contains { $0.contains("b has no legend entry") }
                && bad.contains { $0.contains("look the same") }, "\(bad)")
        #expect(
            SVG.tick(0.25, step: 0.25) == "0.25" && SVG.tick(1.5, step: 0.5) == "1.5"
                && SVG.tick(200, step: 50) == "200")
    }
}
