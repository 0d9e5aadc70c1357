import Analyzer
import Foundation
import Testing
@testable import Replay
import Scenarios
import TraceFormat

@Suite("Content-based page sharing (docs/PAPER.md §4; docs/MODEL.md, Sharing scan)")
struct SharingTests {
    @Test(
        "Figure 3: a candidate matching another VM's hint → both map one MPN copy-on-write, the candidate's MPN is freed, a shared frame with refcount 2 replaces the hint"
    )
    func figure3() throws {
        let e = try makeEngine(pages: [16, 16])
        let h: UInt64 = 0x0123_4567_89AB_CDEF
        try e.apply(rec(0, 0, .content, 5, hash: h))
        try e.apply(rec(0, 1, .content, 7, hash: h))
        #expect(e.state(0, 5) == .privateMPN && e.state(1, 7) == .privateMPN)
        #expect(e.memory.inUse == 2)  // two private copies of one content
        let freeBefore = e.memory.free
        #expect(e.share(0, 5) == false)  // no match: A:5 becomes a hint
        #expect(e.table.hintFrames == 1 && e.table.sharedFrames == 0)
        #expect(e.vms[0].flags[5] & PageFlag.hinted != 0)
        #expect(e.share(1, 7) == true)  // B:7 matches the hint
        #expect(e.state(0, 5) == .shared && e.state(1, 7) == .shared)
        let f = e.frame(0, 5)
        #expect(e.frame(1, 7) == f)
        #expect(e.table.kind(f) == .shared && e.table.hash(f) == h)
        #expect(e.table.refcount(f) == 2)
        #expect(e.table.hintFrames == 0 && e.table.sharedFrames == 1)
        #expect(e.memory.free == freeBefore + 1)  // B's MPN went back to the pool
        #expect(e.memory.inUse == 1)  // only the shared copy (A's MPN) remains
        try e.checkInvariants()
        let r = e.snapshot()
        #expect(r.vms[0].sharedPages + r.vms[1].sharedPages == 2)
    }

    @Test(
        "A shared page given to the balloon keeps its content: its hash word gets the frame's hash back, and after a refault it shares again"
    )
    func sharedToBalloon() throws {
        let e = try makeEngine(pages: [8, 8])
        let h: UInt64 = 0x0BAD_F00D_0000_0001
        try e.apply(rec(0, 0, .content, 5, hash: h))
        try e.apply(rec(0, 1, .content, 7, hash: h))
        _ = e.share(0, 5)
        #expect(e.share(1, 7))
        let f = e.frame(1, 7)
        #expect(e.vms[1].hash[7] == UInt64(f.raw))  // a shared page's hash word holds its frame
        e.vms[1].enableLRU()
        try e.balloonPage(e.vms[1], 7)
        #expect(e.state(1, 7) == .ballooned && e.vms[1].hash[7] == h && e.table.refcount(f) == 1)
        try e.apply(rec(1, 1, .read, 7))  // the guest reads its data back
        #expect(e.state(1, 7) == .privateMPN && e.counters(1).guestRefaults == 1)
        #expect(e.vms[1].hash[7] == h && e.vms[1].flags[7] & PageFlag.known != 0)
        #expect(e.share(1, 7) && e.frame(1, 7) == f && e.table.refcount(f) == 2)
        try e.checkInvariants()
    }

    @Test("A third page with the same content joins the shared frame (refcount 3)")
    func thirdJoins() throws {
        let e = try makeEngine(pages: [8, 8, 8])
        for vm in 0..<3 { try e.apply(rec(0, UInt32(vm), .content, 1, hash: 42)) }
        _ = e.share(0, 1); _ = e.share(1, 1); _ = e.share(2, 1)
        #expect(e.table.refcount(e.frame(2, 1)) == 3 && e.table.sharedFrames == 1)
    }

    @Test(
        "Stale hint: the hinted page is written before the match → the hint is dropped and the candidate becomes the hint"
    )
    func staleHint() throws {
        let e = try makeEngine(pages: [8, 8])
        try e.apply(rec(0, 0, .content, 2, hash: 77))
        try e.apply(rec(0, 1, .content, 3, hash: 77))
        _ = e.share(0, 2)
        try e.apply(rec(1, 0, .write, 2))  // the hinted page is not write-protected
        #expect(e.state(0, 2) == .privateMPN)
        #expect(e.share(1, 3) == false)
        #expect(e.counters(1).staleHints == 1)
        #expect(e.table.hintFrames == 1 && e.table.sharedFrames == 0)
        #expect(e.vms[1].flags[3] & PageFlag.hinted != 0 && e.vms[0].flags[2] & PageFlag.hinted == 0)
        // The written page is volatile until its content is reported again.
        #expect(e.share(0, 2) == false && e.counters(0).volatileSkipped == 1)
    }

