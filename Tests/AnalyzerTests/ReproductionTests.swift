import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

/// `tracetool reproduce`: the quick run against its golden summary, its HTML against the chart
/// checks, docs/REPRODUCTION.md (the full run) against the golden reports it shares with the
/// golden tests, and the README's summary rows against docs/REPRODUCTION.md.
@Suite("Reproduction of the paper")
struct ReproductionTests {
    static var root: String { GoldenTests.root }

    @Test("The quick run matches its golden summary, and its HTML passes the chart checks")
    func quick() throws {
        var o = ReproductionOptions()
        o.quick = true
        o.jobs = 2
        o.tracesDir = ReproductionTests.root + "/traces"
        let rep = try Reproduction.run(o)
        #expect(rep.notRun.isEmpty, "\(rep.notRun)")
        let md = ReproductionRenderer.markdown(rep)
        let file = ReproductionTests.root + "/Tests/AnalyzerTests/Golden/reproduce-quick.md"
        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try AtomicOutput.write(md, to: file)
            Issue.record(
                "RECORD_GOLDEN=1: rewrote reproduce-quick.md; review the diff and run again without RECORD_GOLDEN")
            return
        }
        let expected = try String(contentsOfFile: file, encoding: .utf8)
        if md != expected {
            let a = md.split(separator: "\n"), b = expected.split(separator: "\n")
            let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record(
                "reproduce-quick.md differs at line \((first?.offset ?? min(a.count, b.count)) + 1): got \(first.map { String($0.element.0) } ?? "(length)"). If intended: RECORD_GOLDEN=1 swift test --filter ReproductionTests"
            )
        }
        let html = ReproductionRenderer.html(rep)
        let page = HTMLPage(html)
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        for id in [
            "fig4-reclaimed", "fig4-shared", "fig5-reclaimed", "fig6-curves", "fig7-alloc", "fig8-alloc",
            "fig8-reclaim", "fig8-states", "balloon-vs-paging",
        ] {
            #expect(page.charts.contains { $0.id == id }, "no chart \(id)")
        }
        // Every experiment is there, each with rows, and the summary names the headline rows.
        #expect(rep.experiments.map(\.id) == ["fig4", "fig5", "fig6", "fig7", "fig8", "balloon-vs-paging", "defaults"])
        for e in rep.experiments { #expect(!e.tables.flatMap(\.rows).isEmpty, "\(e.id) has no rows") }
        #expect(md.contains("## Summary") && html.contains("<h2>Summary</h2>"))
        // The summary: one row per experiment with something to compare (Fig. 6 and Fig. 8
        // included), its worst disagreement, and no row true by construction.
        let heads = rep.headlines
        #expect(heads.map(\.0.id) == ["fig4", "fig5", "fig6", "fig7", "fig8", "balloon-vs-paging"])
        for (e, row) in heads {
            #expect(!row.byConstruction)
            let worst = e.tables.flatMap(\.rows).compactMap(Reproduction.disagreement).max()!
            #expect(Reproduction.disagreement(row) == worst, "\(e.id): \(row.quantity)")
        }
    }

    @Test("The summary's measure of disagreement, by hand: relative difference, a tie half, a missed claim above one")
    func disagreement() {
        var r = Reproduction.Row(
            quantity: "q", paper: 50, paperText: "50", ours: 60, oursText: "60", decimals: 0, why: [])
        #expect(Reproduction.disagreement(r) == 0.2)
        r.ours = 25
        #expect(Reproduction.disagreement(r) == 0.5)
        r.byConstruction = true
        #expect(Reproduction.disagreement(r) == nil)
        var claim = Reproduction.Row(
            quantity: "ratio", paper: nil, paperText: "> 1", ours: 0.8, oursText: "0.8", decimals: 1, why: [])
        claim.above = 1
        #expect(abs(Reproduction.disagreement(claim)! - 1.2) < 1e-12)
        claim.ours = 1.5
        #expect(Reproduction.disagreement(claim) == 0)
        claim.tie = true
        #expect(Reproduction.disagreement(claim) == 0.5)
    }

    @Test("A row's difference, ratio and verdict, by hand")
    func rows() {
        var r = Reproduction.Row(
            quantity: "q", paper: 54.3, paperText: "54.3", ours: 59.2, oursText: "59.2", decimals: 1, why: [.synthetic])
        #expect(r.difference == "+4.9 (1.09×)")
        #expect(r.agrees == true && r.reason == "agrees within 10%" && r.reasons.isEmpty)
        r.ours = 20.4
        #expect(r.difference == "−33.9 (0.38×)")
        #expect(r.agrees == false && r.reason == "differs: synthetic" && r.reasons == [.synthetic])
        // 10% of 54.3 is 5.43: 59.73 agrees, 59.74 does not.
        r.ours = 59.73
        #expect(r.agrees == true)
        r.ours = 59.74
        #expect(r.agrees == false)
        // A claim without a number: ours must exceed it.
        var c = Reproduction.Row(
            quantity: "ratio", paper: nil, paperText: "> 1", ours: 0.89, oursText: "0.89", decimals: 2, why: [.cost])
        c.above = 1
        #expect(c.agrees == false && c.reason == "differs: cost" && c.difference == "—")
        c.ours = 1.03
        #expect(c.agrees == true && c.reason == "agrees")
        let same = Reproduction.Row(
            quantity: "t", paper: 6, paperText: "6", ours: 6, oursText: "6", decimals: 0, why: [], tolerance: 0)
        #expect(same.reason == "same" && same.difference == "±0 (1.00×)")
    }

