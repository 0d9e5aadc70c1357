@testable import Replay

/// Test access to the mechanisms' own state (Sources/Replay/Mechanisms).
extension ReplayEngine {
    func mechanism<T>(_: T.Type) -> T? { mechanisms.lazy.compactMap { $0 as? T }.first }
    var largeBlocks: Int { mechanism(LargePages.self)?.blocks ?? 0 }
    var largePeakPages: UInt64 { mechanism(LargePages.self)?.peakPages ?? 0 }
    func largeMap(_ vm: Int) -> LargePageMap? { mechanism(LargePages.self)?.maps[vm] }
    func freeReported(_ vm: Int) -> FreePageReportingCounts {
        mechanism(FreePageReporting.self)?.counts[vm] ?? FreePageReportingCounts()
    }
    func damonMonitor(_ vm: Int) -> DamonMonitor? { mechanism(DamonEstimator.self)?.monitors[vm] }
    func cache(_ vm: Int) -> CompressionCache? { vms[vm].tier as? CompressionCache }
}

extension ReplayEngine {
    var largeBreakPages: UInt64 { mechanism(LargePages.self)?.breakPages ?? 0 }
}
