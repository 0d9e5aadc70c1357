/// The three-curve estimator of active memory (docs/PAPER.md §5.3): a slow and a fast EWMA of the
/// sampled fraction, and the fast one folded with the current period's partial count; the
/// estimate is the largest of the three (rise fast, fall slowly). Pure value type.
public struct IdleEstimator: Equatable, Sendable {
    public var slow: Double
    public var fast: Double
    public let slowGain: Double
    public let fastGain: Double

    /// Starts at `initial` (1: a VM is assumed active until sampling says otherwise).
    public init(slowGain: Double, fastGain: Double, initial: Double = 1) {
        self.slowGain = slowGain
        self.fastGain = fastGain
        slow = initial
        fast = initial
    }

    /// Ends a period in which `touched` of `sampled` pages were touched.
    public mutating func endPeriod(touched: Int, sampled: Int) {
        let f = sampled > 0 ? Double(touched) / Double(sampled) : 0
        slow += slowGain * (f - slow)
        fast += fastGain * (f - fast)
    }

    /// The estimate in the middle of a period with `touched` of `sampled` traps so far.
    public func estimate(partialTouched touched: Int, sampled: Int) -> Double {
        let partial = sampled > 0 ? Double(touched) / Double(sampled) : 0
        let inProgress = fast + fastGain * (partial - fast)
        return max(slow, fast, partial > fast ? inProgress : fast)
    }
}