    @Test("Every reason a row can give is explained in docs/MODEL.md, \"Reproducing the paper\"")
    func reasonsDocumented() throws {
        let model = try String(contentsOfFile: ReproductionTests.root + "/docs/MODEL.md", encoding: .utf8)
        let section = try #require(
            model.components(separatedBy: "## Reproducing the paper").dropFirst().first?.components(
                separatedBy: "\n## "
            ).first)
        for w in Reproduction.Why.allCases {
            #expect(section.contains("| *\(w.rawValue)* |"), "MODEL.md lacks the reason \(w.rawValue)")
        }
    }

    /// docs/REPRODUCTION.md is the full run's Markdown (scripts/reproduce.sh). Its rows for the
    /// bundled captures that the golden tests replay with the same settings must be the golden
    /// reports' numbers, and its defaults table the model's defaults.
    @Test("docs/REPRODUCTION.md's rows for golden-tested captures and its defaults are today's")
    func fullDocument() throws {
        let doc = try String(contentsOfFile: ReproductionTests.root + "/docs/REPRODUCTION.md", encoding: .utf8)
        #expect(doc.hasPrefix("# The paper's experiments, rerun\n\n`tracetool reproduce --format md`"))
        #expect(!doc.contains("Not run"))
        let plan = ReproductionPlan(ReproductionSettings.make(quick: false))
        var outcomes = plan.runs.map { _ in ReproOutcome(missing: "not read from a golden report") }
        func golden(_ name: String) throws -> ReplayReport {
            let file = ReproductionTests.root + "/Tests/AnalyzerTests/Golden/" + name
            return try JSONDecoder().decode(ReplayReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        }
        for trace in ["capture-identical5", "server-identical5", "server-identical5-long"] {
            for n in 1...5 {
                outcomes[plan.index["fig4-\(trace).mtr.zst-\(n)"]!] = ReproOutcome(
                    report: try golden("\(trace)-first\(n)-esx.json"))
            }
        }
        outcomes[plan.index["fig5-server-mix.mtr.zst"]!] = ReproOutcome(report: try golden("server-mix-esx.json"))
        outcomes[plan.index["fig5-server-mix-long.mtr.zst"]!] = ReproOutcome(
            report: try golden("server-mix-long-esx.json"))
        let rep = Reproduction(plan: plan, outcomes: outcomes)
        var checked = 0
        for e in rep.experiments where ["fig4", "fig5", "defaults"].contains(e.id) {
            for t in e.tables where !t.title.hasPrefix("gen ") {
                for r in t.rows {
                    let line = ReproductionRenderer.markdownRow(r)
                    #expect(doc.contains(line), "docs/REPRODUCTION.md lacks \(line): rerun bash scripts/reproduce.sh")
                    checked += 1
                }
            }
        }
        #expect(checked == 30 + 6 + 14)
    }

    @Test("The guide's reproduction rows are docs/REPRODUCTION.md's summary rows")
    func readmeRows() throws {
        let readme = try String(contentsOfFile: ReproductionTests.root + "/docs/GUIDE.md", encoding: .utf8)
        let doc = try String(contentsOfFile: ReproductionTests.root + "/docs/REPRODUCTION.md", encoding: .utf8)
        let section = try #require(
            readme.components(separatedBy: "## Reproducing the paper").dropFirst().first?.components(
                separatedBy: "\n## "
            ).first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| experiment") }
        #expect(rows.count == 7)
        let summary = try #require(
            doc.components(separatedBy: "## Summary").dropFirst().first?.components(separatedBy: "\n## ").first)
        for r in rows { #expect(summary.contains(r), "docs/GUIDE.md row not in docs/REPRODUCTION.md's summary: \(r)") }
    }

    @Test(
        "Period rows: one per VM per sample period, the estimate is the larger EWMA, and logging them changes no report"
    )
    func periods() throws {
        var o = GenOptions()
        o.pagesPerVM = 8192
        let dir = NSTemporaryDirectory() + "tt-periods-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.mtr.zst"
        try ScenarioRegistry.write(Fig6Scenario.self, options: o, to: path)
        func replay(_ log: Bool) throws -> (RunResult, String) {
            var run = PolicyRun(name: "esx", policy: Policy(), spec: HostSpec())
            run.recordPeriods = log
            var runner = ReplayRunner(path: path, runs: [run])
            runner.settle = .seconds(300)
            runner.traceName = "t"
            let r = try runner.run()[0]
            return (r, ReplayReportRenderer.json(r.report))
        }
        let (plain, a) = try replay(false)
        let (logged, b) = try replay(true)
        #expect(a == b)
        #expect(plain.periods.isEmpty)
        let r = try JSONDecoder().decode(ReplayReport.self, from: Data(b.utf8))
        #expect(UInt64(logged.periods.count) == r.vms[0].idle.periods)
        for p in logged.periods {
            #expect(p.estimate == min(8192, max(p.slow, p.fast)))
            #expect(p.time.rawValue % 30_000_000 == 0 && p.monitor == nil)
        }
        // The truth column sums to the report's mean × periods.
        let truth = logged.periods.reduce(0.0) { $0 + Double($1.truth) } / Double(logged.periods.count)
        #expect(abs(truth - r.vms[0].idle.trueMeanPages) < 0.01)
    }
}

