/// The state of one PPN in the pmap (docs/MODEL.md "pmap"), packed in 32 bits: the
/// state in the top 3 bits, its MPN, frame or swap slot in the low 29.
enum PageState: UInt32 {
    case untouched = 0, privateMPN = 1, shared = 2, swapped = 3, ballooned = 4, tiered = 5

    static let shift: UInt32 = 29
    static let payloadMask: UInt32 = (1 << 29) - 1

    @inline(__always) static func of(_ e: UInt32) -> PageState { PageState(rawValue: e >> shift)! }
    /// The low 29 bits, whatever they number (invariant checks and reports only).
    @inline(__always) static func payload(_ e: UInt32) -> UInt32 { e & payloadMask }
    @inline(__always) private func entry(_ payload: UInt32) -> UInt32 { rawValue << PageState.shift | payload }

    /// The machine page of a `privateMPN` entry.
    @inline(__always) static func mpn(_ e: UInt32) -> MPN { MPN(e & payloadMask) }
    /// The sharing-table frame of a `shared` entry.
    @inline(__always) static func frame(_ e: UInt32) -> FrameIndex { FrameIndex(e & payloadMask) }
    /// The swap slot of a `swapped` entry.
    @inline(__always) static func slot(_ e: UInt32) -> SwapSlot { SwapSlot(e & payloadMask) }

    @inline(__always) static func entry(mpn m: MPN) -> UInt32 { PageState.privateMPN.entry(m.raw) }
    @inline(__always) static func entry(frame f: FrameIndex) -> UInt32 { PageState.shared.entry(f.raw) }
    @inline(__always) static func entry(slot s: SwapSlot) -> UInt32 { PageState.swapped.entry(s.raw) }
    static let balloonedEntry: UInt32 = PageState.ballooned.entry(0)
    /// A ballooned page whose inflation released machine memory (it was backed then).
    static let balloonedFreedEntry: UInt32 = PageState.ballooned.entry(1)
    /// A page the balloon gave back to the guest and the guest has not touched since: untouched
    /// (nothing backs it) but free memory the guest holds (ReplayEngine+Balloon counts them).
    static let returnedEntry: UInt32 = PageState.untouched.entry(1)
    /// A page kept by the VM's swap tier (SwapTier), with the tier's sequence number for it.
    @inline(__always) static func entry(tiered seq: UInt32) -> UInt32 { PageState.tiered.entry(seq & payloadMask) }
    @inline(__always) static func isTiered(_ e: UInt32, seq: UInt32) -> Bool { e == entry(tiered: seq) }
}

/// Per-page metadata beside the pmap entry, 16 bits: bits 0…8 flags, 9…15 the sample period
/// of the last touch. (The guest-LRU sequence number of the last touch lives in its own array,
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
