/// What the allocator takes as a VM's active memory when it computes targets (docs/PAPER.md §5;
/// docs/MODEL.md "Targets").
///
/// Contract. The engine makes one estimator per replay from the `estimator` knob. The idle
/// sampler runs whatever the estimator (every report compares its estimate with the truth);
/// the estimator only decides what the allocator uses. `activePages(_:)` is called whenever
/// targets are recomputed (every `balancePeriod`, at a free-state change, at power events) and
/// for each timeline row; it returns the VM's active memory in pages, in [0, max] — not limited
/// by what the VM holds now (touches of pages it lost to its balloon or to host swap count: a
/// thrashing VM is active beyond its allocation). It may read the VM's sampler state
/// (`estimator`, `traps`, `sampledPPNs`) and its true working set of the last complete period
/// (`lastTruePages`), never change them.
protocol ActivityEstimator: Sendable {
    func activePages(_ vm: VMState) -> Double
}

/// One registered estimator: its name, summary and how to make it.
struct ActivityEstimatorRegistration: Sendable, ImplementationRegistration {
    let implementation: Implementation
    let make: @Sendable (Policy) -> any ActivityEstimator
}

/// The registry of activity estimators (the `estimator` knob). A new estimator is one file
/// plus one line here.
public enum ActivityEstimators: RegisteredFamily {
    public static let knob = "estimator"
    static let registry: [ActivityEstimatorRegistration] = [
        SampledEstimator.registration,
        OracleEstimator.registration,
        DamonEstimator.registration,
    ]
    static func make(_ name: EstimatorName, policy: Policy) -> any ActivityEstimator {
        registration(name).make(policy)
    }
}

public typealias EstimatorName = ImplementationName<ActivityEstimators>
