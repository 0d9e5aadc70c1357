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

/// Per-page flag bits beside the pmap entry.
enum PageFlag {
    /// The page's content hash is known (reported and not written since).
    static let known: UInt8 = 1 << 0
    /// A shadow entry keyed by PPN is valid…
    static let shadowValid: UInt8 = 1 << 1
    /// …and allows writes.
    static let shadowWritable: UInt8 = 1 << 2
    /// A hint frame points at this page.
    static let hinted: UInt8 = 1 << 3
    /// Marked by idle sampling this period.
    static let sampled: UInt8 = 1 << 4
    /// The guest freed the page (a FREE record) and has not touched it since.
    static let guestFreed: UInt8 = 1 << 5
    /// The page has held content at some point (for refault vs. first allocation).
    static let everBacked: UInt8 = 1 << 6
    /// Virtual shadow entries (address space, VPN) may reach this page.
    static let virtualMapped: UInt8 = 1 << 7
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
    public init() {}

    public static func + (a: VMCounters, b: VMCounters) -> VMCounters {
        var r = a
        r.records += b.records; r.skippedRecords += b.skippedRecords; r.accessedPages += b.accessedPages
        r.shadowHits += b.shadowHits; r.hiddenFaults += b.hiddenFaults; r.demandZero += b.demandZero
        r.cowFaults += b.cowFaults; r.cowBreaks += b.cowBreaks; r.impliedWrites += b.impliedWrites
        r.invalidations += b.invalidations; r.contentBacked += b.contentBacked; r.guestFreed += b.guestFreed
        r.pagesScanned += b.pagesScanned; r.volatileSkipped += b.volatileSkipped; r.falseMatches += b.falseMatches
        r.staleHints += b.staleHints; r.shareEvents += b.shareEvents; r.powerOns += b.powerOns; r.powerOffs += b.powerOffs
        return r
    }
}

/// One VM's pmap and page metadata: flat, zero-initialised arrays (calloc), so untouched pages
/// cost no resident memory. 17 bytes per guest page.
final class VMState {
    let config: VMConfig
    let index: Int
    let pageCount: Int
    let entry: UnsafeMutablePointer<UInt32>
    let hash: UnsafeMutablePointer<UInt64>
    /// Last access, in units of 1,024 µs (wraps after ~50 days).
    let lastAccess: UnsafeMutablePointer<UInt32>
    let flags: UnsafeMutablePointer<UInt8>

    var on: Bool
    var counters = VMCounters()
    var privatePages: UInt64 = 0
    var sharedPages: UInt64 = 0
    var swappedPages: UInt64 = 0
    var balloonedPages: UInt64 = 0
    var zeroSharedPages: UInt64 = 0
    var hints: UInt64 = 0

    // Sharing scan.
    var scanPermutation: Permutation
    var scanPosition: UInt64 = 0
    var scanSweep: UInt64 = 0
    var scanCredit: Double = 0

    init(config: VMConfig, index: Int, seed: UInt64) {
        self.config = config
        self.index = index
        pageCount = Int(config.maxPages)
        func zeroed<T>(_: T.Type) -> UnsafeMutablePointer<T> {
            guard let p = calloc(max(1, Int(config.maxPages)), MemoryLayout<T>.stride) else {
                fatalError("out of memory allocating the pmap of VM \(config.id)")
            }
            return p.bindMemory(to: T.self, capacity: Int(config.maxPages))
        }
        entry = zeroed(UInt32.self)
        hash = zeroed(UInt64.self)
        lastAccess = zeroed(UInt32.self)
        flags = zeroed(UInt8.self)
        on = !config.startsOff
        var rng = SeededRandom.stream(seed: seed, vm: config.id, .shareScan, 0)
        scanPermutation = Permutation(n: config.maxPages, rng: &rng)
    }

    deinit {
        free(entry); free(hash); free(lastAccess); free(flags)
    }

    var residentPages: UInt64 { privatePages + sharedPages }
}
