import Foundation
import Replay
import Scenarios
import TraceFormat

/// `tracetool reproduce`: the paper's experiments rerun on bundled traces and on the `gen`
/// scenarios, each beside the paper's own figures (docs/PAPER.md). This file says what runs;
/// ReproductionRunner.swift runs it, Reproduction.swift turns the runs into the comparison,
/// ReproductionRenderer.swift prints it.
public struct ReproductionOptions: Sendable {
    /// Scaled-down settings (smaller generated guests, shorter generated traces, the two
    /// largest bundled traces left out): under a minute.
    public var quick = false
    /// Replays at once (each on its own core).
    public var jobs = 1
    /// Where the bundled traces are (`traces/` of the project).
    public var tracesDir = "traces"
    public init() {}
}

/// Where a replay's trace comes from.
enum ReproSource: Sendable, Hashable {
    /// A file of the traces folder, or its first `firstVMs` VMs (as `convert --vms 0,…,N−1`).
    case bundled(String, firstVMs: Int?)
    /// A `tracetool gen` scenario with these options.
    case gen(String, GenKey)

    var label: String {
        switch self {
        case .bundled(let f, let n): return n.map { "\(f) (first \($0) VMs)" } ?? f
        case .gen(let s, let k): return "gen \(s) \(k.arguments(for: s))"
        }
    }
}

/// The `gen` options a reproduction sets (hashable, so one trace serves every replay of it).
struct GenKey: Sendable, Hashable {
    var vms = 4
    var pages: UInt64 = 16_384
    var records: UInt64 = 0
    var duration: Double = 60
    var seed: UInt64 = 1
    var options: GenOptions {
        var o = GenOptions()
        o.vms = vms; o.pagesPerVM = pages; o.records = records; o.duration = duration; o.seed = seed
        return o
    }
    /// The `tracetool gen` options that make the same trace: those the scenario reads, where
    /// they differ from `gen`'s defaults.
    func arguments(for scenario: String) -> String {
        let reads = ScenarioRegistry.named(scenario)?.options ?? []
        let d = GenOptions(), o = options
        var a: [String] = []
        if reads.contains("vms") && o.vms != d.vms { a.append("--vms \(vms)") }
        if reads.contains("pages") && o.pagesPerVM != d.pagesPerVM { a.append("--pages \(pages)") }
        if reads.contains("records") && o.records != d.records { a.append("--records \(records)") }
        if reads.contains("duration") && o.duration != d.duration {
            a.append("--duration \(Units.formatDuration(Micros.seconds(duration)))")
        }
        if reads.contains("seed") && o.seed != d.seed { a.append("--seed \(seed)") }
        return a.joined(separator: " ")
    }
    /// The command that makes this trace as T.
    func command(_ scenario: String) -> String { "tracetool gen \(scenario) T \(arguments(for: scenario))" }
}

/// One replay of the reproduction.
struct ReproRun: Sendable {
    var source: ReproSource
    var policyName: String
    var policy: Policy
    var spec: HostSpec
    var settle: Micros = .zero
    var timeline: Micros?
    var periods = false
    /// The replay's command line, for the report (`tracetool replay …`).
    var command: String
    /// Not a replay: `tracetool stats` of the trace at this interval (the aging experiment).
    var statsInterval: Micros? = nil
}

/// The settings of every experiment, full or quick. Sizes are the paper's in the full run;
/// the quick run scales the generated guests by `scale` and reports MiB scaled back up.
struct ReproductionSettings: Sendable {
    var quick: Bool
    /// Fig. 4 on `gen identical`: VM counts, pages per VM, records, seconds.
    var identicalCounts: ClosedRange<Int>
    var identicalPages: UInt64
    var identicalRecords: UInt64
    var identicalDuration: Double
    /// Bundled identical-VM captures (trace, settle seconds).
    var identicalCaptures: [(String, Double)]
    /// Fig. 5's bundled captures (trace, settle seconds).
    var realCaptures: [(String, Double)]
    /// Aging: bundled server captures whose memory is followed over the guests' own time
    /// (`stats` every 30 s), short ones beside long ones.
    var agingTraces: [String] = []
    /// Fig. 6: pages of the toucher VM (131,072 = the paper's 512 MB).
    var fig6Pages: UInt64
    /// Fig. 7 and 8: pages of the 256 MB VMs (65,536 at the paper's size), and seconds.
    var fig7Pages: UInt64
    var fig7Duration: Double
    var fig8Pages: UInt64
    var fig8Duration: Double
    /// Balloon vs paging: bundled traces under pressure (trace, overcommit), each replayed with
    /// `comparisonSeeds` seeds (1, 2, …) under esx and swap-only, as is Fig. 7 at τ = 0.
    var pressureTraces: [(String, Double)]
    var comparisonSeeds = 5

