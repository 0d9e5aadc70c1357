import Foundation
import TraceFormat
#if canImport(Glibc)
import Glibc
#endif

/// One VM's pmap and page metadata: flat, zero-initialised arrays (calloc), so untouched pages
/// cost no resident memory. 12 bytes per guest page (a word of state and flags 4, content hash
/// or shared frame 8), plus 4 for the guest-LRU sequence when it is tracked and 4 for FIFO
/// host paging.
final class VMState {
    let config: VMConfig
    let index: Int
    let pageCount: Int
    /// Each page's word: its PageState (top 16 bits) and PageFlag bits (low 16).
    let word: UnsafeMutablePointer<UInt32>
    /// Each page's content hash; for a shared page, its frame index (`frame`).
    let hash: UnsafeMutablePointer<UInt64>
    /// The pmap entries, the words' top halves: a write leaves the flags as they are.
    let entry: PageEntries
    /// The flags and stamps, the words' low halves: a write leaves the entry as it is.
    let flags: PageFlagBits
    /// The guest-LRU sequence number of each page's last touch (0 = never touched); allocated
    /// by `enableLRU`, read and written only while `trackLRU`.
    @exclusivity(unchecked) private(set) var seq: UnsafeMutablePointer<UInt32> = VMState.noSeq

    @exclusivity(unchecked) var on: Bool
    /// The share group its pages share within: 0 for every VM unless a mechanism splits them
    /// (Registrations).
    @exclusivity(unchecked) var shareGroup: UInt32 = 0
    /// Refused at least once by admission control.
    @exclusivity(unchecked) var refused = false
    @exclusivity(unchecked) var counters = VMCounters()
    @exclusivity(unchecked) var privatePages: UInt64 = 0
    @exclusivity(unchecked) var sharedPages: UInt64 = 0
    @exclusivity(unchecked) var swappedPages: UInt64 = 0
    @exclusivity(unchecked) var swappedPeak: UInt64 = 0
    @exclusivity(unchecked) var balloonedPages: UInt64 = 0
    /// Ballooned pages whose inflation released machine memory (PageState.balloonedFreedEntry),
    /// and the most at one moment.
    @exclusivity(unchecked) var balloonFreedPages: UInt64 = 0
    @exclusivity(unchecked) var balloonFreedPeak: UInt64 = 0
    /// Pages deflated from the balloon and not touched since (PageState.returnedEntry).
    @exclusivity(unchecked) var returnedPages: UInt64 = 0
    @exclusivity(unchecked) var balloonPeak: UInt64 = 0
    @exclusivity(unchecked) var zeroSharedPages: UInt64 = 0
    @exclusivity(unchecked) var hints: UInt64 = 0

    // Sharing scan.
    @exclusivity(unchecked) var scanPermutation: Permutation
    @exclusivity(unchecked) var scanPosition: UInt64 = 0
    @exclusivity(unchecked) var scanSweep: UInt64 = 0
    @exclusivity(unchecked) var scanCredit: Double = 0
    /// Steady scanning (for fast-forward): a sweep visited every page with no change while the
    /// engine's change epoch stayed `steadyEpoch`; its volatile skips and false matches.
    @exclusivity(unchecked) var countingSweep: UInt64 = .max
    @exclusivity(unchecked) var countingEpoch: UInt64 = .max
    @exclusivity(unchecked) var countingVolatile: UInt64 = 0
    @exclusivity(unchecked) var countingFalse: UInt64 = 0
    @exclusivity(unchecked) var steadyEpoch: UInt64 = .max
    @exclusivity(unchecked) var steadyVolatile: UInt64 = 0
    @exclusivity(unchecked) var steadyFalse: UInt64 = 0

