import Foundation
import Replay
import TraceFormat

/// `tracetool plan`: how far a host can be overcommitted before the VMs suffer, per policy
/// (docs/PLAN.md). For each trace and policy it searches the overcommit ratio (equivalently the
/// host's size) for the largest one at which the slowdown stays within a budget: a coarse grid
/// over the range first, then bisection between the last ratio within the budget and the first
/// one over it, until they are `precision` apart. Every round is one decode of the trace feeding
/// every replay it needs (`ReplayRunner`), so the search replays only the cells it needs.
public enum CapacityPlan {
    /// Whose slowdown the budget bounds.
    public enum Measure: String, Sendable, CaseIterable {
        /// Every VM's own slowdown (its stall over its powered-on time) within the budget: the
        /// worst VM binds.
        case worstVM = "worst-vm"
        /// The host's: all VMs' stall over all their powered-on time.
        case all

        public var phrase: String { self == .worstVM ? "worst VM slowdown" : "slowdown of all VMs together" }
    }

    public struct Options: Sendable {
        /// The budget, percent of the traced span's powered-on time.
        public var budgetPercent: Double = 2
        public var measure: Measure = .worstVM
        /// Replays per point (the policy's seed and the next ones); the mean decides.
        public var seeds = 1
        /// The seeds of every point, when given (a study's list): replaces the policy's seed and
        /// the next ones, and `seeds` is its count.
        public var seedList: [UInt64]?
        /// The host settings every replay shares (its memory is the searched ratio's): swap.
        public var swap: String?
        /// The overcommit ratios searched, and how close the answer's bracket must get.
        public var from = 1.0
        public var to = 4.0
        public var precision = 0.05
        public var until: Micros?
        public var jobs = 1
        public init() {}
    }

    /// One policy to plan for: its name and knobs.
    public struct PolicyChoice: Sendable {
        public var name: String
        public var policy: Policy
        public init(name: String, policy: Policy) { self.name = name; self.policy = policy }
    }

    /// One evaluated point of a capacity curve: the slowdown (percent; mean and 95% interval over
    /// the seeds) at an overcommit ratio, with the host's size and the VM that fared worst.
    public struct Point: Sendable, Equatable, Codable {
        public var overcommit: Double
        public var hostMiB: Double
        /// Memory for the VMs at this ratio (Σ max / overcommit), MiB.
        public var memoryForVMsMiB: Double
        public var slowdownPercent: Double
        public var ci95LowPercent: Double
        public var ci95HighPercent: Double
        /// The slowdown of each seed's run, percent, in seed order.
        public var seedSlowdownPercent: [Double]
        /// The VM with the largest mean slowdown over the seeds.
        public var worstVMId: UInt32?
        public var worstVMName: String?
        /// No run at this point met memory pressure (never left high; nothing ballooned or
        /// paged).
        public var unpressured: Bool
        /// A run refused a VM at power-on (admission control): its slowdown is over fewer VMs.
        public var refusedVMs: [UInt32]
        /// Found by the coarse grid (false: a bisection point).
        public var onGrid: Bool
    }

    public enum Outcome: String, Sendable, Codable {
        /// The budget holds up to `overcommit` and is exceeded just above it.
        case found
        /// The budget holds at every ratio searched, up to the range's end.
        case aboveRange
        /// The budget is exceeded already at the range's start.
        case belowRange
    }

    public struct Answer: Sendable, Codable {
        public var policy: String
        public var outcome: Outcome
        /// The largest ratio within the budget (nil when below the range), and that point.
        public var within: Point?
        /// The smallest ratio over the budget (nil when above the range), and its worst VM: the
        /// VM that binds.
        public var over: Point?
        /// The knee of the capacity curve (`knee`), when there is one.
        public var kneeOvercommit: Double?
    }

    public struct TracePlan: Sendable {
        public var trace: String
        public var vms: Int
        public var configuredMiB: Double
        /// What the VMs hold at the end of a replay on a host with room for all of them: the
        /// memory they touched.
        public var touchedMiB: Double
        public var answers: [Answer]
        /// Per policy (in order), its evaluated points in ratio order.
        public var curves: [[Point]]
        public var replays: Int
        public var rounds: Int
        /// True when no run at any ratio met memory pressure.
        public var neverPressured: Bool {
            curves.allSatisfy { $0.allSatisfy(\.unpressured) }
        }
    }

