/// Every registration that declares knobs, in the order their knobs are collected (each knob
/// names the knob `policy show` lists it after, so this order only decides ties).
enum Registrations {
    static let knobs: [PolicyKnob] =
        Salting.knobs + DamonEstimator.knobs + FreePageReporting.knobs + PageBackings.knobs + SwapTiers.knobs

    /// The mechanisms beside the core that `policy` turns on, in the order the engine calls
    /// their hooks (an estimator that is also a mechanism comes after them).
    static func mechanisms(_ policy: Policy) -> [any EngineMechanism] {
        [Salting.make(policy), FreePageReporting.make(policy), PageBackings.registration(for: policy).make(policy)]
            .compactMap { $0 }
    }
}

/// Every policy family, in the order `policy show` lists them.
public enum PolicyFamilies {
    public static let all: [(knob: String, implementations: [Implementation])] = [
        (SharingScanners.knob, SharingScanners.implementations),
        (ActivityEstimators.knob, ActivityEstimators.implementations),
        (SwapVictims.knob, SwapVictims.implementations),
        (PageBackings.knob, PageBackings.implementations),
        (SwapTiers.knob, SwapTiers.implementations),
        (MemoryStateSchemes.knob, MemoryStateSchemes.implementations),
    ]
}
