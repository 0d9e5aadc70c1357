/// Per-VM counters; plain data, summed for totals.
public struct VMCounters: Codable, Equatable, Sendable {
    public var records: UInt64 = 0
    public var skippedRecords: UInt64 = 0
    public var accessedPages: UInt64 = 0
    public var shadowHits: UInt64 = 0
    public var hiddenFaults: UInt64 = 0
    public var demandZero: UInt64 = 0
    public var cowFaults: UInt64 = 0
    public var cowBreaks: UInt64 = 0
    public var impliedWrites: UInt64 = 0
    public var invalidations: UInt64 = 0
    public var contentBacked: UInt64 = 0
    public var guestFreed: UInt64 = 0
    public var pagesScanned: UInt64 = 0
    public var volatileSkipped: UInt64 = 0
    public var falseMatches: UInt64 = 0
    public var staleHints: UInt64 = 0
    public var powerOns: UInt64 = 0
    public var powerOffs: UInt64 = 0
    // Reclamation.
    public var balloonInflated: UInt64 = 0
    /// Inflations that released machine memory (the guest's page was backed: private, or a
    /// shared reference); the rest took a page that held none (never touched, given back
    /// untouched, or host-swapped or in the swap tier already).
    public var balloonInflatedFreeing: UInt64 = 0
    public var balloonDeflated: UInt64 = 0
    public var guestRefaults: UInt64 = 0
    public var guestAllocations: UInt64 = 0
    public var doublePaging: UInt64 = 0
    public var swapOut: UInt64 = 0
    public var swapIn: UInt64 = 0
    public var sharedBeforeSwap: UInt64 = 0
    public var syncReclaims: UInt64 = 0
    public var blockedMicros: UInt64 = 0
    public var samplingTraps: UInt64 = 0
    /// The swap tier (SwapTier): pages it kept, and pages brought back out of it (touched, or
    /// handed to the balloon).
    public var tierOut: UInt64 = 0
    public var tierIn: UInt64 = 0
    public init() {}

    public static func + (a: VMCounters, b: VMCounters) -> VMCounters {
        var r = a
        r.records += b.records; r.skippedRecords += b.skippedRecords; r.accessedPages += b.accessedPages
        r.shadowHits += b.shadowHits; r.hiddenFaults += b.hiddenFaults; r.demandZero += b.demandZero
        r.cowFaults += b.cowFaults; r.cowBreaks += b.cowBreaks; r.impliedWrites += b.impliedWrites
        r.invalidations += b.invalidations; r.contentBacked += b.contentBacked; r.guestFreed += b.guestFreed
        r.pagesScanned += b.pagesScanned; r.volatileSkipped += b.volatileSkipped; r.falseMatches += b.falseMatches
        r.staleHints += b.staleHints; r.powerOns += b.powerOns; r.powerOffs += b.powerOffs
        r.balloonInflated += b.balloonInflated; r.balloonInflatedFreeing += b.balloonInflatedFreeing;
        r.balloonDeflated += b.balloonDeflated
        r.guestRefaults += b.guestRefaults; r.guestAllocations += b.guestAllocations; r.doublePaging += b.doublePaging
        r.swapOut += b.swapOut; r.swapIn += b.swapIn; r.sharedBeforeSwap += b.sharedBeforeSwap
        r.syncReclaims += b.syncReclaims; r.blockedMicros += b.blockedMicros; r.samplingTraps += b.samplingTraps
        r.tierOut += b.tierOut; r.tierIn += b.tierIn
        return r
    }
}