    /// The coarse grid: these ratios within [from, to], and both ends.
    static let gridRatios: [Double] = [1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 8, 10, 12, 16, 24, 32]

    static func grid(_ o: Options) -> [Double] {
        var g = gridRatios.filter { $0 > o.from && $0 < o.to }
        g.insert(o.from, at: 0)
        if o.to > o.from { g.append(o.to) }
        return g
    }

    /// The measured slowdown of one run, percent.
    static func measure(_ r: ReplayReport, _ m: Measure) -> Double {
        100 * (m == .all ? r.cost.slowdown : (r.cost.worstVMSlowdown ?? 0))
    }

    /// Plans one trace for every policy.
    public static func plan(
        path: String, trace: String, policies: [PolicyChoice], options o: Options,
        progress: ((String) -> Void)? = nil
    ) throws(ReplayRunner.Failure) -> TracePlan {
        var points: [[Point]] = Array(repeating: [], count: policies.count)
        var replays = 0
        var rounds = 0
        var touched = 0.0, configured = 0.0, vmCount = 0

        /// Replays `ratios[p]` for each policy p (every seed), one decode for all; appends the
        /// points. With `baseline`, also one run on the default host (room for every VM).
        func round(_ ratios: [[Double]], onGrid: Bool, baseline: Bool) throws(ReplayRunner.Failure) {
            var runs: [PolicyRun] = []
            var owner: [(policy: Int, ratio: Double)] = []
            for (p, choice) in policies.enumerated() {
                for r in ratios[p] {
                    var spec = HostSpec()
                    spec.memory = .overcommit(r)
                    spec.swap = o.swap
                    for k in 0..<o.seeds {
                        var policy = choice.policy
                        policy.seed = o.seedList?[k] ?? choice.policy.seed &+ UInt64(k)
                        var run = PolicyRun(
                            name: "\(choice.name) overcommit=\(fmt(r)) seed=\(policy.seed)", policy: policy, spec: spec)
                        run.policyName = choice.name
                        run.cell = [SweepSetting(key: "overcommit", value: fmt(r))]
                        run.replicate = k
                        runs.append(run)
                        owner.append((p, r))
                    }
                }
            }
            if baseline {
                var roomy = HostSpec()
                roomy.swap = o.swap
                var run = PolicyRun(
                    name: "\(policies[0].name) (room for every VM)", policy: policies[0].policy, spec: roomy)
                run.policyName = run.name
                runs.append(run)
            }
            guard !runs.isEmpty else { return }
            rounds += 1
            progress?("round \(rounds): \(runs.count) replays")
            var runner = ReplayRunner(path: path, runs: runs)
            runner.jobs = o.jobs
            runner.until = o.until
            let results: [RunResult]
            results = try runner.run()
            replays += results.count
            if baseline, let b = results.last?.report {
                let mib = Double(b.host.pageSizeBytes) / 1_048_576
                touched = Double(b.vms.reduce(0) { $0 + $1.residentPages }) * mib
                configured = Double(b.vms.reduce(0) { $0 + $1.maxPages }) * mib
                vmCount = b.vms.count
            }
            var i = 0
            while i < owner.count {
                let (p, r) = owner[i]
                let group = Array(results[i..<(i + o.seeds)])
                let reports = group.map(\.report)
                let values = reports.map { measure($0, o.measure) }
                let (mean, hw) = CompareSummary.interval(values)
                let first = reports[0]
                let mib = Double(first.host.pageSizeBytes) / 1_048_576
                // The worst VM by its mean slowdown over the seeds (the first on a tie).
                var worst: (id: UInt32, name: String, s: Double)?
                for (v, vm) in first.vms.enumerated() where vm.cost.onSeconds > 0 {
                    let s = reports.reduce(0.0) { $0 + $1.vms[v].cost.slowdown } / Double(reports.count)
                    if worst == nil || s > worst!.s { worst = (vm.id, vm.name, s) }
                }
                let size = CompareRenderer.hostSize(first)
                points[p].append(
                    Point(
                        overcommit: r, hostMiB: first.host.machineMiB,
                        memoryForVMsMiB: size.overcommit.map {
                            Double(first.vms.reduce(0) { $0 + $1.maxPages }) * mib / $0
                        } ?? 0,
                        slowdownPercent: mean, ci95LowPercent: mean - hw, ci95HighPercent: mean + hw,
                        seedSlowdownPercent: values, worstVMId: worst?.id, worstVMName: worst?.name,
                        unpressured: reports.allSatisfy(CompareRenderer.unpressured),
                        refusedVMs: Array(Set(reports.flatMap(\.admission.refused))).sorted(), onGrid: onGrid))
                i += o.seeds
            }
            for p in points.indices { points[p].sort { $0.overcommit < $1.overcommit } }
        }

        let coarse = grid(o)
        try round(Array(repeating: coarse, count: policies.count), onGrid: true, baseline: true)
        // Bisection: between the last point within the budget and the first over it.
        while true {
            var next: [[Double]] = Array(repeating: [], count: policies.count)
            for p in policies.indices {
                guard let (lo, hi) = bracket(points[p], budget: o.budgetPercent), hi - lo > o.precision else {
                    continue
                }
                let mid = ((lo + hi) / 2 * 1000).rounded() / 1000
                if mid > lo && mid < hi { next[p] = [mid] }
            }
            if next.allSatisfy(\.isEmpty) { break }
            try round(next, onGrid: false, baseline: false)
        }
        var answers: [Answer] = []
        for (p, choice) in policies.enumerated() {
            let pts = points[p]
            let firstOver = pts.first { $0.slowdownPercent > o.budgetPercent }
            let within = pts.last { $0.overcommit < (firstOver?.overcommit ?? .infinity) }
            let outcome: Outcome = firstOver == nil ? .aboveRange : within == nil ? .belowRange : .found
            answers.append(
                Answer(
                    policy: choice.name, outcome: outcome, within: within, over: firstOver,
                    kneeOvercommit: knee(pts, budget: o.budgetPercent)))
        }
        return TracePlan(
            trace: trace, vms: vmCount, configuredMiB: configured, touchedMiB: touched, answers: answers,
            curves: points, replays: replays, rounds: rounds)
    }

