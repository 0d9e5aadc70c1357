import Testing
@testable import Replay
import TraceFormat

@Suite("Compression cache in half-page slots (compression=slots)")
struct SlotCompressionTests {
    /// One VM of 1,024 pages, FIFO victims, no sharing; a cache of 1% of max (10 machine pages,
    /// 40,960 bytes: 20 slots of 2,048 bytes). By hand: pages of 100, 1,500 and 2,048 bytes
    /// take one slot each (6,144 bytes, two machine pages); 3,000 bytes does not fit a slot
    /// (swapped, incompressible); a page with no size is swapped (unknown). Touching the
    /// 100-byte page frees its slot: 4,096 bytes, one machine page.
    @Test("Every kept page takes one half-page slot; two slots per machine page")
    func handCase() throws {
        var p = Policy()
        p.compression = "slots"
        p.compressionCache = 0.01
        p.compressionThreshold = 0.9  // acts as 0.5: a slot is half a page
        p.sharing = .off
        p.swapVictim = .fifo
        let e = try makeEngine(pages: [1024], policy: p)
        let vm = e.vms[0]
        let cache = try #require(e.cache(0))
        #expect(cache.capacityBytes == 40_960 && cache.maxPageBytes == 2048)
        let free0 = e.memory.free
        for (q, z) in [(0, 100), (1, 1500), (2, 2048), (3, 3000), (4, 0)] as [(UInt32, UInt32)] {
            try e.apply(
                TraceRecord(
                    time: Micros(0), vm: VMID(0), kind: .content, ppn: PPN(q), hash: ContentHash(0x200 + UInt64(q)),
                    compressedSize: z))
        }
        for _ in 0..<5 { #expect(try e.swapOutVictim(vm)) }
        try e.checkInvariants()
        #expect(
            (0..<3).allSatisfy { e.state(0, UInt32($0)) == .tiered } && e.state(0, 3) == .swapped
                && e.state(0, 4) == .swapped)
        #expect(
            cache.usedBytes == 6144 && cache.machinePages == 2 && cache.incompressible == 1 && cache.unknown == 1)
        #expect(e.memory.free == free0 - 2 && e.counters(0).tierOut == 3 && e.counters(0).swapOut == 2)
        try e.apply(TraceRecord(time: Micros(1), vm: VMID(0), kind: .read, ppn: PPN(0)))
        try e.checkInvariants()
        #expect(
            e.state(0, 0) == .privateMPN && cache.usedBytes == 4096 && cache.machinePages == 1
                && e.counters(0).tierIn == 1)
    }
}
