/// The cost model (docs/MODEL.md "Cost model"): the model's event counts turned into an
/// estimated time the VM loses, from one latency knob per event kind. Blocked time in the low
/// state counts one for one. An estimate to rank policies by, not a measurement: every
/// latency is a knob, and its default says where it comes from.
public struct CostBreakdown: Codable, Equatable, Sendable {
    /// Seconds, per kind of event.
    public var hiddenFaults: Double
    public var pageCopies: Double
    public var scan: Double
    public var balloon: Double
    public var guestRefaults: Double
    public var swapOut: Double
    public var swapIn: Double
    public var blocked: Double
    /// Pages into and out of the swap tier (`compression`, when not off): `costCompress` and
    /// `costDecompress` each.
    public var compression: Double?

    public var total: Double {
        hiddenFaults + pageCopies + scan + balloon + guestRefaults + swapOut + swapIn + blocked + (compression ?? 0)
    }

    /// The estimated stall of the events counted in `c` under the latencies of `p`.
    public init(_ c: VMCounters, _ p: Policy) {
        func s(_ count: UInt64, _ micros: Double) -> Double { Double(count) * micros / 1e6 }
        hiddenFaults = s(c.hiddenFaults, p.costHiddenFault)
        pageCopies = s(c.cowBreaks, p.costPageCopy)
        scan = s(c.pagesScanned, p.costScanPage)
        balloon = s(c.balloonInflated + c.balloonDeflated, p.costBalloonPage)
        guestRefaults = s(c.guestRefaults, p.costGuestRefault)
        swapOut = s(c.swapOut, p.costSwapOut)
        swapIn = s(c.swapIn, p.costSwapIn)
        blocked = Double(c.blockedMicros) / 1e6
        compression = p.compression != .off ? s(c.tierOut, p.costCompress) + s(c.tierIn, p.costDecompress) : nil
    }

    /// Each kind rounded to the microsecond (reports).
    public func rounded() -> CostBreakdown {
        func r(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }
        var b = self
        b.hiddenFaults = r(hiddenFaults); b.pageCopies = r(pageCopies); b.scan = r(scan); b.balloon = r(balloon)
        b.guestRefaults = r(guestRefaults); b.swapOut = r(swapOut); b.swapIn = r(swapIn); b.blocked = r(blocked)
        b.compression = compression.map(r)
        return b
    }
}