    /// The last ratio within the budget below the first over it, and that first one; nil when
    /// every point is within the budget or the first is over it.
    static func bracket(_ pts: [Point], budget: Double) -> (Double, Double)? {
        guard let over = pts.firstIndex(where: { $0.slowdownPercent > budget }), over > 0 else { return nil }
        return (pts[over - 1].overcommit, pts[over].overcommit)
    }

    /// The knee of a capacity curve: Kneedle (Satopää et al., 2011) on the slowdown's logarithm.
    /// With x (the ratio) and y = log10(slowdown + budget/100) scaled to [0, 1] over the points,
    /// the knee is the point furthest below the chord from the first point to the last (the
    /// largest x − y): where the slowdown turns from flat to steep. The logarithm keeps the
    /// steep tail (tens or hundreds of percent) from hiding where the rise starts; budget/100
    /// makes anything below a hundredth of the budget count as flat. Nil with fewer than three
    /// points, a flat curve, or no point below the chord.
    public static func knee(_ pts: [Point], budget: Double) -> Double? {
        guard pts.count >= 3 else { return nil }
        let x0 = pts.first!.overcommit, x1 = pts.last!.overcommit
        let ys = pts.map { log10($0.slowdownPercent + budget / 100) }
        let y0 = ys.min()!, y1 = ys.max()!
        guard x1 > x0, y1 - y0 > 1e-12 else { return nil }
        var best: (Double, Double)?
        for (p, y) in zip(pts, ys) {
            let d = (p.overcommit - x0) / (x1 - x0) - (y - y0) / (y1 - y0)
            if d > 1e-9 && (best == nil || d > best!.1) { best = (p.overcommit, d) }
        }
        return best?.0
    }

    /// A ratio as it is written in run names and tables: at most three decimals.
    public static func fmt(_ r: Double) -> String {
        var s = String(format: "%.3f", r)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
