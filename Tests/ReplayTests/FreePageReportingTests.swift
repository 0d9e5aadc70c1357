import Testing
@testable import Replay
import TraceFormat

@Suite("Free page reporting (docs/MODEL.md \"Free page reporting\")")
struct FreePageReportingTests {
    func engine(delay: Double = 2) throws -> ReplayEngine {
        var p = Policy()
        p.freePageReporting = .on
        p.freePageDelay = delay
        p.sharing = .off
        // 1,024 pages of 4 KiB: two blocks of 512 (2 MiB each).
        let e = try makeEngine(pages: [1024], policy: p)
        try e.apply(rec(0, 0, .content, 0, hash: 0))  // page 0 holds zeros; the rest below
        for q in UInt32(1)..<1024 { try e.apply(rec(0, 0, .content, q, hash: 0x1000 + UInt64(q))) }
        return e
    }

    @Test(
        "A wholly freed block is handed back at the first tick at least freePageDelay after its last FREE; a partly freed one is not; a reused page is a demand-zero fault, not a refault"
    )
    func reportAndReuse() throws {
        let e = try engine()
        #expect(e.vms[0].privatePages == 1024)
        let free0 = e.memory.free
        try e.apply(rec(500_000, 0, .free, 0, count: 512))  // block 0, at 0.5 s
        try e.apply(rec(500_000, 0, .free, 512, count: 488))  // block 1 up to page 999
        try e.advance(to: Micros(2_900_000))
        #expect(e.freeReported(0).reportedPages == 0)  // 2.4 s < … the tick at 2 s saw 1.5 s
        try e.advance(to: Micros.seconds(3))  // tick at 3 s: 2.5 s ≥ 2 s
        #expect(e.freeReported(0).reportedPages == 512)
        #expect(e.vms[0].privatePages == 512 && e.memory.free == free0 + 512)
        #expect((0..<512).allSatisfy { e.state(0, UInt32($0)) == .untouched })
        #expect(e.state(0, 512) == .privateMPN)  // block 1 is not wholly free
        try e.checkInvariants()
        // The guest uses page 5 again: a demand-zero fill, counted as a reuse.
        let dz = e.counters(0).demandZero
        try e.apply(rec(4_000_000, 0, .read, 5))
        #expect(
            e.freeReported(0).reusedPages == 1 && e.counters(0).demandZero == dz + 1 && e.counters(0).guestRefaults == 0
        )
        // The rest of block 1 is freed at 4.5 s: reported at the 7 s tick (6.5 s ≥ 2 s; 1.5 s at 6 s).
        try e.apply(rec(4_500_000, 0, .free, 1000, count: 24))
        try e.advance(to: Micros(6_999_999))
        #expect(e.freeReported(0).reportedPages == 512)
        try e.advance(to: Micros.seconds(7))
        #expect(e.freeReported(0).reportedPages == 1024 && e.vms[0].privatePages == 1)  // only page 5 is back
        try e.checkInvariants()
    }

    @Test("A page touched after its FREE keeps its block from being reported; freePageReporting=off reports nothing")
    func touchedOrOff() throws {
        let e = try engine()
        try e.apply(rec(500_000, 0, .free, 0, count: 512))
        try e.apply(rec(1_500_000, 0, .write, 300))  // the guest reallocated page 300
        try e.advance(to: Micros.seconds(10))
        #expect(e.freeReported(0).reportedPages == 0 && e.vms[0].privatePages == 1024)
        var p = Policy()
        p.sharing = .off
        let off = try makeEngine(pages: [1024], policy: p)
        for q in UInt32(0)..<1024 { try off.apply(rec(0, 0, .content, q, hash: 0x1000 + UInt64(q))) }
        try off.apply(rec(500_000, 0, .free, 0, count: 1024))
        try off.advance(to: Micros.seconds(10))
        #expect(off.freeReported(0).reportedPages == 0 && off.vms[0].privatePages == 1024)
    }
}