    // Guest LRU order (GuestLRU.swift), exact, without a linked list: every touch stamps the page with the next
    // sequence number (from 2^31 up); a page handed back by the balloon is stamped from 2^31
    // down (older than anything touched); never-touched pages have 0. The guest's LRU page is
    // the non-ballooned page with the smallest (sequence, PPN). `victimQueue` holds the
    // smallest ones found by the last scan as (sequence << 32 | PPN), in buckets of ascending
    // keys, each sorted when the walk first reaches it; an entry whose page has been touched
    // since (its sequence changed) is stale and skipped. Pages outside the queue were younger
    // than all of it at the scan and only get younger, except pages handed back by the
    // balloon, which are inserted in order (or left to the next scan).
    @exclusivity(unchecked) private(set) var trackLRU = false
    @exclusivity(unchecked) var seqCounter: UInt32 = 1 << 31
    @exclusivity(unchecked) var tailCounter: UInt32 = (1 << 31) - 1
    @exclusivity(unchecked) var victimQueue: [UInt64] = []
    /// Bucket b of the queue is `victimQueue[queueBounds[b]..<queueBounds[b + 1]]`; every key of
    /// a bucket sorts before every key of the next.
    @exclusivity(unchecked) var queueBounds: [Int] = [0]
    /// Where bucket b's sorted current keys end once it is sorted (from its start; the stale
    /// keys found then are dropped), or -1 before.
    @exclusivity(unchecked) var queueLive: [Int] = []
    /// The largest key queued (0 when the queue is empty).
    @exclusivity(unchecked) var queueLast: UInt64 = 0
    @exclusivity(unchecked) var victimHead = 0
    /// The bucket `victimHead` is in.
    @exclusivity(unchecked) var headBucket = 0
    /// Pages handed back by the balloon, newest (oldest in LRU terms) on top.
    @exclusivity(unchecked) var tailStack: [UInt64] = []

    /// Host paging's victim chooser for this VM (SwapVictims).
    let victim: any SwapVictimChooser

    // Balloon.
    @exclusivity(unchecked) var balloonStack: [UInt32] = []
    @exclusivity(unchecked) var balloonCredit: Double = 0

    // Idle sampling and targets.
    @exclusivity(unchecked) var estimator: IdleEstimator
    @exclusivity(unchecked) var sampledPPNs: [UInt32] = []
    @exclusivity(unchecked) var traps = 0
    @exclusivity(unchecked) var touchedThisPeriod: UInt64 = 0
    /// Guest faults on ballooned pages this sample period and in the last complete one: the VM's
    /// demand beyond what it holds (IdleTax.Claim.balloonFaults).
    @exclusivity(unchecked) var balloonFaults: UInt64 = 0
    @exclusivity(unchecked) var lastBalloonFaults: UInt64 = 0
    @exclusivity(unchecked) var stamp: UInt16 = 1
    /// The window the stamp sweep clears next (ReplayEngine.sweepStamps), 0 ..< stampWindows.
    @exclusivity(unchecked) var stampSweep = 0
    static let stampWindows = 126
    @exclusivity(unchecked) var lastTruePages: UInt64?
    @exclusivity(unchecked) var periods: UInt64 = 0
    @exclusivity(unchecked) var estimateSum: Double = 0
    @exclusivity(unchecked) var trueSum: Double = 0
    @exclusivity(unchecked) var absErrorSum: Double = 0
    /// Told of every touch, when a mechanism watches accesses (AccessObserver).
    @exclusivity(unchecked) var accessObserver: (any AccessObserver)?
    @exclusivity(unchecked) var target: UInt64
    /// What the VM claimed at the last target computation (IdleTax.Claim.claimPages): memory it
    /// holds plus as much of its balloon as it faults on. A transfer serves a VM below its target only up
    /// to it.
    @exclusivity(unchecked) var claim: UInt64 = 0
    /// The tier in front of host swap (SwapTier), when the policy has one.
    @exclusivity(unchecked) var tier: (any SwapTier)?
    @exclusivity(unchecked) var allocatedSum: Double = 0
    @exclusivity(unchecked) var allocatedSamples: UInt64 = 0
    /// The counters and powered-on seconds at the end of the traced span (`finish`), before any
    /// settle time; nil until then.
    @exclusivity(unchecked) var tracedCounters: VMCounters?
    @exclusivity(unchecked) var tracedOnSeconds: UInt64?
    /// Sample periods begun since the replay started (each draws from its own stream, so a
    /// skipped run of periods needs no draws but the last).
    @exclusivity(unchecked) var sampleRound: UInt64 = 0

    /// The arena holding this VM's arrays (kept alive as long as the VM).
    private let arena: PageArena?

