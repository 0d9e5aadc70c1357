/// DAMON-style region sampling (docs/MODEL.md "DAMON estimator"): the pages of every region
/// its monitor saw accessed in the last aggregation interval.
struct DamonEstimator: ActivityEstimator {
    static let registration = ActivityEstimatorRegistration(
        implementation: Implementation(name: EstimatorName.damon.rawValue, summary: "DAMON-style adaptive regions, one sampled page per region per second"),
        make: { _ in DamonEstimator() })

    func activePages(_ vm: VMState) -> Double {
        Double(vm.damon?.estimate ?? vm.pageCount)
    }
}

extension ImplementationName where Family == ActivityEstimators {
    public static let damon: EstimatorName = "damon"
}
