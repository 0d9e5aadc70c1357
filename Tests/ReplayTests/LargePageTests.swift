import Testing
@testable import Replay
import TraceFormat

@Suite("Large pages (docs/MODEL.md \"Large pages\")")
struct LargePageTests {
    /// Two VMs of 1,024 pages (two 2 MiB blocks each) on a host of 2,048 pages: large pages
    /// are split when free memory falls below ⌈2048 × 0.24⌉ = 492 pages.
    func engine(largePages: PageBackingName = .on) throws -> ReplayEngine {
        var p = Policy()
        p.largePages = largePages
        var spec = HostSpec()
        spec.memory = .pages(2048)
        let e = try makeEngine(pages: [1024, 1024], policy: p, spec: spec)
        #expect(e.host.machinePages == 2048 && e.largeBreakPages == (largePages == .on ? 492 : 0))
        return e
    }

    func fill(_ e: ReplayEngine, vm: UInt32, _ pages: Range<UInt32>, t: UInt64 = 0) throws {
        for q in pages { try e.apply(rec(t, vm, .content, q, hash: 0x1000 + UInt64(q))) }
    }

    @Test(
        "A block wholly backed becomes a large page; its pages are not shared, a match counts as a lost share; below the threshold every large page splits, then the pages share"
    )
    func formSkipSplitShare() throws {
        let e = try engine()
        // VM 0, pages 0…510: block 0 is one page short, no large page.
        try fill(e, vm: 0, 0..<511)
        #expect(e.largeMap(0)!.largeCount == 0)
        // Page 511 completes block 0 with 2048 − 512 = 1536 pages free (≥ 492): a large page.
        try fill(e, vm: 0, 511..<512)
        #expect(e.largeMap(0)!.largeCount == 1 && e.largeBlocks == 1)
        // VM 1 backs pages 0…99 (block 0 incomplete). Offering its page 5: VM 0's page 5 has the
        // same content but no hint; VM 1's page 5 gets the hint.
        try fill(e, vm: 1, 0..<100)
        #expect(!e.share(1, 5))
        #expect(e.vms[1].flags[5] & PageFlag.hinted != 0)
        // Offering VM 0's page 5: inside a large page, skipped; VM 1's valid hint would have
        // shared it: one lost share.
        #expect(!e.share(0, 5))
        #expect(e.largeMap(0)!.counts.scanSkips == 1 && e.largeMap(0)!.counts.lostShares == 1)
        #expect(e.state(0, 5) == .privateMPN && e.state(1, 5) == .privateMPN)
        // VM 0's block 1 (pages 512…1023) completes at 1436 − 512 = 924 free: a second large page.
        try fill(e, vm: 0, 512..<1024)
        #expect(e.largeMap(0)!.largeCount == 2 && e.memory.free == 924)
        // VM 1's block 0 completes at page 511 with 924 − 412 = 512 free: a third.
        try fill(e, vm: 1, 100..<512)
        #expect(e.largeBlocks == 3 && e.memory.free == 512 && e.largePeakPages == 1536)
        // 20 more pages leave 492 free (not below); the 21st leaves 491: all three split.
        try fill(e, vm: 1, 512..<532)
        #expect(e.largeBlocks == 3 && e.memory.free == 492)
        try fill(e, vm: 1, 532..<533)
        #expect(e.largeBlocks == 0 && e.memory.free == 491)
        #expect(e.largeMap(0)!.counts.splits == 2 && e.largeMap(1)!.counts.splits == 1)
        // Now VM 0's page 5 shares with VM 1's hinted page 5: one frame, both map it.
        #expect(e.share(0, 5))
        #expect(e.state(0, 5) == .shared && e.state(1, 5) == .shared && e.frame(0, 5) == e.frame(1, 5))
        #expect(e.memory.free == 492)
        // A page leaving and coming back re-forms nothing while free memory is below the threshold.
        try e.apply(rec(0, 0, .write, 5))  // copy-on-write: VM 0's page 5 private again
        #expect(e.state(0, 5) == .privateMPN && e.largeBlocks == 0)
        try e.checkInvariants()
        let r = e.snapshot()
        #expect(r.mechanisms[LargePagePeak.self]?.pages == 1536)
        #expect(
            r.vms[0].mechanisms[LargePageCounts.self]?.formed == 2
                && r.vms[0].mechanisms[LargePageCounts.self]?.splits == 2
                && r.vms[0].mechanisms[LargePageCounts.self]?.pagesAtEnd == 0)
    }

    @Test("largePages=off forms none and shares as before; the same fills share VM 0's page 5 at once")
    func off() throws {
        let e = try engine(largePages: .off)
        try fill(e, vm: 0, 0..<512)
        try fill(e, vm: 1, 0..<100)
        #expect(!e.share(1, 5))
        #expect(e.share(0, 5))
        #expect(e.largeMap(0) == nil && e.snapshot().mechanisms[LargePagePeak.self] == nil)
    }

    @Test(
        "Free page reporting hands a large page back whole (released, not split); the block re-forms when wholly backed again above the threshold"
    )
    func releasedByReporting() throws {
        var p = Policy()
        p.largePages = .on
        p.freePageReporting = .on
        p.sharing = .off
        var spec = HostSpec()
        spec.memory = .pages(2048)
        let e = try makeEngine(pages: [1024, 1024], policy: p, spec: spec)
        try fill(e, vm: 0, 0..<512)
        #expect(e.largeBlocks == 1)
        try e.apply(rec(1_000_000, 0, .free, 0, count: 512))
        try e.advance(to: Micros.seconds(4))
        #expect(e.freeReported(0).reportedPages == 512 && e.largeBlocks == 0)
        #expect(e.largeMap(0)!.counts.released == 1 && e.largeMap(0)!.counts.splits == 0)
        try fill(e, vm: 0, 0..<512, t: 5_000_000)
        #expect(e.largeBlocks == 1 && e.largeMap(0)!.counts.formed == 2)
        try e.checkInvariants()
    }

    @Test(
        "Under overcommitment, leaving the high state splits every large page, so the balloon and host paging never meet one"
    )
    func splitOutsideHigh() throws {
        var p = Policy()
        p.largePages = .on
        p.sharing = .off
        var spec = HostSpec()
        spec.memory = .pages(1024)
        let e = try makeEngine(pages: [1024, 1024], policy: p, spec: spec)
        for t in 0..<2 {
            for q in UInt32(0)..<1024 {
                try e.apply(
                    rec(UInt64(t) * 1_000_000, UInt32(t), .content, q, hash: 0x9000 + UInt64(q) + UInt64(t) << 20))
            }
        }
        try e.advance(to: Micros.seconds(60))
        #expect(e.largeMap(0)!.counts.formed >= 1 && e.largeMap(0)!.counts.splits >= 1)
        #expect(
            e.counters(0).swapOut + e.counters(0).balloonInflated + e.counters(1).swapOut
                + e.counters(1).balloonInflated > 0)
        #expect(e.largeBlocks == 0)
        #expect((0..<e.vms.count).allSatisfy { e.largeMap($0)!.largeCount == 0 })
        try e.checkInvariants()
    }
}
