/// The state of one PPN in the pmap (docs/MODEL.md "pmap"), in the top 16 bits of the page's
/// 32-bit word (`VMState.entry`; the low 16 are its PageFlag bits): the state in bits 29…31
/// and a variant in bit 16 (a ballooned page whose inflation released machine memory; an
/// untouched page the balloon handed back). Bits 17…28 are 0. The model counts machine pages
/// and swap slots but does not number them: no result depends on which one a page gets, so the
/// word holds none. A shared page's frame is in its hash word (the frame keeps the content's
/// hash: `VMState.frame`); a tiered page's place in its tier is the tier's to keep.
enum PageState: UInt32 {
    case untouched = 0, privateMPN = 1, shared = 2, swapped = 3, ballooned = 4, tiered = 5

    static let shift: UInt32 = 29
    /// The state bits of a page word (what `VMState.entry` reads and writes).
    static let entryMask: UInt32 = 0xFFFF_0000
    static let variant: UInt32 = 1 << 16

    @inline(__always) static func of(_ e: UInt32) -> PageState { PageState(rawValue: e >> shift)! }
    /// Bits 16…28, whatever they hold (invariant checks only).
    @inline(__always) static func payload(_ e: UInt32) -> UInt32 { (e & ~(7 << shift)) >> 16 }

    /// Backed by a private machine page.
    static let privateEntry: UInt32 = PageState.privateMPN.rawValue << shift
    /// Mapped to a shared frame (the frame index is in the page's hash word).
    static let sharedEntry: UInt32 = PageState.shared.rawValue << shift
    /// In a host swap slot.
    static let swappedEntry: UInt32 = PageState.swapped.rawValue << shift
    /// Kept by the VM's swap tier (SwapTier).
    static let tieredEntry: UInt32 = PageState.tiered.rawValue << shift
    static let balloonedEntry: UInt32 = PageState.ballooned.rawValue << shift
    /// A ballooned page whose inflation released machine memory (it was backed then).
    static let balloonedFreedEntry: UInt32 = balloonedEntry | variant
    /// A page the balloon gave back to the guest and the guest has not touched since: untouched
    /// (nothing backs it) but free memory the guest holds (ReplayEngine+Balloon counts them).
    static let returnedEntry: UInt32 = variant
}

/// Per-page metadata, the low 16 bits of the page's word beside its PageState: bits 0…8 flags,
/// 9…15 the sample period of the last touch. (The guest-LRU sequence number of the last touch lives in its own array,
/// `VMState.seq`, which exists only when the guest's LRU order is tracked.) Each bit names the
/// mechanism that owns it (sets and clears it); others only read it.
enum PageFlag {
    /// Content (ReplayEngine+Content, +Faults): the page's content hash is known (reported and
    /// not written since).
    static let known: UInt16 = 1 << 0
    /// Shadow tables (ReplayEngine+Faults): a shadow entry keyed by PPN is valid…
    static let shadowValid: UInt16 = 1 << 1
    /// …and allows writes.
    static let shadowWritable: UInt16 = 1 << 2
    /// Sharing (ReplayEngine+Sharing): a hint frame points at this page.
    static let hinted: UInt16 = 1 << 3
    /// Idle sampling (ReplayEngine+Sampling): sampled this period.
    static let sampled: UInt16 = 1 << 4
    /// Records (ReplayEngine): the guest freed the page (a FREE record) and has not touched it
    /// since.
    static let guestFreed: UInt16 = 1 << 5
    /// Faults and ballooning (ReplayEngine+Faults, +Balloon): the page has held content at some
    /// point (a later first access is a guest refault).
    static let everBacked: UInt16 = 1 << 6
    /// Shadow tables (ReplayEngine+Faults): virtual shadow entries (address space, VPN) may
    /// reach this page.
    static let virtualMapped: UInt16 = 1 << 7
    /// The `ksm` sharing scanner (Scanners/OrderedScanner): the scanner saw this content on its
    /// last visit (checksum stable); a write clears it.
    static let scanStable: UInt16 = 1 << 8
    /// What a write makes stale: the known content, the free hint, checksum stability.
    static let writeClears: UInt16 = known | guestFreed | scanStable
    /// Bits 9…15, idle sampling's true working set (ReplayEngine+Sampling): the sample period
    /// in which the page was last touched (1…127; 0 = not lately).
    static let stampShift: UInt16 = 9
    static let stampMask: UInt16 = 0x7F << 9
    static let flagMask: UInt16 = (1 << 9) - 1

    @inline(__always) static func stamp(_ f: UInt16) -> UInt16 { (f & stampMask) >> stampShift }
}