    static func make(quick: Bool) -> ReproductionSettings {
        if quick {
            return ReproductionSettings(
                quick: true, identicalCounts: 1...5, identicalPages: 2560, identicalRecords: 20_000,
                identicalDuration: 600,
                identicalCaptures: [("capture-identical5.mtr.zst", 1800)],
                realCaptures: [("capture-4vm.mtr.zst", 1800), ("qemu4vm.mtr.zst", 1800)],
                fig6Pages: 32768, fig7Pages: 8192, fig7Duration: 2400, fig8Pages: 8192, fig8Duration: 600,
                pressureTraces: [("capture-4vm.mtr.zst", 2)])
        }
        return ReproductionSettings(
            quick: false, identicalCounts: 1...10, identicalPages: 10240, identicalRecords: 200_000,
            identicalDuration: 1800,
            identicalCaptures: [
                ("capture-identical5.mtr.zst", 1800), ("server-identical5.mtr.zst", 7200),
                ("server-identical5-long.mtr.zst", 7200),
            ],
            realCaptures: [
                ("server-mix.mtr.zst", 7200), ("server-mix-long.mtr.zst", 7200), ("capture-4vm.mtr.zst", 1800),
                ("qemu4vm.mtr.zst", 1800),
            ],
            agingTraces: [
                "server-identical5.mtr.zst", "server-identical5-long.mtr.zst", "server-mix.mtr.zst",
                "server-mix-long.mtr.zst",
            ],
            fig6Pages: 131_072, fig7Pages: 65536, fig7Duration: 2400, fig8Pages: 65536, fig8Duration: 1800,
            pressureTraces: [("capture-4vm.mtr.zst", 2), ("server-mix.mtr.zst", 4)])
    }

    /// Fig. 7's and Fig. 8's guests against the paper's (1 at full size).
    var fig7Scale: Double { Double(fig7Pages) / 65536 }
    var fig8Scale: Double { Double(fig8Pages) / 65536 }
    var fig6Scale: Double { Double(fig6Pages) / 131_072 }
}

/// Every replay of the reproduction, in a fixed order (the report reads them by index).
struct ReproductionPlan: Sendable {
    var settings: ReproductionSettings
    var runs: [ReproRun] = []
    /// Index of each named run.
    var index: [String: Int] = [:]

