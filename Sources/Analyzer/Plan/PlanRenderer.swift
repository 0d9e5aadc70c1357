import Foundation
import Replay

/// `tracetool plan`'s outputs: text, JSON, CSV and an HTML page (docs/PLAN.md; every key and
/// column in docs/REPORT.md "plan").
public enum PlanRenderer {
    public static let schemaVersion = 1

    static func pct(_ x: Double) -> String { String(format: "%.2f%%", x) }
    static func gib(_ mib: Double) -> String { String(format: "%.2f GiB", mib / 1024) }

    static func budgetLine(_ o: CapacityPlan.Options) -> String {
        "budget: \(o.measure.phrase) ≤ \(CapacityPlan.fmt(o.budgetPercent))% of powered-on time over the traced span; "
            + "\(o.seeds) seed\(o.seeds == 1 ? "" : "s") per point (the mean decides); overcommit searched from "
            + "\(CapacityPlan.fmt(o.from))× to \(CapacityPlan.fmt(o.to))×, to within \(CapacityPlan.fmt(o.precision))×"
    }

    /// One line per policy: the answer, the host size, the slowdown there, what binds.
    static func answerLine(_ a: CapacityPlan.Answer, _ o: CapacityPlan.Options, width: Int) -> String {
        let name = a.policy.padding(toLength: max(width, a.policy.count), withPad: " ", startingAt: 0)
        func ci(_ p: CapacityPlan.Point) -> String {
            o.seeds > 1
                ? pct(p.slowdownPercent) + " ± " + String(format: "%.2f", p.ci95HighPercent - p.slowdownPercent)
                : pct(p.slowdownPercent)
        }
        let who = o.measure == .worstVM ? "worst VM" : "all VMs"
        switch a.outcome {
        case .found:
            let w = a.within!, over = a.over!
            var s = "\(name)  up to \(CapacityPlan.fmt(w.overcommit))× — host \(gib(w.hostMiB)) — \(who) \(ci(w))"
            s += o.seeds > 1 ? ", \(o.seeds) seeds" : " (one seed)"
            s += "; at \(CapacityPlan.fmt(over.overcommit))× \(ci(over))"
            if let n = over.worstVMName, o.measure == .worstVM { s += ", \(n) binds" }
            return s
        case .aboveRange:
            let w = a.within!
            return
                "\(name)  at least \(CapacityPlan.fmt(w.overcommit))× (the whole range) — host \(gib(w.hostMiB)) — \(who) \(ci(w)); search further with --to"
        case .belowRange:
            let over = a.over!
            return "\(name)  below \(CapacityPlan.fmt(over.overcommit))× (the range's start) — \(who) \(ci(over))"
                + (over.worstVMName.map { ", \($0) binds" } ?? "") + "; search lower with --from"
        }
    }

    /// Why a trace never met pressure, in words.
    static func noPressure(_ t: CapacityPlan.TracePlan, _ o: CapacityPlan.Options) -> String {
        let ratio = t.touchedMiB > 0 ? t.configuredMiB / t.touchedMiB : 0
        return String(
            format:
                "no memory pressure anywhere from %@× to %@×: the VMs touch %.1f MiB of the %.1f MiB configured, so memory for VMs covers what they use up to about %.2f× (less the high threshold); search higher with --to",
            CapacityPlan.fmt(o.from), CapacityPlan.fmt(o.to), t.touchedMiB, t.configuredMiB, ratio)
    }