    @Test("COW break on a write to a shared page: new private MPN, refcount − 1, content unknown")
    func cowOnWrite() throws {
        let e = try makeEngine(pages: [8, 8])
        try e.apply(rec(0, 0, .content, 1, hash: 9))
        try e.apply(rec(0, 1, .content, 1, hash: 9))
        _ = e.share(0, 1); _ = e.share(1, 1)
        let f = e.frame(0, 1)
        try e.apply(rec(1, 1, .read, 1))  // read of a shared page: read-only entry, no COW
        #expect(e.counters(1).cowFaults == 0 && e.state(1, 1) == .shared)
        try e.apply(rec(2, 1, .write, 1))  // write: hidden fault → COW break
        #expect(e.counters(1).cowFaults == 1 && e.counters(1).cowBreaks == 1)
        #expect(e.state(1, 1) == .privateMPN && e.table.refcount(f) == 1)
        #expect(e.vms[1].flags[1] & PageFlag.known == 0)
        try e.apply(rec(3, 1, .write, 1))  // now a shadow hit
        #expect(e.counters(1).cowFaults == 1 && e.counters(1).shadowHits == 1)
        // The last reference going away frees the frame and its MPN.
        try e.apply(rec(4, 0, .write, 1))
        #expect(e.table.sharedFrames == 0 && e.state(0, 1) == .privateMPN)
    }

    @Test("A content record contradicting a shared page's hash is an implied write (COW break); a matching one is not")
    func impliedWrite() throws {
        let e = try makeEngine(pages: [8, 8])
        try e.apply(rec(0, 0, .content, 1, hash: 9))
        try e.apply(rec(0, 1, .content, 1, hash: 9))
        _ = e.share(0, 1); _ = e.share(1, 1)
        try e.apply(rec(1, 1, .content, 1, hash: 9))
        #expect(e.counters(1).impliedWrites == 0 && e.state(1, 1) == .shared)
        try e.apply(rec(2, 1, .content, 1, hash: 10))
        #expect(e.counters(1).impliedWrites == 1 && e.counters(1).cowBreaks == 1 && e.counters(1).cowFaults == 0)
        #expect(e.state(1, 1) == .privateMPN && e.vms[1].hash[1] == 10 && e.vms[1].flags[1] & PageFlag.known != 0)
    }

    @Test("Zero pages (Z records and demand-zero fills) share one zero frame")
    func zeroPages() throws {
        let e = try makeEngine(pages: [64, 64], policy: fastScan(1000))
        try e.apply(rec(0, 0, .zero, 0, count: 40))
        try e.apply(rec(0, 1, .read, 10, count: 20))  // demand-zero fills are zero pages too
        try e.apply(rec(0, 1, .content, 50, hash: 5))
        try e.finish(settleUntil: Micros(2_000_000))
        let s = e.snapshot()
        #expect(s.sharedFrames == 1 && s.zeroFrames == 1)
        #expect(s.vms[0].zeroSharedPages == 40 && s.vms[1].zeroSharedPages == 20)
        #expect(e.counters(1).demandZero == 20)
    }

