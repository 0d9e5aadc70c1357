import Testing
@testable import Replay
import TraceFormat

@Suite("vSphere 6 memory states (docs/MODEL.md \"Free-memory states\")")
struct MemoryStatesTests {
    @Test("minFree: 6% of the first 4 GiB, 4% of the next 8, 2% of the next 16, 1% of the rest")
    func minFree() {
        let gib: UInt64 = 1 << 30
        // 1 GiB: 6% of 262,144 pages = 15,728.64 → 15,729.
        #expect(FreeState.minFreePages(machinePages: gib / 4096, pageSize: 4096) == 15_729)
        // 28 GiB: 0.24 + 0.32 + 0.32 = 0.88 GiB = 230,686.72 pages → 230,687.
        #expect(FreeState.minFreePages(machinePages: 28 * gib / 4096, pageSize: 4096) == 230_687)
        // 100 GiB: 0.88 + 0.72 = 1.6 GiB = 419,430.4 pages → 419,431.
        #expect(FreeState.minFreePages(machinePages: 100 * gib / 4096, pageSize: 4096) == 419_431)
    }

    @Test(
        "Thresholds at 400/100/64/32/16% of minFree; down several levels at once, up one at a time past the next threshold"
    )
    func transitions() {
        var p = Policy()
        p.memoryStates = .vsphere6
        let t = FreeState.Thresholds(machinePages: 262_144, policy: p)
        // minFree 15,729: high 4 × 15,729 = 62,916, clear 15,729, soft ⌈10,066.56⌉, hard ⌈5,033.28⌉, low ⌈2,516.64⌉.
        #expect(t.high == 62_916 && t.clear == 15_729 && t.soft == 10_067 && t.hard == 5_034 && t.low == 2_517)
        #expect(t.aim == 15_729)
        var s = FreeState.high
        s = s.next(free: 15_729, t); #expect(s == .high)
        s = s.next(free: 15_728, t); #expect(s == .clear)
        s = s.next(free: 10_066, t); #expect(s == .soft)
        s = s.next(free: 15_728, t); #expect(s == .soft)
        s = s.next(free: 15_729, t); #expect(s == .clear)
        s = s.next(free: 62_915, t); #expect(s == .clear)
        s = s.next(free: 62_916, t); #expect(s == .high)
        s = s.next(free: 5_000, t); #expect(s == .hard)  // high → hard in one step
        s = s.next(free: 10_066, t); #expect(s == .hard)
        s = s.next(free: 10_067, t); #expect(s == .soft)
        // The paper's scheme never enters clear.
        let paper = FreeState.Thresholds(machinePages: 262_144, policy: Policy())
        #expect(!paper.hasClear && paper.aim == paper.high)
        #expect(
            FreeState.high.next(free: paper.soft, paper) == .high
                && FreeState.high.next(free: paper.soft - 1, paper) == .soft)
        #expect(FreeState.soft.next(free: paper.high, paper) == .high)
    }

    /// Two VMs of 1,024 pages on 1,024 machine pages, 700 pages backed by VM 0 and 300 by VM 1,
    /// the state forced, one reclamation tick.
    func tick(_ states: MemoryStatesName, in state: FreeState) throws -> (balloon: UInt64, swap: UInt64) {
        var p = Policy()
        p.memoryStates = states
        p.sharing = .off
        var spec = HostSpec()
        spec.memory = .pages(1024)
        let e = try makeEngine(pages: [1024, 1024], policy: p, spec: spec)
        for q in UInt32(0)..<700 { try e.apply(rec(0, 0, .content, q, hash: 0x100 + UInt64(q))) }
        for q in UInt32(0)..<300 { try e.apply(rec(0, 1, .content, q, hash: 0x10000 + UInt64(q))) }
        e.state = state
        e.recomputeTargets()
        if state >= .soft { #expect(e.vms[0].residentPages > e.vms[0].target) }
        try e.reclaimTick()
        let c = e.counters(0) + e.counters(1)
        return (c.balloonInflated, c.swapOut)
    }

    @Test(
        "The balloon inflates in soft under both schemes; in hard the paper's balloon goes on while vSphere 6's stops and the host swaps; clear reclaims nothing (no VM waits for memory)"
    )
    func balloonByState() throws {
        // Free memory is 24 pages, below every threshold; in soft, hard and low the targets aim at
        // the aim (high, or vSphere 6's clear) and VM 0 (the lower ρ) is above its target.
        let paperSoft = try tick(.paper, in: .soft), v6Soft = try tick(.vsphere6, in: .soft)
        #expect(paperSoft.balloon > 0 && v6Soft.balloon > 0)
        let paperHard = try tick(.paper, in: .hard), v6Hard = try tick(.vsphere6, in: .hard)
        #expect(paperHard.balloon > 0)
        #expect(v6Hard.balloon == 0 && v6Hard.swap > 0)
        // In clear, as in high, the targets share what the VMs hold (free memory stays where it
        // is) and no VM below its target waits on its balloon: nothing moves.
        let v6Clear = try tick(.vsphere6, in: .clear)
        #expect(v6Clear.balloon == 0 && v6Clear.swap == 0)
    }

    @Test("With large pages, vSphere 6 splits them below its high threshold (400% of minFree)")
    func largePagesSplitBelowHigh() throws {
        var p = Policy()
        p.memoryStates = .vsphere6
        p.largePages = .on
        p.largePageBreakFree = 0  // not used with vsphere6 (would be refused with the paper's states)
        var spec = HostSpec()
        spec.memory = .pages(8192)
        let e = try makeEngine(pages: [4096, 4096], policy: p, spec: spec)
        // minFree ⌈491.52⌉ = 492 pages; high = 4 × 492 = 1,968.
        #expect(e.thresholds.clear == 492 && e.thresholds.high == 1968 && e.largeBreakPages == 1968)
        for q in UInt32(0)..<512 { try e.apply(rec(0, 0, .content, q, hash: 0x100 + UInt64(q))) }
        #expect(e.largeBlocks == 1)
        // Back 5,712 more pages: free 8192 − 6224 = 1,968 keeps the large pages (VM 0's 8 and
        // VM 1's 4 whole blocks); one more page leaves 1,967 and splits all 12.
        for q in UInt32(512)..<4096 { try e.apply(rec(0, 0, .content, q, hash: 0x100 + UInt64(q))) }
        for q in UInt32(0)..<2128 { try e.apply(rec(0, 1, .content, q, hash: 0x9000 + UInt64(q))) }
        #expect(e.memory.free == 1968 && e.largeBlocks == 12)
        try e.apply(rec(0, 1, .content, 2128, hash: 0x9000 + 2128))
        #expect(e.memory.free == 1967 && e.largeBlocks == 0 && e.largeMap(0)!.counts.splits == 8)
        try e.checkInvariants()
    }
}
