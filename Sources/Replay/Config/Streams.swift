import TraceFormat

/// The random streams of one replay: one seed, split by (VM, purpose) so that adding a VM or a
/// purpose changes no other stream (docs/MODEL.md "Determinism").
typealias SeededRandomStream = SeededRandom

enum StreamPurpose: UInt64 {
    case shareScan = 1
    case sampling = 2
    case swapVictim = 3
    /// An access monitor beside the sampler (estimator=…, one draw per tick).
    case accessMonitor = 4
}

extension SeededRandom {
    static func stream(seed: UInt64, vm: UInt32, _ purpose: StreamPurpose, _ n: UInt64 = 0) -> SeededRandom {
        derive(seed: seed, UInt64(vm) << 8 | purpose.rawValue, n)
    }
}
