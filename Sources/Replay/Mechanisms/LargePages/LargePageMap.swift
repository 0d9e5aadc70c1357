/// Large pages (docs/MODEL.md "Large pages"), as ESX backs guests on hardware-assisted MMUs:
/// every aligned block of 2 MiB of a VM's guest pages (512 pages of 4 KiB) that is wholly
/// backed by private machine pages is mapped by one large page. A page inside an unbroken large
/// page is not shared, ballooned or swapped; the host breaks every large page when free memory
/// falls below `largePageBreakFree` (or the free-memory state leaves high), and from then on
/// the small pages are shared, ballooned and swapped as in the paper.
///
/// Contract:
/// - A block becomes a large page when its last page becomes privately backed (the count of
///   private pages in it reaches the block size) while large pages may be formed (state high,
///   free memory at or above the break threshold). A block broken earlier is formed again only
///   by the same event: one of its pages leaves private backing and comes back.
/// - Breaking is immediate and total: every large page of every VM is split at the moment free
///   memory falls below the threshold (after an allocation) or the state leaves high, so
///   ballooning (outside high) and host paging (below high) never meet a large page.
/// - Only blocks wholly inside the VM count; a last partial block is never a large page.
struct LargePageMap {
    /// Guest pages per large page (2 MiB of pages, at least 1).
    let blockPages: Int
    /// Per whole block: how many of its pages are privately backed.
    var privateCount: [UInt16]
    /// Per whole block, one bit: mapped by a large page now.
    var large: [UInt64]
    /// Blocks mapped by a large page now.
    var largeCount = 0
    var counts = LargePageCounts()

    static let largePageBytes: UInt64 = 2 << 20

    init(pages: Int, pageSize: UInt64) {
        blockPages = max(1, Int(LargePageMap.largePageBytes / max(pageSize, 1)))
        let blocks = pages / blockPages
        privateCount = Array(repeating: 0, count: blocks)
        large = Array(repeating: 0, count: (blocks + 63) / 64)
    }

    var blocks: Int { privateCount.count }

    @inline(__always) func isLargeBlock(_ b: Int) -> Bool { large[b >> 6] & (1 << UInt64(b & 63)) != 0 }

    /// Whether page `p` lies inside an unbroken large page.
    @inline(__always) func isLarge(_ p: Int) -> Bool {
        let b = p / blockPages
        return b < blocks && isLargeBlock(b)
    }

    @inline(__always) private mutating func setLarge(_ b: Int, _ on: Bool) {
        if on { large[b >> 6] |= 1 << UInt64(b & 63) } else { large[b >> 6] &= ~(1 << UInt64(b & 63)) }
    }

    /// Page `p` became privately backed; forms the large page if that completes its block and
    /// `mayForm`. Returns true if a large page was formed.
    @discardableResult
    mutating func gained(_ p: Int, mayForm: Bool) -> Bool {
        let b = p / blockPages
        guard b < blocks else { return false }
        privateCount[b] += 1
        guard mayForm && Int(privateCount[b]) == blockPages && !isLargeBlock(b) else { return false }
        setLarge(b, true)
        largeCount += 1
        counts.formed += 1
        counts.peakPages = max(counts.peakPages, UInt64(largeCount * blockPages))
        return true
    }

    /// Page `p` lost its private backing. A large page around it can only be given up whole
    /// (the guest hands the whole block back to the host): it is dissolved, counted as released.
    mutating func lost(_ p: Int) {
        let b = p / blockPages
        guard b < blocks else { return }
        if isLargeBlock(b) {
            setLarge(b, false)
            largeCount -= 1
            counts.released += 1
        }
        privateCount[b] -= 1
    }

    /// Splits every large page; returns how many.
    mutating func splitAll() -> Int {
        let n = largeCount
        guard n > 0 else { return 0 }
        for i in large.indices { large[i] = 0 }
        largeCount = 0
        counts.splits += UInt64(n)
        return n
    }

    /// The VM powered off: nothing is backed.
    mutating func reset() {
        for i in privateCount.indices { privateCount[i] = 0 }
        for i in large.indices { large[i] = 0 }
        largeCount = 0
    }
}

/// What large pages did to one VM (reported when `largePages` is on).
public struct LargePageCounts: Codable, Equatable, Sendable {
    /// Large pages formed (a block became wholly privately backed while they may form).
    public var formed: UInt64 = 0
    /// Large pages split by the host (free memory below the break threshold, or not high).
    public var splits: UInt64 = 0
    /// Large pages given up whole (the block handed back, or a page of it leaving otherwise).
    public var released: UInt64 = 0
    /// Most guest pages inside large pages at once.
    public var peakPages: UInt64 = 0
    /// Guest pages inside large pages at the end.
    public var pagesAtEnd: UInt64 = 0
    /// Times the sharing scan offered a page inside a large page (skipped: not shared).
    public var scanSkips: UInt64 = 0
    /// Of those, the pages whose content matched a shared page or a valid hint of their share
    /// group at that moment: a share the large page prevented.
    public var lostShares: UInt64 = 0
    public init() {}

    public static func + (a: LargePageCounts, b: LargePageCounts) -> LargePageCounts {
        var r = a
        r.formed += b.formed; r.splits += b.splits; r.released += b.released
        r.peakPages += b.peakPages; r.pagesAtEnd += b.pagesAtEnd
        r.scanSkips += b.scanSkips; r.lostShares += b.lostShares
        return r
    }
}