    /// `tracking`: the host is overcommitted, so victims will be chosen (docs: SwapVictimChooser).
    init(config: VMConfig, index: Int, policy: Policy, arena: PageArena? = nil, tracking: Bool = false) {
        self.config = config
        self.index = index
        self.arena = arena
        pageCount = Int(config.maxPages)
        if let arena {
            word = arena.take(UInt32.self, config.maxPages)
            hash = arena.take(UInt64.self, config.maxPages)
        } else {
            word = VMState.zeroed(UInt32.self, config.maxPages)
            hash = VMState.zeroed(UInt64.self, config.maxPages)
        }
        entry = PageEntries(word: word)
        flags = PageFlagBits(word: word)
        on = false
        var rng = SeededRandom.stream(seed: policy.seed, vm: config.id, .shareScan, 0)
        scanPermutation = Permutation(n: config.maxPages, rng: &rng)
        estimator = IdleEstimator(slowGain: policy.slowGain, fastGain: policy.fastGain)
        target = config.maxPages
        victim = SwapVictims.registration(policy.swapVictim).make(config, policy, tracking)
    }

    /// Zero-filled page-metadata arrays (ZeroedMemory).
    static func zeroed<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T> {
        guard let p = ZeroedMemory.allocate(T.self, n) else { fatalError("out of memory allocating \(n) page entries") }
        return p
    }

    static func release(_ p: UnsafeMutableRawPointer) { ZeroedMemory.release(p) }

    deinit {
        if arena == nil { VMState.release(word); VMState.release(hash) }
        if trackLRU { VMState.release(seq) }
    }

    /// The frame a shared page maps (kept in its hash word: the frame has the content's hash).
    @inline(__always) func frame(_ i: Int) -> FrameIndex { FrameIndex(UInt32(truncatingIfNeeded: hash[i])) }

    /// Maps page `i` to shared frame `f` (its entry and hash word).
    @inline(__always) func setShared(_ i: Int, _ f: FrameIndex) {
        entry[i] = PageState.sharedEntry
        hash[i] = UInt64(f.raw)
    }

    /// The machine memory charged to the VM: its mapped pages and its swap tier's machine
    /// pages (as ESX charges a tier to the VM it keeps pages for).
    var residentPages: UInt64 { privatePages + sharedPages + (tier?.machinePages ?? 0) }
    func enableLRU() {
        guard !trackLRU else { return }
        seq = VMState.zeroed(UInt32.self, config.maxPages)
        trackLRU = true
    }

    /// Stands in for `seq` until the LRU is tracked (never read or written then).
    nonisolated(unsafe) private static let noSeq = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
}

/// The pmap entries of a VM's pages: the top halves of their words (PageState).
struct PageEntries {
    let word: UnsafeMutablePointer<UInt32>
    @inline(__always) subscript(i: Int) -> UInt32 {
        get { word[i] & PageState.entryMask }
        nonmutating set {
            assert(newValue & ~PageState.entryMask == 0, "a pmap entry with flag bits")
            word[i] = newValue | word[i] & ~PageState.entryMask
        }
    }
}

/// The flags and stamps of a VM's pages: the low halves of their words (PageFlag).
struct PageFlagBits {
    let word: UnsafeMutablePointer<UInt32>
    @inline(__always) subscript(i: Int) -> UInt16 {
        get { UInt16(truncatingIfNeeded: word[i]) }
        nonmutating set { word[i] = word[i] & PageState.entryMask | UInt32(newValue) }
    }
}

/// Zero-filled arrays of per-page state, for the replay's VMs and for `stats`. Large ones
/// (≥ 4 MiB) are mapped directly and marked for transparent huge pages (where the host allows
/// them): 512× fewer page faults and TLB misses, which matters when several engines fault their
/// arrays in at once (`compare`) and when loads of pages ahead are started (prefetches that miss
/// the TLB wait for the page walk). Untouched pages cost no resident memory.
public enum ZeroedMemory {
    /// `n` zeroed elements, or nil when the memory is not there.
    public static func allocate<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T>? {
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
        guard let p = calloc(max(1, Int(n)), MemoryLayout<T>.stride) else { return nil }
        return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
    }

    /// Frees what `allocate` returned.
    public static func release(_ p: UnsafeMutableRawPointer) {
        mappedLock.lock()
        let bytes = mapped.removeValue(forKey: UInt(bitPattern: p))
        mappedLock.unlock()
        if let bytes { munmap(p, bytes) } else { free(p) }
    }

    nonisolated(unsafe) private static var mapped: [UInt: Int] = [:]
    private static let mappedLock = NSLock()
}
