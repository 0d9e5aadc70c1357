import Testing
@testable import Replay
import TraceFormat

@Suite("Compression cache (docs/MODEL.md \"Compression cache\")")
struct CompressionCacheTests {
    func sized(_ t: UInt64, _ vm: UInt32, _ ppn: UInt32, hash: UInt64, size: UInt32) -> TraceRecord {
        TraceRecord(
            time: Micros(t), vm: VMID(vm), kind: .content, ppn: PPN(ppn), hash: ContentHash(hash), compressedSize: size)
    }

    /// One VM of 1,024 pages, no pressure, FIFO victims; a cache of 1% of max (10 pages =
    /// 40,960 bytes) taking pages of at most half a page (2,048 bytes).
    func engine() throws -> ReplayEngine {
        var p = Policy()
        p.compression = .on
        p.compressionCache = 0.01
        p.sharing = .off
        p.swapVictim = .fifo
        let e = try makeEngine(pages: [1024], policy: p)
        #expect(e.cache(0)!.capacityBytes == 40_960 && e.cache(0)!.maxPageBytes == 2048)
        return e
    }

    @Test(
        "Compressible pages go to the cache, others to swap; a touched page is decompressed; a full cache writes its oldest pages to swap; the balloon and power-off empty it"
    )
    func handCase() throws {
        let e = try engine()
        let vm = e.vms[0]
        let free0 = e.memory.free
        // Pages 0…4: 1,000 bytes, 3,000 (too big), no size, 2,048 (exactly the threshold), 100.
        for (q, z) in [(0, 1000), (1, 3000), (2, 0), (3, 2048), (4, 100)] as [(UInt32, UInt32)] {
            try e.apply(sized(0, 0, q, hash: 0x100 + UInt64(q), size: z))
        }
        #expect(e.memory.free == free0 - 5)
        for _ in 0..<5 { #expect(try e.swapOutVictim(vm)) }
        try e.checkInvariants()
        #expect(e.state(0, 0) == .tiered && e.state(0, 1) == .swapped && e.state(0, 2) == .swapped)
        #expect(e.state(0, 3) == .tiered && e.state(0, 4) == .tiered)
        let c = e.counters(0)
        #expect(c.tierOut == 3 && e.cache(0)!.incompressible == 1 && e.cache(0)!.unknown == 1 && c.swapOut == 2)
        // 3,148 bytes in one machine page: five pages released, one taken by the cache.
        #expect(e.cache(0)!.usedBytes == 3148 && e.cache(0)!.machinePages == 1 && e.memory.free == free0 - 1)
        // No private page is left (1 and 2 swapped, 0, 3 and 4 compressed); the cache's one
        // machine page is charged to the VM.
        #expect(vm.privatePages == 0 && vm.residentPages == 1)
        // The guest reads page 3: decompressed (2,048 bytes leave; still one machine page).
        try e.apply(rec(1, 0, .read, 3))
        #expect(e.state(0, 3) == .privateMPN && e.counters(0).tierIn == 1 && e.cache(0)!.usedBytes == 1100)
        // Pages 10…28 (2,048 bytes each) fill it to 40,012 bytes; page 29 needs 2,048 more: the
        // oldest, page 0 (1,000) then page 4 (100; page 3's entry is stale), go to swap.
        for q in UInt32(10)..<30 { try e.apply(sized(2, 0, q, hash: 0x1000 + UInt64(q), size: 2048)) }
        for q in UInt32(10)..<29 { #expect(try e.cache(0)!.pageOut(e, vm, q)) }
        #expect(e.cache(0)!.usedBytes == 40_012 && e.cache(0)!.evictions == 0)
        #expect(try e.cache(0)!.pageOut(e, vm, 29))
        #expect(e.cache(0)!.evictions == 2 && e.state(0, 0) == .swapped && e.state(0, 4) == .swapped)
        #expect(e.cache(0)!.usedBytes == 40_960 && e.cache(0)!.machinePages == 10 && e.cache(0)!.pages == 20)
        try e.checkInvariants()
        // The guest gives page 10 to its balloon: decompressed first (double paging).
        let dp = e.counters(0).doublePaging
        try e.balloonPage(vm, 10)
        #expect(e.state(0, 10) == .ballooned && e.counters(0).doublePaging == dp + 1 && e.counters(0).tierIn == 2)
        #expect(e.cache(0)!.usedBytes == 38_912 && e.cache(0)!.machinePages == 10)
        try e.checkInvariants()
        // Power off releases the cache's machine pages with the rest.
        try e.apply(rec(3, 0, .powerOff))
        #expect(e.cache(0)!.machinePages == 0 && e.tierPages == 0 && e.memory.free == free0)
        try e.checkInvariants()
        let r = e.snapshot()
        #expect(r.tierPeakPages == 10 && r.vms[0].mechanisms[CompressionCacheState.self]?.peakMachinePages == 10)
    }

    @Test("Zero pages compress to 18 bytes; without sizes in the trace only they do; compression=off swaps them")
    func zeroPages() throws {
        let e = try engine()
        let vm = e.vms[0]
        try e.apply(rec(0, 0, .zero, 0, count: 2))
        try e.apply(rec(0, 0, .read, 5))  // demand-zero
        try e.apply(rec(0, 0, .content, 6, hash: 0x77))  // no size
        for _ in 0..<4 { #expect(try e.swapOutVictim(vm)) }
        #expect(e.cache(0)!.usedBytes == 3 * 18 && e.cache(0)!.unknown == 1 && e.state(0, 6) == .swapped)
        var p = Policy()
        p.sharing = .off
        p.swapVictim = .fifo
        let off = try makeEngine(pages: [1024], policy: p)
        try off.apply(rec(0, 0, .zero, 0, count: 2))
        #expect(try off.swapOutVictim(off.vms[0]))
        #expect(off.state(0, 0) == .swapped && off.cache(0) == nil)
    }
}
