/// The trace's truth: the pages really touched in the last complete sample period (all of max
/// before the first period ends).
struct OracleEstimator: ActivityEstimator {
    static let registration = ActivityEstimatorRegistration(
        implementation: Implementation(
            name: EstimatorName.oracle.rawValue, summary: "the trace's true working set of the last complete period"),
        make: { _ in OracleEstimator() })

    func activePages(_ vm: VMState) -> Double {
        Double(vm.lastTruePages ?? vm.config.maxPages)
    }
}

extension ImplementationName where Family == ActivityEstimators {
    public static let oracle: EstimatorName = "oracle"
}