    init(_ s: ReproductionSettings) {
        settings = s
        let esx = Presets.named("esx")!.policy
        func add(_ key: String, _ r: ReproRun) {
            index[key] = runs.count
            runs.append(r)
        }
        // Fig. 4: N identical VMs.
        for n in s.identicalCounts {
            let k = GenKey(
                vms: n, pages: s.identicalPages,
                records: s.identicalRecords * UInt64(n) / UInt64(s.identicalCounts.upperBound),
                duration: s.identicalDuration)
            add(
                "fig4-gen-\(n)",
                ReproRun(
                    source: .gen("identical", k), policyName: "esx", policy: esx, spec: HostSpec(),
                    command: k.command("identical") + "; tracetool replay T"))
        }
        for (trace, settle) in s.identicalCaptures {
            for n in 1...5 {
                add(
                    "fig4-\(trace)-\(n)",
                    ReproRun(
                        source: .bundled(trace, firstVMs: n), policyName: "esx", policy: esx, spec: HostSpec(),
                        settle: .seconds(settle),
                        command:
                            "tracetool convert traces/\(trace) T --vms \((0..<n).map(String.init).joined(separator: ",")); tracetool replay T --settle \(Units.formatDuration(.seconds(settle)))"
                    ))
            }
        }
        // Fig. 5: real workloads.
        for (trace, settle) in s.realCaptures {
            add(
                "fig5-\(trace)",
                ReproRun(
                    source: .bundled(trace, firstVMs: nil), policyName: "esx", policy: esx, spec: HostSpec(),
                    settle: .seconds(settle),
                    command: "tracetool replay traces/\(trace) --settle \(Units.formatDuration(.seconds(settle)))"))
        }
        // Aging: what the server guests hold over their own time.
        for trace in s.agingTraces {
            add(
                "aging-\(trace)",
                ReproRun(
                    source: .bundled(trace, firstVMs: nil), policyName: "stats", policy: esx, spec: HostSpec(),
                    command: "tracetool stats traces/\(trace) --interval 30s --format json",
                    statsInterval: .seconds(30)))
        }
        // Fig. 6: the sampled estimate following a toucher, ESX's and DAMON's.
        var damon = esx
        damon.estimator = .damon
        let f6 = GenKey(pages: s.fig6Pages)
        add(
            "fig6",
            ReproRun(
                source: .gen("fig6", f6), policyName: "esx, estimator=damon", policy: damon,
                spec: HostSpec(), periods: true,
                command: f6.command("fig6") + "; tracetool replay T --set estimator=damon"))
        // Fig. 7: idle tax 0 and 0.75 (and swap-only for balloon vs paging).
        let f7 = GenKey(pages: s.fig7Pages, duration: s.fig7Duration)
        let f7Host = UInt64(((358.0 + 64) * s.fig7Scale / 0.94 * 256).rounded())
        for (name, tau, preset) in [
            ("fig7-tau0", 0.0, "esx"), ("fig7-tau75", 0.75, "esx"), ("fig7-tau0-swap-only", 0.0, "swap-only"),
        ] {
            var p = Presets.named(preset)!.policy
            p.sharing = .off
            p.idleTax = tau
            p.overhead = 32 * s.fig7Scale
            var spec = HostSpec()
            spec.memory = .pages(f7Host)
            let overhead = s.fig7Scale == 1 ? "" : ",overhead=\(SVG.num(32 * s.fig7Scale))"
            let command =
                f7.command("fig7")
                + "; tracetool replay T --host-memory \"\(f7Host) pages\" --policy \(preset),sharing=off,idleTax=\(SVG.num(tau))\(overhead)"
            add(
                name,
                ReproRun(
                    source: .gen("fig7", f7), policyName: preset + " + sharing=off,idleTax=\(SVG.num(tau))", policy: p,
                    spec: spec,
                    timeline: .seconds(10), command: command))
            // More seeds for the comparison of ballooning against paging (τ = 0).
            if tau == 0 {
                for k in 2...s.comparisonSeeds {
                    var q = p
                    q.seed = UInt64(k)
                    add(
                        name + "-seed\(k)",
                        ReproRun(
                            source: .gen("fig7", f7), policyName: preset + " + sharing=off,idleTax=0", policy: q,
                            spec: spec,
                            command: command + " --seed \(k)"))
                }
            }
        }
        // Fig. 8: five VMs, 1 GB host.
        var p8 = esx
        p8.overhead = 32 * s.fig8Scale
        var spec8 = HostSpec()
        let f8Host = UInt64((262_144 * s.fig8Scale).rounded())
        spec8.memory = .pages(f8Host)
        let overhead8 = s.fig8Scale == 1 ? "" : " --set overhead=\(SVG.num(32 * s.fig8Scale))"
        let f8 = GenKey(pages: s.fig8Pages, duration: s.fig8Duration)
        add(
            "fig8",
            ReproRun(
                source: .gen("fig8", f8), policyName: "esx", policy: p8,
                spec: spec8, timeline: .seconds(5),
                command: f8.command("fig8") + "; tracetool replay T --host-memory \"\(f8Host) pages\"\(overhead8)"))
        // Ballooning against paging on captures under pressure.
        for (trace, oc) in s.pressureTraces {
            for preset in ["esx", "swap-only"] {
                var spec = HostSpec()
                spec.memory = .overcommit(oc)
                for k in 1...s.comparisonSeeds {
                    var p = Presets.named(preset)!.policy
                    p.seed = UInt64(k)
                    add(
                        "pressure-\(trace)-\(preset)" + (k == 1 ? "" : "-seed\(k)"),
                        ReproRun(
                            source: .bundled(trace, firstVMs: nil), policyName: preset, policy: p, spec: spec,
                            command: "tracetool replay traces/\(trace) --policy \(preset) --overcommit \(SVG.num(oc))"
                                + (k == 1 ? "" : " --seed \(k)")))
                }
            }
        }
    }
}
