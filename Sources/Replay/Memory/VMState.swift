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

/// Per-page metadata beside the pmap entry, one 64-bit word so that an access touches one
/// cache line: bits 0…8 flags, 9…15 the sample period of the last touch, 16…47 the guest-LRU
/// sequence number of the last touch (0 = never touched).
enum PageFlag {
    /// The page's content hash is known (reported and not written since).
    static let known: UInt64 = 1 << 0
    /// A shadow entry keyed by PPN is valid…
    static let shadowValid: UInt64 = 1 << 1
    /// …and allows writes.
    static let shadowWritable: UInt64 = 1 << 2
    /// A hint frame points at this page.
    static let hinted: UInt64 = 1 << 3
    /// Marked by idle sampling this period.
    static let sampled: UInt64 = 1 << 4
    /// The guest freed the page (a FREE record) and has not touched it since.
    static let guestFreed: UInt64 = 1 << 5
    /// The page has held content at some point (a later first access is a guest refault).
    static let everBacked: UInt64 = 1 << 6
    /// Virtual shadow entries (address space, VPN) may reach this page.
    static let virtualMapped: UInt64 = 1 << 7
    /// KSM-style sharing: the scanner saw this content on its last visit (checksum stable).
    static let scanStable: UInt64 = 1 << 8
    /// What a write makes stale: the known content, the free hint, checksum stability.
    static let writeClears: UInt64 = known | guestFreed | scanStable
    /// Bits 9…15: the sample period in which the page was last touched (1…127; 0 = not lately).
    static let stampShift: UInt64 = 9
    static let stampMask: UInt64 = 0x7F << 9
    /// Bits 16…47: guest-LRU sequence number.
    static let seqShift: UInt64 = 16
    static let seqMask: UInt64 = 0xFFFF_FFFF << 16
    static let flagMask: UInt64 = (1 << 9) - 1

    @inline(__always) static func stamp(_ f: UInt64) -> UInt64 { (f & stampMask) >> stampShift }
    @inline(__always) static func seq(_ f: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: f >> seqShift) }
    /// `f` with its LRU sequence number replaced by `s`.
    @inline(__always) static func withSeq(_ f: UInt64, _ s: UInt32) -> UInt64 { f & ~seqMask | UInt64(s) << seqShift }
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
        r.staleHints += b.staleHints; r.powerOns += b.powerOns; r.powerOffs += b.powerOffs
        r.balloonInflated += b.balloonInflated; r.balloonDeflated += b.balloonDeflated
        r.guestRefaults += b.guestRefaults; r.guestAllocations += b.guestAllocations; r.doublePaging += b.doublePaging
        r.swapOut += b.swapOut; r.swapIn += b.swapIn; r.sharedBeforeSwap += b.sharedBeforeSwap
        r.syncReclaims += b.syncReclaims; r.blockedMicros += b.blockedMicros; r.samplingTraps += b.samplingTraps
        return r
    }
}

/// One VM's pmap and page metadata: flat, zero-initialised arrays (calloc), so untouched pages
/// cost no resident memory. 20 bytes per guest page, plus 4 for FIFO host paging.
final class VMState {
    let config: VMConfig
    let index: Int
    let pageCount: Int
    let entry: UnsafeMutablePointer<UInt32>
    let hash: UnsafeMutablePointer<UInt64>
    let flags: UnsafeMutablePointer<UInt64>

    var on: Bool
    /// Refused at least once by admission control.
    var refused = false
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
    /// Steady scanning (for fast-forward): a sweep visited every page with no change while the
    /// engine's change epoch stayed `steadyEpoch`; its volatile skips and false matches.
    var countingSweep: UInt64 = .max
    var countingEpoch: UInt64 = .max
    var countingVolatile: UInt64 = 0
    var countingFalse: UInt64 = 0
    var steadyEpoch: UInt64 = .max
    var steadyVolatile: UInt64 = 0
    var steadyFalse: UInt64 = 0

    // Guest LRU order, exact, without a linked list: every touch stamps the page with the next
    // sequence number (from 2^31 up); a page handed back by the balloon is stamped from 2^31
    // down (older than anything touched); never-touched pages have 0. The guest's LRU page is
    // the non-ballooned page with the smallest (sequence, PPN). `victimQueue` holds the
    // smallest ones found by the last scan, sorted, as (sequence << 32 | PPN); an entry whose
    // page has been touched since (its sequence changed) is stale and skipped. Pages outside
    // the queue were younger than all of it at the scan and only get younger, except pages
    // handed back by the balloon, which are inserted in order (or left to the next scan).
    private(set) var trackLRU = false
    var seqCounter: UInt32 = 1 << 31
    var tailCounter: UInt32 = (1 << 31) - 1
    var victimQueue: [UInt64] = []
    var victimHead = 0
    /// Pages handed back by the balloon, newest (oldest in LRU terms) on top.
    var tailStack: [UInt64] = []

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
    /// Sample periods begun since the replay started (each draws from its own stream, so a
    /// skipped run of periods needs no draws but the last).
    var sampleRound: UInt64 = 0
    var swapRNG: SeededRandom