    @Test(
        "Salting: VMs 0 and 1 given salt 9 share with each other; VMs 2 and 3 (salt = their id) only within themselves; one zero frame per salt; no false matches counted across salts"
    )
    func salting() throws {
        var p = Policy()
        p.salting = .on
        var spec = HostSpec()
        try spec.addVMOverride("0:salt=9")
        try spec.addVMOverride("1:salt=9")
        let e = try makeEngine(pages: [8, 8, 8, 8], policy: p, spec: spec)
        #expect(e.vms.map(\.shareGroup) == [9, 9, 2, 3])
        for vm in 0..<4 { try e.apply(rec(0, UInt32(vm), .content, 1, hash: 42)) }
        try e.apply(rec(0, 2, .content, 5, hash: 42))
        for vm: UInt32 in [0, 2] { try e.apply(rec(0, vm, .zero, 3, count: 2)) }
        #expect(e.share(0, 1) == false)  // a hint of salt 9
        #expect(e.share(1, 1) == true)  // joins it: a shared frame of salt 9
        #expect(e.share(2, 1) == false)  // salt 2 cannot see salt 9's frame: a hint of salt 2
        #expect(e.share(2, 5) == true)  // within VM 2: a second shared frame
        #expect(e.share(3, 1) == false)  // salt 3: neither frame, a hint
        #expect(e.frame(0, 1) == e.frame(1, 1) && e.frame(2, 1) == e.frame(2, 5) && e.frame(0, 1) != e.frame(2, 1))
        #expect(e.table.group(e.frame(0, 1)) == 9 && e.table.group(e.frame(2, 5)) == 2)
        #expect(e.table.sharedFrames == 2 && e.table.hintFrames == 1)
        // Zero pages: one zero frame for salt 9 (VM 0), another for salt 2 (VM 2).
        for (vm, ppn) in [(0, 3), (0, 4), (2, 3), (2, 4)] { _ = e.share(vm, UInt32(ppn)) }
        #expect(e.frame(0, 3) == e.frame(0, 4) && e.frame(2, 3) == e.frame(2, 4) && e.frame(0, 3) != e.frame(2, 3))
        #expect(e.vms[0].zeroSharedPages == 2 && e.vms[2].zeroSharedPages == 2)
        #expect((0..<4).allSatisfy { e.counters($0).falseMatches == 0 })
        try e.checkInvariants()
        // Saved: (2 − 1) + (2 − 1) for content 42, (2 − 1) + (2 − 1) for zero pages = 4 pages;
        // unsalted the same scans save (5 − 1) + (4 − 1) = 7.
        func saved(_ engine: ReplayEngine) -> Double {
            let vms = engine.snapshot().vms
            let shared: UInt64 = vms.reduce(0) { $0 + $1.sharedPages }
            let frames: Double = vms.reduce(0.0) { $0 + $1.sharedFramesShare }
            return Double(shared) - frames
        }
        #expect(saved(e) == 4)
        let u = try makeEngine(pages: [8, 8, 8, 8])
        for vm in 0..<4 { try u.apply(rec(0, UInt32(vm), .content, 1, hash: 42)) }
        try u.apply(rec(0, 2, .content, 5, hash: 42))
        for vm: UInt32 in [0, 2] { try u.apply(rec(0, vm, .zero, 3, count: 2)) }
        for (vm, ppn) in [(0, 1), (1, 1), (2, 1), (2, 5), (3, 1), (0, 3), (0, 4), (2, 3), (2, 4)] {
            _ = u.share(vm, UInt32(ppn))
        }
        #expect(saved(u) == 7)
    }

    @Test("A salt needs salting=on; the esx-salted preset turns it on; a bad salt is refused")
    func saltOptions() throws {
        var spec = HostSpec()
        try spec.addVMOverride("1:salt=4")
        let header = TraceHeader(
            vms: [VMDecl(id: 0, name: "a", pages: 8), VMDecl(id: 1, name: "b", pages: 8)],
            capture: CaptureFacts(source: "test"))
        #expect(throws: ConfigError.self) { try HostConfig.resolve(header: header, policy: Policy(), spec: spec) }
        #expect(Presets.named("esx-salted")?.policy.salting == .on)
        #expect(throws: ConfigError.self) { try spec.addVMOverride("1:salt=5") }  // given twice
        var other = HostSpec()
        #expect(throws: ConfigError.self) { try other.addVMOverride("0:salt=-1") }
    }

    @Test("zero-only shares zero pages only; off shares nothing")
    func sharingModes() throws {
        for (mode, frames) in [(SharingName.zeroOnly, 1), (.off, 0), (.on, 2)] {
            let e = try makeEngine(pages: [16, 16], policy: fastScan(1000, sharing: mode))
            try e.apply(rec(0, 0, .zero, 0, count: 4))
            try e.apply(rec(0, 0, .content, 8, hash: 3))
            try e.apply(rec(0, 1, .content, 8, hash: 3))
            try e.finish(settleUntil: Micros(2_000_000))
            #expect(e.snapshot().sharedFrames == UInt64(frames), "\(mode)")
        }
    }

    @Test(
        "hashBits = 16: contents equal in their low 16 bits match in the table; the full compare rejects them (false matches)"
    )
    func falseMatches() throws {
        var p = Policy()
        p.hashBits = 16
        let e = try makeEngine(pages: [8, 8, 8], policy: p)
        let h1: UInt64 = 0x1111_0000_0000_ABCD, h2: UInt64 = 0x2222_0000_0000_ABCD
        try e.apply(rec(0, 0, .content, 1, hash: h1))
        try e.apply(rec(0, 1, .content, 1, hash: h2))
        try e.apply(rec(0, 2, .content, 1, hash: h1))
        _ = e.share(0, 1)
        #expect(e.share(1, 1) == false)
        #expect(e.counters(1).falseMatches == 1)
        #expect(e.table.hintFrames == 2)  // both hints live under one key
        #expect(e.share(2, 1) == true)  // matches A's hint after rejecting B's
        #expect(e.counters(2).falseMatches == 0)  // probing stops at the first full match (A, inserted first)
        #expect(e.state(2, 1) == .shared && e.frame(2, 1) == e.frame(0, 1) && e.state(1, 1) == .privateMPN)
        // With 64 bits there is no false match at all.
        let e64 = try makeEngine(pages: [8, 8])
        try e64.apply(rec(0, 0, .content, 1, hash: h1))
        try e64.apply(rec(0, 1, .content, 1, hash: h2))
        _ = e64.share(0, 1); _ = e64.share(1, 1)
        #expect(e64.counters(1).falseMatches == 0)
    }