    public static func text(_ plans: [CapacityPlan.TracePlan], _ o: CapacityPlan.Options) -> String {
        var s = budgetLine(o) + "\n"
        for t in plans {
            s += "\ntrace \(t.trace): \(t.vms) VMs, \(String(format: "%.1f", t.configuredMiB)) MiB configured, "
            s += "\(String(format: "%.1f", t.touchedMiB)) MiB touched (what they hold on a host with room for all)\n"
            let width = t.answers.map(\.policy.count).max() ?? 0
            for a in t.answers { s += "  " + answerLine(a, o, width: width) + "\n" }
            if t.neverPressured { s += "  " + noPressure(t, o) + "\n" }
            s +=
                "\ncapacity curve: \(o.measure.phrase) % by overcommit (mean\(o.seeds > 1 ? " ± 95% CI" : ""); * over the budget)\n"
            let ratios = Array(Set(t.curves.flatMap { $0.map(\.overcommit) })).sorted()
            var rows: [[String]] = [["overcommit", "host GiB", "for VMs GiB"] + t.answers.map(\.policy)]
            for r in ratios {
                let any = t.curves.lazy.compactMap { $0.first { $0.overcommit == r } }.first!
                var row = [
                    CapacityPlan.fmt(r) + "×", String(format: "%.2f", any.hostMiB / 1024),
                    String(format: "%.2f", any.memoryForVMsMiB / 1024),
                ]
                for c in t.curves {
                    guard let p = c.first(where: { $0.overcommit == r }) else { row.append("-"); continue }
                    var v = String(format: "%.3f", p.slowdownPercent)
                    if o.seeds > 1 { v += String(format: " ± %.3f", p.ci95HighPercent - p.slowdownPercent) }
                    row.append(v + (p.slowdownPercent > o.budgetPercent ? " *" : "  "))
                }
                rows.append(row)
            }
            s += TextTable.render(rows, rightAligned: Set(0..<rows[0].count))
            let knees = t.answers.map { a in
                "\(a.policy) " + (a.kneeOvercommit.map { CapacityPlan.fmt($0) + "×" } ?? "none")
            }
            s +=
                "knee (where the slowdown turns steep; Kneedle on its logarithm): " + knees.joined(separator: ", ")
                + "\n"
            let refused = t.curves.flatMap { $0.filter { !$0.refusedVMs.isEmpty }.map(\.overcommit) }
            if !refused.isEmpty {
                s +=
                    "warning: admission control refused a VM at "
                    + Array(Set(refused)).sorted().map { CapacityPlan.fmt($0) + "×" }.joined(separator: ", ")
                    + "; the slowdown there is over the VMs that ran\n"
            }
            s +=
                "\(t.replays) replays in \(t.rounds) rounds (a grid, then bisection); host GiB is machine memory, for VMs GiB = Σ max / overcommit\n"
        }
        return s
    }

    public static func json(_ plans: [CapacityPlan.TracePlan], _ o: CapacityPlan.Options) -> String {
        struct Curve: Encodable { var policy: String; var points: [CapacityPlan.Point] }
        struct TraceOut: Encodable {
            var trace: String
            var vms: Int
            var configuredMiB: Double
            var touchedMiB: Double
            var neverPressured: Bool
            var answers: [CapacityPlan.Answer]
            var curves: [Curve]
            var replays: Int
            var rounds: Int
        }
        struct Out: Encodable {
            var schemaVersion = PlanRenderer.schemaVersion
            var budgetPercent: Double
            var measure: String
            var seeds: Int
            var fromOvercommit: Double
            var toOvercommit: Double
            var precisionOvercommit: Double
            var traces: [TraceOut]
        }
        let out = Out(
            budgetPercent: o.budgetPercent, measure: o.measure.rawValue, seeds: o.seeds, fromOvercommit: o.from,
            toOvercommit: o.to,
            precisionOvercommit: o.precision,
            traces: plans.map { t in
                TraceOut(
                    trace: t.trace, vms: t.vms, configuredMiB: round3(t.configuredMiB),
                    touchedMiB: round3(t.touchedMiB),
                    neverPressured: t.neverPressured, answers: t.answers,
                    curves: zip(t.answers, t.curves).map { Curve(policy: $0.policy, points: $1) },
                    replays: t.replays, rounds: t.rounds)
            })
        return String(decoding: try! JSONEncoder.canonical(pretty: true).encode(out), as: UTF8.self) + "\n"
    }

    /// One row per trace, policy and evaluated ratio (long format; one column per seed would not
    /// be long: `seed_slowdown_percent` lists them separated by `;`).
    public static func csv(_ plans: [CapacityPlan.TracePlan], _ o: CapacityPlan.Options) -> String {
        var s =
            "trace,policy,overcommit,host_mib,memory_for_vms_mib,measure,budget_percent,slowdown_percent_mean,slowdown_percent_ci95_low,slowdown_percent_ci95_high,seeds,seed_slowdown_percent,within_budget,worst_vm_id,worst_vm_name,unpressured,on_grid,answer\n"
        for t in plans {
            for (a, c) in zip(t.answers, t.curves) {
                for p in c {
                    let fields: [String] = [
                        CompareRenderer.csvField(t.trace), CompareRenderer.csvField(a.policy),
                        CapacityPlan.fmt(p.overcommit),
                        String(format: "%.1f", p.hostMiB), String(format: "%.1f", p.memoryForVMsMiB),
                        o.measure.rawValue,
                        CapacityPlan.fmt(o.budgetPercent), String(format: "%.4f", p.slowdownPercent),
                        String(format: "%.4f", p.ci95LowPercent),
                        String(format: "%.4f", p.ci95HighPercent), String(p.seedSlowdownPercent.count),
                        p.seedSlowdownPercent.map { String(format: "%.4f", $0) }.joined(separator: ";"),
                        p.slowdownPercent <= o.budgetPercent ? "true" : "false", p.worstVMId.map(String.init) ?? "",
                        CompareRenderer.csvField(p.worstVMName ?? ""), p.unpressured ? "true" : "false",
                        p.onGrid ? "true" : "false",
                        a.within?.overcommit == p.overcommit ? "true" : "false",
                    ]
                    s += fields.joined(separator: ",") + "\n"
                }
            }
        }
        return s
    }