    /// The arena holding this VM's arrays (kept alive as long as the VM).
    private let arena: PageArena?

    init(config: VMConfig, index: Int, policy: Policy, arena: PageArena? = nil) {
        self.config = config
        self.index = index
        self.arena = arena
        pageCount = Int(config.maxPages)
        if let arena {
            entry = arena.take(UInt32.self, config.maxPages)
            hash = arena.take(UInt64.self, config.maxPages)
            flags = arena.take(UInt64.self, config.maxPages)
        } else {
            entry = VMState.zeroed(UInt32.self, config.maxPages)
            hash = VMState.zeroed(UInt64.self, config.maxPages)
            flags = VMState.zeroed(UInt64.self, config.maxPages)
        }
        on = false
        var rng = SeededRandom.stream(seed: policy.seed, vm: config.id, .shareScan, 0)
        scanPermutation = Permutation(n: config.maxPages, rng: &rng)
        estimator = IdleEstimator(slowGain: policy.slowGain, fastGain: policy.fastGain)
        target = config.maxPages
        swapRNG = SeededRandom.stream(seed: policy.seed, vm: config.id, .swapVictim)
    }

    /// Zero-filled page-metadata arrays. Large ones (≥ 4 MiB) are mapped directly and marked
    /// for transparent huge pages (where the host allows them): 512× fewer page faults and TLB
    /// misses, which matters when several engines fault their arrays in at once (`compare`).
    static func zeroed<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T> {
        let bytes = max(1, Int(n)) * MemoryLayout<T>.stride
        if bytes >= 4 << 20 {
            let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let p, p != MAP_FAILED {
                _ = madvise(p, bytes, 14)  // MADV_HUGEPAGE
                mappedLock.lock()
                mapped[UInt(bitPattern: p)] = bytes
                mappedLock.unlock()
                return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
            }
        }
        guard let p = calloc(max(1, Int(n)), MemoryLayout<T>.stride) else {
            fatalError("out of memory allocating \(n) page entries")
        }
        return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
    }

    /// Frees what `zeroed` returned.
    static func release(_ p: UnsafeMutableRawPointer) {
        mappedLock.lock()
        let bytes = mapped.removeValue(forKey: UInt(bitPattern: p))
        mappedLock.unlock()
        if let bytes { munmap(p, bytes) } else { free(p) }
    }

    nonisolated(unsafe) private static var mapped: [UInt: Int] = [:]
    private static let mappedLock = NSLock()

    deinit {
        if arena == nil { VMState.release(entry); VMState.release(hash); VMState.release(flags) }
        if let fifoSeq { VMState.release(fifoSeq) }
    }

    var residentPages: UInt64 { privatePages + sharedPages }
    func enableLRU() { trackLRU = true }

    func enableFIFO() {
        if fifoSeq == nil { fifoSeq = VMState.zeroed(UInt32.self, config.maxPages) }
    }

    // MARK: guest LRU order

    /// Stamps `p` as the most recently used page.
    @inline(__always)
    func lruTouch(_ p: UInt32) {
        guard trackLRU else { return }
        if seqCounter == UInt32.max { renumber() }
        let i = Int(p)
        flags[i] = PageFlag.withSeq(flags[i], seqCounter)
        seqCounter += 1
    }

    /// Makes `p` the least recently used page (a page the guest just got back, free).
    func lruPushTail(_ p: UInt32) {
        guard trackLRU else { return }
        if tailCounter <= 1 { renumber() }
        let i = Int(p)
        flags[i] = PageFlag.withSeq(flags[i], tailCounter)
        // Each push sorts before every earlier push, so `tailStack` is sorted from its top.
        // An entry is usable only if it sorts before the queue's last key (every page outside
        // queue and stack sorts after that key); otherwise the next rescan finds the page.
        let key = UInt64(tailCounter) << 32 | UInt64(p)
        if let last = victimQueue.last, key < last { tailStack.append(key) }
        tailCounter -= 1
    }

    /// Marks a page that goes into the balloon: its sequence becomes the reserved value
    /// 0xFFFFFFFF (never handed out), so no queued key can match it.
    func lruForget(_ p: UInt32) {
        guard trackLRU else { return }
        flags[Int(p)] |= PageFlag.seqMask
    }

    /// A queued key is current while the page still carries that sequence number (ballooned
    /// pages carry the reserved one): one word read.
    @inline(__always)
    private func current(_ item: UInt64) -> Bool {
        let p = Int(truncatingIfNeeded: item & 0xFFFF_FFFF)
        return UInt64(PageFlag.seq(flags[p])) == item >> 32
    }

