import TraceFormat

/// DAMON-style region sampling (docs/MODEL.md "DAMON estimator"): the pages of every region
/// its monitor saw accessed in the last aggregation interval. Also the mechanism that runs the
/// monitors (one per VM, told of every touch): their one-second sampling tick before sampling,
/// an aggregation every `damonAggregate` seconds, and, per sample period, how its estimate and
/// ESX's compare with the truth. Never steady in closed form (it draws a page per region every
/// second), so fast-forward stays off while it runs.
final class DamonEstimator: ActivityEstimator, EngineMechanism, @unchecked Sendable {
    static let registration = ActivityEstimatorRegistration(
        implementation: Implementation(
            name: EstimatorName.damon.rawValue,
            summary: "DAMON-style adaptive regions, one sampled page per region per second"),
        make: { DamonEstimator(policy: $0) })

    let policy: Policy
    /// Per VM (by index): its monitor and its sums over sample periods.
    private(set) var monitors: [DamonMonitor] = []
    private var vms: [PerVM] = []
    /// One-second ticks so far.
    private var ticks: UInt64 = 0

    private struct PerVM {
        var estimateSum: Double = 0
        var absErrorSum: Double = 0
        var esxLag = TrackingLag()
        var damonLag = TrackingLag()
        var previousTruth: Double?
    }

    init(policy: Policy) { self.policy = policy }

    /// The knobs of estimator=damon: the aggregation interval (the sampling interval is the
    /// model's one-second tick) and the bounds on the number of regions.
    static let knobs: [PolicyKnob] = [
        .duration(
            "damonAggregate", default: 20, range: 1...Policy.maxPeriod, after: "estimator",
            help: "estimator=damon: aggregation interval (one sample per region per second)"),
        .integer(
            "damonMinRegions", default: 10, after: "damonAggregate",
            help: "estimator=damon: fewest regions (the initial split)"
        ) { v, _ in
            (1...(1 << 20)).contains(v) ? nil : "must be in [1, 1048576]"
        },
        .integer("damonMaxRegions", default: 1000, after: "damonMinRegions", help: "estimator=damon: most regions") {
            v, p in
            v >= p.damonMinRegions && v <= 1 << 20 ? nil : "must be in [damonMinRegions, 1048576]"
        },
    ]

    func activePages(_ vm: VMState) -> Double {
        vm.index < monitors.count ? Double(monitors[vm.index].estimate) : Double(vm.pageCount)
    }

    func attach(_ engine: ReplayEngine) {
        for vm in engine.vms {
            let m = DamonMonitor(
                pages: vm.pageCount, minRegions: policy.damonMinRegions, maxRegions: policy.damonMaxRegions,
                samplesPerAggregation: Int(policy.damonAggregate.rounded()))
            monitors.append(m)
            vms.append(PerVM())
            vm.accessObserver = m
        }
    }

    /// The one-second tick: a sampling interval for every powered-on VM's monitor, and an
    /// aggregation every `damonAggregate` seconds (before the sample period that may end at the
    /// same instant scores the estimate).
    func secondBegins(_ engine: ReplayEngine) {
        ticks &+= 1
        let aggregate = ticks % UInt64(max(1, Int(policy.damonAggregate.rounded()))) == 0
        for vm in engine.vms where vm.on {
            let d = monitors[vm.index]
            var rng = SeededRandom.stream(seed: policy.seed, vm: vm.config.id, .accessMonitor, ticks)
            d.sample(rng: &rng)
            if aggregate { d.aggregate(rng: &rng) }
        }
    }

    func periodEnded(_ engine: ReplayEngine, _ vm: VMState, truth: Double, estimate: Double) {
        let d = Double(monitors[vm.index].estimate)
        let max = Double(vm.config.maxPages)
        vms[vm.index].estimateSum += d
        vms[vm.index].absErrorSum += abs(d - truth)
        vms[vm.index].esxLag.period(
            previousTruth: vms[vm.index].previousTruth, truth: truth, estimate: estimate, max: max, index: vm.periods)
        vms[vm.index].damonLag.period(
            previousTruth: vms[vm.index].previousTruth, truth: truth, estimate: d, max: max, index: vm.periods)
        vms[vm.index].previousTruth = truth
    }

    func periodEstimate(_ vm: VMState) -> UInt64? { UInt64(monitors[vm.index].estimate) }

    func poweredOff(_ engine: ReplayEngine, _ vm: VMState) {
        monitors[vm.index].reset()
        vms[vm.index].previousTruth = nil
    }

    func isSteady(_ engine: ReplayEngine) -> Bool { false }

    func report(_ engine: ReplayEngine, _ vm: VMState) -> (any Sendable)? {
        let v = vms[vm.index]
        return DamonReport(
            estimateSum: v.estimateSum, absErrorSum: v.absErrorSum, esxLag: v.esxLag, damonLag: v.damonLag)
    }
}

/// What DAMON-style monitoring measured for one VM (`MechanismReports`): sums over its sample
/// periods of the DAMON estimate and of its |error| against the truth (pages), and how fast
/// ESX's estimate and DAMON's follow rises and falls of the truth.
public struct DamonReport: Sendable, Equatable {
    public var estimateSum: Double
    public var absErrorSum: Double
    public var esxLag: TrackingLag
    public var damonLag: TrackingLag
}

extension ImplementationName where Family == ActivityEstimators {
    public static let damon: EstimatorName = "damon"
}

extension Policy {
    /// `damonAggregate`, s, and the region bounds (DamonEstimator.knobs).
    public var damonAggregate: Double {
        get { number("damonAggregate") }
        set { setExtra("damonAggregate", .number(newValue)) }
    }
    public var damonMinRegions: Int {
        get { integer("damonMinRegions") }
        set { setExtra("damonMinRegions", .integer(newValue)) }
    }
    public var damonMaxRegions: Int {
        get { integer("damonMaxRegions") }
        set { setExtra("damonMaxRegions", .integer(newValue)) }
    }
}