    public static func html(_ plans: [CapacityPlan.TracePlan], _ o: CapacityPlan.Options) -> String {
        func esc(_ s: String) -> String { SVG.esc(s) }
        var s = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>tracetool plan</title>
            \(HTMLReport.style)</head><body>
            <h1>How far can this host be overcommitted?</h1>

            """
        s +=
            "<p class=\"note\">\(esc(budgetLine(o))). Slowdown is the cost model's estimated stall over powered-on time (docs/MODEL.md \"Cost model\"): an estimate to compare policies and sizes by, not a measurement.</p>\n"
        for (ti, t) in plans.enumerated() {
            s += "<section class=\"summary\"><h2>\(esc(t.trace))</h2>\n"
            s +=
                "<p>\(t.vms) VMs, \(String(format: "%.1f", t.configuredMiB)) MiB configured, \(String(format: "%.1f", t.touchedMiB)) MiB touched.</p>\n"
            s +=
                "<table class=\"answer\"><tr><th>policy</th><th>overcommit within the budget</th><th>host</th><th>\(esc(o.measure.phrase)) there</th><th>just over it</th><th>binds</th><th>knee</th></tr>\n"
            // The furthest answer (or answers, when equal) is marked.
            let furthest = t.answers.compactMap { $0.outcome == .belowRange ? nil : $0.within?.overcommit }.max()
            for a in t.answers {
                let w = a.within, over = a.over
                let how: String
                switch a.outcome {
                case .found: how = "up to \(CapacityPlan.fmt(w!.overcommit))×"
                case .aboveRange: how = "at least \(CapacityPlan.fmt(w!.overcommit))× (whole range)"
                case .belowRange: how = "below \(CapacityPlan.fmt(over!.overcommit))×"
                }
                func v(_ p: CapacityPlan.Point?) -> String {
                    guard let p else { return "" }
                    return CapacityPlan.fmt(p.overcommit) + "×: " + pct(p.slowdownPercent)
                        + (o.seeds > 1 ? String(format: " ± %.2f", p.ci95HighPercent - p.slowdownPercent) : "")
                }
                s +=
                    "<tr><td>\(esc(a.policy))</td><td\(a.outcome != .belowRange && w?.overcommit == furthest ? " class=\"best\"" : "")>\(esc(how))</td><td>\(w.map { gib($0.hostMiB) } ?? "")</td><td>\(esc(v(w)))</td><td>\(esc(v(over)))</td>"
                s +=
                    "<td>\(esc(over?.worstVMName ?? ""))</td><td>\(a.kneeOvercommit.map { CapacityPlan.fmt($0) + "×" } ?? "")</td></tr>\n"
            }
            s += "</table>\n"
            if t.neverPressured { s += "<p class=\"warning\">\(esc(noPressure(t, o)))</p>\n" }
            s += "</section>\n"
            var series: [SVG.Series] = [], intervals: [SVG.Interval] = []
            for (p, (a, c)) in zip(t.answers, t.curves).enumerated() {
                let (color, dash) = SVG.style(p)
                series.append(
                    SVG.Series(
                        name: a.policy, color: color, dash: dash, points: c.map { ($0.overcommit, $0.slowdownPercent) })
                )
                if o.seeds > 1 {
                    intervals.append(
                        SVG.Interval(
                            name: a.policy, color: color,
                            points: c.map { ($0.overcommit, $0.ci95LowPercent, $0.ci95HighPercent) }))
                }
            }
            let id = "plan-\(ti)"
            var full = SVG.LineChart(
                id: id, title: "\(o.measure.phrase) (%) by overcommit, with the budget",
                xLabel: "overcommit (Σ max / memory for VMs)", yLabel: "slowdown %")
            full.series = series; full.intervals = intervals; full.thresholds = [("budget", o.budgetPercent)];
            full.xFromData = true
            var zoom = full
            zoom.id = id + "-zoom"
            zoom.title = "the same, up to 3 × the budget (higher values run along the top)"
            zoom.yMax = 3 * o.budgetPercent
            s += SVG.figure(id, caption: "Capacity curve: \(t.trace)", full.render() + zoom.render())
            s +=
                "<p class=\"note\">Each line is one policy's slowdown at each overcommit it was replayed at (a grid, then bisection between the last ratio within the budget and the first over it)\(o.seeds > 1 ? "; shading is the 95% interval over the seeds" : ""). \(t.replays) replays.</p>\n"
        }
        s += "</body></html>\n"
        return s
    }
}
