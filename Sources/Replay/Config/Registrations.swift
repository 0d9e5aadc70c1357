/// Every registration that declares knobs, in the order their knobs are collected (each knob
/// names the knob `policy show` lists it after, so this order only decides ties).
enum Registrations {
    static let knobs: [PolicyKnob] = Salting.knobs + DamonEstimator.knobs + FreePageReporting.knobs + PageBackings.knobs + SwapTiers.knobs
}
