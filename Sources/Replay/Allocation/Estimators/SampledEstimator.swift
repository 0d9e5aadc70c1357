/// ESX's estimate (docs/PAPER.md §5.3): the largest of the slow and fast EWMAs of the sampled
/// fraction and the fast one folded with the current period's partial count, times max.
struct SampledEstimator: ActivityEstimator {
    static let registration = ActivityEstimatorRegistration(
        implementation: Implementation(
            name: EstimatorName.sampled.rawValue,
            summary: "the idle sampler's estimate (slow/fast EWMAs, partial period)"),
        make: { _ in SampledEstimator() })

    func activePages(_ vm: VMState) -> Double {
        let f = vm.estimator.estimate(partialTouched: vm.traps, sampled: vm.sampledPPNs.count)
        return min(1, f) * Double(vm.config.maxPages)
    }
}

extension ImplementationName where Family == ActivityEstimators {
    public static let sampled: EstimatorName = "sampled"
}