    @Test("More than 65,535 references spill into the overflow table and come back out")
    func overflow() throws {
        let n: UInt32 = 70_000
        let e = try makeEngine(pages: [UInt64(n)], policy: fastScan(100_000))
        e.checkFullEveryStep = false  // O(pages) per step would be slow here
        try e.apply(rec(0, 0, .zero, 0, count: n))
        try e.advance(to: Micros(1_000_000))
        try e.checkInvariants()
        let f = e.frame(0, 0)
        #expect(e.table.refcount(f) == UInt64(n))
        #expect(e.table.inlineRefs(f) == UInt16.max && e.table.overflow[f.raw] == UInt64(n) - 65_535)
        #expect(e.snapshot().overflowFrames == 1)
        for p in 0..<UInt32(5_000) { try e.apply(rec(2_000_000, 0, .write, p)) }
        try e.checkInvariants()
        #expect(e.table.refcount(f) == UInt64(n) - 5_000 && e.table.overflow[f.raw] == nil)
        #expect(e.snapshot().overflowFrames == 0)
    }

    @Test(
        "A static content snapshot replayed for a full sweep shares exactly (backed pages − distinct contents), whatever the seed",
        arguments: [1, 2, 3, 99] as [UInt64])
    func staticSnapshot(seed: UInt64) throws {
        var o = GenOptions()
        o.vms = 3
        o.pagesPerVM = 3000
        o.zeroFraction = 0.2
        o.commonContent = 0.3
        o.seed = 7
        let dir = NSTemporaryDirectory() + "tt-snap-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/snap.mtr.zst"
        try ScenarioRegistry.write(SnapshotScenario.self, options: o, to: path)
        var distinct = Set<UInt64>()
        var backed = 0
        let reader = try TraceFile.open(path)
        var batch: [TraceRecord] = []
        while try reader.next(into: &batch) {
            for r in batch {
                backed += Int(r.count)
                distinct.insert(r.kind == .zero ? 0 : r.hash.rawValue)
            }
        }
        let p = fastScan(400, seed: seed)
        var run = PolicyRun(name: "esx", policy: p, spec: HostSpec())
        run.keepEngine = true
        var runner = ReplayRunner(path: path, runs: [run])
        runner.settle = Micros.seconds(8)  // 8 s × 400 pages/s ≥ one sweep of 3,000 pages
        let s = try runner.run()[0].engine!.snapshot()
        let shared = s.vms.reduce(0) { $0 + $1.sharedPages }
        #expect(Int(shared) - Int(s.sharedFrames) == backed - distinct.count)
        #expect(s.vms.allSatisfy { $0.counters.pagesScanned >= 3000 })
    }
}

@Suite("KSM-style sharing (docs/MODEL.md, KSM-style sharing)")
struct KSMTests {
    @Test(
        "Pages are merged only on the second visit with an unchanged checksum; a page rewritten between visits never is"
    )
    func stableChecksums() throws {
        var p = Policy()
        p.sharing = .ksm
        p.shareScanVM = 10  // one sweep of 10 pages per second
        p.shareScanTotal = 100
        let e = try makeEngine(pages: [10, 10], policy: p)
        for vm in UInt32(0)..<2 {
            for ppn in UInt32(0)..<10 { try e.apply(rec(0, vm, .content, ppn, hash: UInt64(ppn % 5) + 1)) }
        }
        try e.advance(to: Micros.seconds(1))  // first pass: checksums noted, nothing merged
        #expect(e.table.sharedFrames == 0 && e.table.hintFrames == 0)
        #expect(e.counters(0).volatileSkipped == 10)
        // Page 3 of VM 0 is rewritten before every visit: it never becomes stable.
        for s in UInt64(1)..<4 {
            try e.apply(rec(s * 1_000_000 - 1, 0, .content, 3, hash: 1000 + s))
            try e.advance(to: Micros.seconds(Double(s + 1)))
        }
        let snap = e.snapshot()
        // 20 pages, contents 1…5 four times each, except VM 0 PPN 3 (unique now): 19 stable pages
        // over 5 contents → 14 saved.
        #expect(Int(snap.vms[0].sharedPages + snap.vms[1].sharedPages) - Int(snap.sharedFrames) == 14)
        #expect(e.state(0, 3) == .privateMPN)
        try e.checkInvariants()
    }

    @Test("The ksm preset walks pages in order at 5,000 pages/s")
    func preset() throws {
        let k = Presets.named("ksm")!.policy
        #expect(k.sharing == .ksm && k.shareScanVM == 5000 && k.shareScanTotal == 5000)
    }
}