    /// Rebuilds the queue with the oldest quarter of the guest's pages (at least 64): a
    /// selection of the k smallest keys in O(pages), then a sort of those k.
    private func refill() {
        var keys: [UInt64] = []
        keys.reserveCapacity(pageCount)
        for i in 0..<pageCount where PageState.of(entry[i]) != .ballooned {
            keys.append(UInt64(PageFlag.seq(flags[i])) << 32 | UInt64(i))
        }
        let k = min(keys.count, max(64, pageCount / 4))
        if k < keys.count { VMState.select(&keys, k) }
        victimQueue = Array(keys[0..<k]).sorted()
        victimHead = 0
        tailStack.removeAll()
    }

    /// Reorders `a` so that its first k elements are its k smallest: quickselect whose pivot is
    /// the median of three elements at pseudo-random positions (a fixed xorshift sequence, so
    /// the result is deterministic; the k smallest of distinct keys are unique anyway). Fixed
    /// positions (first, middle, last) went quadratic on the key patterns refills produce
    /// (a few large keys in front of an ascending run), O(n) expected this way.
    static func select(_ a: inout [UInt64], _ k: Int) {
        var lo = 0, hi = a.count - 1
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        func pick() -> Int {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return lo + Int(x % UInt64(hi - lo + 1))
        }
        while lo < hi {
            let p0 = a[pick()], p1 = a[pick()], p2 = a[pick()]
            let pivot = max(min(p0, p1), min(max(p0, p1), p2))
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }

    /// Visits the guest's pages from the least recently used, until `body` returns false.
    func lruWalk(_ body: (UInt32) -> Bool) {
        var refilled = false
        while true {
            while victimHead < victimQueue.count && !current(victimQueue[victimHead]) { victimHead += 1 }
            while let top = tailStack.last, !current(top) { tailStack.removeLast() }
            // Merge the queue and the tail stack in key order.
            var i = victimHead
            var j = tailStack.count - 1
            while i < victimQueue.count || j >= 0 {
                let item: UInt64
                if j >= 0 && (i >= victimQueue.count || tailStack[j] < victimQueue[i]) {
                    item = tailStack[j]
                    j -= 1
                } else {
                    item = victimQueue[i]
                    i += 1
                }
                if current(item) && !body(UInt32(truncatingIfNeeded: item & 0xFFFF_FFFF)) { return }
            }
            // Everything queued was refused or stale: rescan once for the next oldest pages.
            if refilled { return }
            refill()
            refilled = true
            if victimQueue.isEmpty { return }
        }
    }

    /// The guest's replacement victim: its least recently used page not in the balloon
    /// (never-touched pages first, in PPN order).
    func guestVictim() -> UInt32? {
        var v: UInt32?
        lruWalk { p in v = p; return false }
        return v
    }

    /// Renumbers every sequence number by rank, keeping the order, when a counter runs out.
    private func renumber() {
        var old: [UInt64] = []
        var young: [UInt64] = []
        for i in 0..<pageCount {
            let s = PageFlag.seq(flags[i])
            if s == 0 || s == UInt32.max { continue }
            if s >= 1 << 31 { young.append(UInt64(s) << 32 | UInt64(i)) } else { old.append(UInt64(s) << 32 | UInt64(i)) }
        }
        old.sort()
        young.sort()
        func set(_ i: Int, _ s: UInt32) { flags[i] = PageFlag.withSeq(flags[i], s) }
        for (r, k) in old.enumerated() { set(Int(k & 0xFFFF_FFFF), UInt32((1 << 31) - old.count + r)) }
        for (r, k) in young.enumerated() { set(Int(k & 0xFFFF_FFFF), UInt32((1 << 31) + r)) }
        tailCounter = UInt32((1 << 31) - old.count - 1)
        seqCounter = UInt32((1 << 31) + young.count)
        victimQueue.removeAll()
        victimHead = 0
        tailStack.removeAll()
    }
}

/// One zero-filled mapping for the page arrays of all of an engine's VMs, marked for
/// transparent huge pages: one region instead of three per VM means far fewer page faults and
/// TLB misses (which contend when several engines run at once in `compare`).
final class PageArena: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var used = 0

    static func bytes(for vms: [VMConfig]) -> Int {
        vms.reduce(0) { $0 + 3 * align(Int(max(1, $1.maxPages)) * 8) }
    }

    static func align(_ n: Int) -> Int { (n + 4095) & ~4095 }

    init?(bytes: Int) {
        guard bytes > 0, let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        _ = madvise(p, bytes, 14)  // MADV_HUGEPAGE
        base = p
        size = bytes
    }

    deinit { munmap(base, size) }

    func take<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T> {
        let bytes = PageArena.align(Int(max(1, n)) * MemoryLayout<T>.stride)
        precondition(used + bytes <= size, "page arena overflow")
        let p = base + used
        used += bytes
        return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
    }
}
