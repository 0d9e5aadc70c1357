/// How fast an estimate follows the truth (docs/MODEL.md "DAMON estimator"): a rise is a sample
/// period whose true working set exceeds the previous period's by more than a tenth of the VM's
/// max; the estimate has caught up at the first period end, from that one on, where it is
/// within a tenth of max below the risen truth. A fall mirrors it (within a tenth above). The
/// lag is counted in periods (0: caught at the period end of the change itself); a new change
/// before the estimate caught up replaces the pending one, which is counted as missed.
public struct TrackingLag: Codable, Equatable, Sendable {
    public var rises: UInt64 = 0
    public var riseLagPeriods: UInt64 = 0
    public var falls: UInt64 = 0
    public var fallLagPeriods: UInt64 = 0
    /// Changes replaced by a newer one before the estimate caught up.
    public var missed: UInt64 = 0

    enum Pending: Equatable { case rise(target: Double, since: UInt64), fall(target: Double, since: UInt64) }
    var pending: Pending?
    private enum CodingKeys: String, CodingKey { case rises, riseLagPeriods, falls, fallLagPeriods, missed }

    public init() {}

    /// One period end: the truth before and now, the estimate now, the VM's max, the period's
    /// number.
    mutating func period(previousTruth: Double?, truth: Double, estimate: Double, max: Double, index: UInt64) {
        let band = max / 10
        if let p = previousTruth {
            if truth - p > band {
                if pending != nil { missed += 1 }
                pending = .rise(target: truth, since: index)
            } else if p - truth > band {
                if pending != nil { missed += 1 }
                pending = .fall(target: truth, since: index)
            }
        }
        switch pending {
        case .rise(let target, let since)? where estimate >= target - band:
            rises += 1
            riseLagPeriods += index - since
            pending = nil
        case .fall(let target, let since)? where estimate <= target + band:
            falls += 1
            fallLagPeriods += index - since
            pending = nil
        default:
            break
        }
    }
}
