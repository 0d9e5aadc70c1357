import Foundation
import TraceFormat
#if canImport(Glibc)
import Glibc
#endif

/// The state of one PPN in the pmap (DESIGN.md, State of one PPN), packed in 32 bits: the
/// state in the top 3 bits, its MPN, frame or swap slot in the low 29.
enum PageState: UInt32 {
    case untouched = 0, privateMPN = 1, shared = 2, swapped = 3, ballooned = 4

    static let shift: UInt32 = 29
    static let payloadMask: UInt32 = (1 << 29) - 1

    @inline(__always) static func of(_ e: UInt32) -> PageState { PageState(rawValue: e >> shift)! }
    @inline(__always) static func payload(_ e: UInt32) -> UInt32 { e & payloadMask }
    @inline(__always) func entry(_ payload: UInt32) -> UInt32 { rawValue << PageState.shift | payload }
}

/// Per-page flag bits beside the pmap entry (16 bits: 9 flags and a 7-bit period stamp).
enum PageFlag {
    /// The page's content hash is known (reported and not written since).
    static let known: UInt16 = 1 << 0
    /// A shadow entry keyed by PPN is valid…
    static let shadowValid: UInt16 = 1 << 1
    /// …and allows writes.
    static let shadowWritable: UInt16 = 1 << 2
    /// A hint frame points at this page.
    static let hinted: UInt16 = 1 << 3
    /// Marked by idle sampling this period.
    static let sampled: UInt16 = 1 << 4
    /// The guest freed the page (a FREE record) and has not touched it since.
    static let guestFreed: UInt16 = 1 << 5
    /// The page has held content at some point (a later first access is a guest refault).
    static let everBacked: UInt16 = 1 << 6
    /// Virtual shadow entries (address space, VPN) may reach this page.
    static let virtualMapped: UInt16 = 1 << 7
    /// The page is in the guest's LRU list.
    static let linked: UInt16 = 1 << 8
    /// Bits 9…15: the sample period in which the page was last touched (1…127; 0 = not lately).
    static let stampShift: UInt16 = 9
    static let lowMask: UInt16 = (1 << 9) - 1
}

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
    public var shareEvents: UInt64 = 0
    public var powerOns: UInt64 = 0
    public var powerOffs: UInt64 = 0
    // Reclamation.
    public var balloonInflated: UInt64 = 0
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
    public init() {}

    public static func + (a: VMCounters, b: VMCounters) -> VMCounters {
        var r = a
        r.records += b.records; r.skippedRecords += b.skippedRecords; r.accessedPages += b.accessedPages
        r.shadowHits += b.shadowHits; r.hiddenFaults += b.hiddenFaults; r.demandZero += b.demandZero
        r.cowFaults += b.cowFaults; r.cowBreaks += b.cowBreaks; r.impliedWrites += b.impliedWrites
        r.invalidations += b.invalidations; r.contentBacked += b.contentBacked; r.guestFreed += b.guestFreed
        r.pagesScanned += b.pagesScanned; r.volatileSkipped += b.volatileSkipped; r.falseMatches += b.falseMatches
        r.staleHints += b.staleHints; r.shareEvents += b.shareEvents; r.powerOns += b.powerOns; r.powerOffs += b.powerOffs
        r.balloonInflated += b.balloonInflated; r.balloonDeflated += b.balloonDeflated
        r.guestRefaults += b.guestRefaults; r.guestAllocations += b.guestAllocations; r.doublePaging += b.doublePaging
        r.swapOut += b.swapOut; r.swapIn += b.swapIn; r.sharedBeforeSwap += b.sharedBeforeSwap
        r.syncReclaims += b.syncReclaims; r.blockedMicros += b.blockedMicros; r.samplingTraps += b.samplingTraps
        return r
    }
}

/// One VM's pmap and page metadata: flat, zero-initialised arrays (calloc), so untouched pages
/// cost no resident memory. 14 bytes per guest page, plus 8 for the guest LRU list when
/// memory is overcommitted and a policy needs it, plus 4 for FIFO host paging.
final class VMState {
    let config: VMConfig
    let index: Int
    let pageCount: Int
    let entry: UnsafeMutablePointer<UInt32>
    let hash: UnsafeMutablePointer<UInt64>
    let flags: UnsafeMutablePointer<UInt16>

    var on: Bool
    /// Refused at least once by admission control, and how often.
    var refused = false
    var refusals: UInt64 = 0
    var everOn = false
    var counters = VMCounters()
    var privatePages: UInt64 = 0
    var sharedPages: UInt64 = 0
    var swappedPages: UInt64 = 0
    var swappedPeak: UInt64 = 0
    var balloonedPages: UInt64 = 0
    var balloonPeak: UInt64 = 0
    var zeroSharedPages: UInt64 = 0
    var hints: UInt64 = 0

    // Sharing scan.
    var scanPermutation: Permutation
    var scanPosition: UInt64 = 0
    var scanSweep: UInt64 = 0
    var scanCredit: Double = 0

    // Guest LRU (allocated only when needed): list links hold PPN + 1, 0 = none; head = MRU.
    var lruPrev: UnsafeMutablePointer<UInt32>?
    var lruNext: UnsafeMutablePointer<UInt32>?
    var lruHead: UInt32 = 0
    var lruTail: UInt32 = 0
    /// Never-linked pages are older than every linked one, in PPN order, from here.
    var coldCursor: UInt32 = 0