@Suite("Reproduction: aging of server guests")
struct AgingTests {
    /// Two VMs of 4 pages whose header says their clocks read 1800 and 1790 s when the trace
    /// started. At 0 s VM 0 holds A, B and a zero page, VM 1 holds A and C; at 30 s VM 1's
    /// page 2 becomes A. Held: 6 of 8 pages (75%); zero: 1 (12.5%); distinct contents A, B, C
    /// and zero: the oracle bound is 6 − 4 = 2 pages (25%). The earliest clock at the end is
    /// 1790 + 30 s = 30.33 min.
    @Test("The aging table and series are the stats of the trace, on the guests' clock from the header")
    func handComputed() throws {
        let path = NSTemporaryDirectory() + "tt-aging-\(UUID().uuidString).mtr.zst"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let facts = CaptureFacts(
            source: "qemu-tcg", accesses: "interval-writes",
            details: [
                "vm0.clockAtStart": "1800 s of the guest's own clock when the trace starts",
                "vm1.clockAtStart": "1790 s of the guest's own clock when the trace starts",
            ])
        let header = TraceHeader(
            vms: [VMDecl(id: 0, name: "a", pages: 4), VMDecl(id: 1, name: "b", pages: 4)], capture: facts)
        let w = try BinaryTraceWriter(path: path, header: header, level: 1)
        let t0 = Micros.zero, t30 = Micros.seconds(30)
        let (a, b, c) = (ContentHash(0xA), ContentHash(0xB), ContentHash(0xC))
        for r in [
            TraceRecord(time: t0, vm: VMID(0), kind: .powerOn), TraceRecord(time: t0, vm: VMID(1), kind: .powerOn),
            TraceRecord(time: t0, vm: VMID(0), kind: .content, ppn: PPN(0), hash: a),
            TraceRecord(time: t0, vm: VMID(0), kind: .content, ppn: PPN(1), hash: b),
            TraceRecord(time: t0, vm: VMID(0), kind: .zero, ppn: PPN(2)),
            TraceRecord(time: t0, vm: VMID(1), kind: .content, ppn: PPN(0), hash: a),
            TraceRecord(time: t0, vm: VMID(1), kind: .content, ppn: PPN(1), hash: c),
            TraceRecord(time: t30, vm: VMID(1), kind: .content, ppn: PPN(2), hash: a),
        ] { try w.append(r) }
        _ = try w.finish()
        let st = try TraceStats.compute(path: path, interval: .seconds(30))
        let (table, series) = ReproBuilder.aging(
            trace: "t-identical.mtr.zst", stats: st, header: try TraceFile.open(path).header)
        let ours = table.rows.map { $0.ours ?? .nan }
        #expect(abs(ours[0] - 1820.0 / 60) < 1e-9)
        #expect(ours[1] == 75 && ours[2] == 12.5 && ours[3] == 25)
        // Beside Fig. 4's five identical VMs (the trace's name says identical).
        #expect(table.rows[3].paper == 54.3)
        #expect(table.rows[1].why == [.aged])
        #expect(series.map(\.name) == ["t-identical: held", "t-identical: oracle bound", "t-identical: zero"])
        let held = series[0].points
        #expect(held.last!.0 == (30 + 1790) / 60.0 && held.last!.1 == 75)
        #expect(series[1].points.last!.1 == 25)
        // Without the facts: no clock, no series, the short traces' reasons.
        let plain = ReproBuilder.aging(trace: "t.mtr.zst", stats: st, header: nil)
        #expect(
            plain.series.isEmpty && plain.table.rows[0].ours == nil
                && plain.table.rows[1].why == [.servers, .untouched])
        #expect(plain.table.rows[3].paper == 7.2)
    }
}
