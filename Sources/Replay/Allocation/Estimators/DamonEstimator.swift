/// DAMON-style region sampling (docs/MODEL.md "DAMON estimator"): the pages of every region
/// its monitor saw accessed in the last aggregation interval.
struct DamonEstimator: ActivityEstimator {
    static let registration = ActivityEstimatorRegistration(
        implementation: Implementation(name: EstimatorName.damon.rawValue, summary: "DAMON-style adaptive regions, one sampled page per region per second"),
        make: { _ in DamonEstimator() })

    /// The knobs of estimator=damon: the aggregation interval (the sampling interval is the
    /// model's one-second tick) and the bounds on the number of regions.
    static let knobs: [PolicyKnob] = [
        .duration("damonAggregate", default: 20, range: 1...Policy.maxPeriod, after: "estimator",
                  help: "estimator=damon: aggregation interval (one sample per region per second)"),
        .integer("damonMinRegions", default: 10, after: "damonAggregate", help: "estimator=damon: fewest regions (the initial split)") { v, _ in
            (1...(1 << 20)).contains(v) ? nil : "must be in [1, 1048576]"
        },
        .integer("damonMaxRegions", default: 1000, after: "damonMinRegions", help: "estimator=damon: most regions") { v, p in
            v >= p.damonMinRegions && v <= 1 << 20 ? nil : "must be in [damonMinRegions, 1048576]"
        },
    ]

    func activePages(_ vm: VMState) -> Double {
        Double(vm.damon?.estimate ?? vm.pageCount)
    }
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