    // FIFO host paging (allocated only for swapVictim = fifo): residency sequence per page.
    var fifoSeq: UnsafeMutablePointer<UInt32>?
    var fifoQueue: [UInt64] = []
    var fifoHead = 0
    var fifoCounter: UInt32 = 0

    // Balloon.
    var balloonStack: [UInt32] = []
    var balloonCredit: Double = 0

    // Idle sampling and targets.
    var estimator: IdleEstimator
    var sampledPPNs: [UInt32] = []
    var traps = 0
    var touchedThisPeriod: UInt64 = 0
    var stamp: UInt16 = 1
    var lastTruePages: UInt64?
    var periods: UInt64 = 0
    var estimateSum: Double = 0
    var trueSum: Double = 0
    var absErrorSum: Double = 0
    var target: UInt64
    var allocatedSum: Double = 0
    var allocatedSamples: UInt64 = 0
    var samplingRNG: SeededRandom
    var swapRNG: SeededRandom

    init(config: VMConfig, index: Int, policy: Policy) {
        self.config = config
        self.index = index
        pageCount = Int(config.maxPages)
        entry = VMState.zeroed(UInt32.self, config.maxPages)
        hash = VMState.zeroed(UInt64.self, config.maxPages)
        flags = VMState.zeroed(UInt16.self, config.maxPages)
        on = false
        var rng = SeededRandom.stream(seed: policy.seed, vm: config.id, .shareScan, 0)
        scanPermutation = Permutation(n: config.maxPages, rng: &rng)
        estimator = IdleEstimator(slowGain: policy.slowGain, fastGain: policy.fastGain)
        target = config.maxPages
        samplingRNG = SeededRandom.stream(seed: policy.seed, vm: config.id, .sampling)
        swapRNG = SeededRandom.stream(seed: policy.seed, vm: config.id, .swapVictim)
    }

    static func zeroed<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T> {
        guard let p = calloc(max(1, Int(n)), MemoryLayout<T>.stride) else {
            fatalError("out of memory allocating \(n) page entries")
        }
        return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
    }

    deinit {
        free(entry); free(hash); free(flags)
        if let lruPrev { free(lruPrev) }
        if let lruNext { free(lruNext) }
        if let fifoSeq { free(fifoSeq) }
    }

    var residentPages: UInt64 { privatePages + sharedPages }
    var trackLRU: Bool { lruPrev != nil }

    func enableLRU() {
        if lruPrev == nil {
            lruPrev = VMState.zeroed(UInt32.self, config.maxPages)
            lruNext = VMState.zeroed(UInt32.self, config.maxPages)
        }
    }

    func enableFIFO() {
        if fifoSeq == nil { fifoSeq = VMState.zeroed(UInt32.self, config.maxPages) }
    }

    // MARK: guest LRU list

    @inline(__always)
    func lruUnlink(_ p: UInt32) {
        guard let prev = lruPrev, let next = lruNext else { return }
        let i = Int(p)
        guard flags[i] & PageFlag.linked != 0 else { return }
        let pv = prev[i], nx = next[i]
        if pv != 0 { next[Int(pv - 1)] = nx } else { lruHead = nx }
        if nx != 0 { prev[Int(nx - 1)] = pv } else { lruTail = pv }
        prev[i] = 0
        next[i] = 0
        flags[i] &= ~PageFlag.linked
    }

    /// Makes `p` the most recently used page.
    @inline(__always)
    func lruTouch(_ p: UInt32) {
        guard let prev = lruPrev, let next = lruNext else { return }
        if lruHead == p + 1 { return }
        lruUnlink(p)
        let i = Int(p)
        prev[i] = 0
        next[i] = lruHead
        if lruHead != 0 { prev[Int(lruHead - 1)] = p + 1 } else { lruTail = p + 1 }
        lruHead = p + 1
        flags[i] |= PageFlag.linked
    }

    /// Makes `p` the least recently used page (a page the guest just got back, free).
    func lruPushTail(_ p: UInt32) {
        guard let prev = lruPrev, let next = lruNext else { return }
        lruUnlink(p)
        let i = Int(p)
        next[i] = 0
        prev[i] = lruTail
        if lruTail != 0 { next[Int(lruTail - 1)] = p + 1 } else { lruHead = p + 1 }
        lruTail = p + 1
        flags[i] |= PageFlag.linked
    }

    /// The guest's replacement victim: its oldest page that is not in the balloon, never-touched
    /// pages first (in PPN order), then the LRU end of the list.
    func guestVictim() -> UInt32? {
        while Int(coldCursor) < pageCount {
            let i = Int(coldCursor)
            if flags[i] & PageFlag.linked == 0 && PageState.of(entry[i]) != .ballooned { return coldCursor }
            coldCursor += 1
        }
        return lruTail == 0 ? nil : lruTail - 1
    }

    /// Pages in LRU order from the least recently used (for tests and LRU host paging).
    func lruWalkFromTail(_ body: (UInt32) -> Bool) {
        guard let prev = lruPrev else { return }
        var c = lruTail
        while c != 0 {
            if !body(c - 1) { return }
            c = prev[Int(c - 1)]
        }
    }
}
