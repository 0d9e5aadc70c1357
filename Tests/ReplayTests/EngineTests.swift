import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import Scenarios
import TraceFormat

@Suite("Engine: shadow tables, power, invariants, determinism (docs/MODEL.md)")
struct EngineTests {
    @Test(
        "Shadow entries keyed by PPN: first access is a hidden fault (demand-zero), then hits; sharing write-protects")
    func shadowByPPN() throws {
        let e = try makeEngine(pages: [8])
        try e.apply(rec(0, 0, .read, 3))
        try e.apply(rec(1, 0, .read, 3))
        try e.apply(rec(2, 0, .write, 3))
        let c = e.counters(0)
        #expect(c.hiddenFaults == 1 && c.demandZero == 1 && c.shadowHits == 2)
        #expect(e.vms[0].flags[3] & PageFlag.known == 0)  // written: content unknown
    }

    @Test(
        "Shadow entries keyed by (address space, VPN) with a PPN backmap: remaps invalidate every mapping of the page")
    func shadowVirtual() throws {
        let e = try makeEngine(pages: [8, 8])
        func v(_ t: UInt64, _ vm: UInt32, _ k: RecordKind, _ ppn: UInt32, _ asid: UInt32, _ vpn: UInt64) -> TraceRecord
        {
            TraceRecord(time: Micros(t), vm: VMID(vm), kind: k, ppn: PPN(ppn), virtual: (ASID(asid), VPN(vpn)))
        }
        try e.apply(v(0, 0, .read, 2, 1, 100))
        try e.apply(v(0, 0, .read, 2, 2, 200))  // a second address space maps the same page: a fault
        try e.apply(v(0, 0, .read, 2, 1, 100))  // hit
        #expect(e.counters(0).hiddenFaults == 2 && e.counters(0).shadowHits == 1)
        #expect(e.vshadow.reaching(vm: 0, ppn: 2).count == 2)
        try e.apply(rec(1, 0, .content, 2, hash: 5))
        try e.apply(rec(1, 1, .content, 2, hash: 5))
        _ = e.share(0, 2); _ = e.share(1, 2)
        #expect(e.vshadow.entries.values.allSatisfy { !$0.writable })
        try e.apply(v(2, 0, .write, 2, 1, 100))  // write through a read-only entry: COW
        #expect(e.counters(0).cowFaults == 1)
        try e.apply(v(3, 0, .read, 3, 1, 100))  // the guest remapped VPN 100 to PPN 3
        #expect(e.vshadow.lookup(.init(vm: 0, asid: 1, vpn: 100))?.ppn == 3)
    }

    @Test("Power off releases every page, hint and reference; records while off are skipped; power on starts afresh")
    func power() throws {
        let e = try makeEngine(pages: [16, 16], policy: fastScan(100), overheadMiB: 1)
        let freeAtStart = e.memory.free
        try e.apply(rec(0, 0, .zero, 0, count: 10))
        try e.apply(rec(0, 1, .zero, 0, count: 10))
        try e.apply(rec(0, 0, .content, 12, hash: 4))
        try e.advance(to: Micros(1_000_000))
        try e.apply(rec(1_000_000, 1, .powerOff))
        try e.apply(rec(1_000_001, 1, .read, 3))
        #expect(e.counters(1).skippedRecords == 1)
        #expect(e.snapshot().vms[1].sharedPages == 0 && e.vms[1].privatePages == 0)
        try e.apply(rec(1_000_002, 1, .powerOn))
        try e.apply(rec(1_000_003, 1, .read, 3))
        #expect(e.counters(1).demandZero == 1)
        try e.apply(rec(2_000_000, 0, .powerOff))
        try e.apply(rec(2_000_000, 1, .powerOff))
        #expect(e.memory.free == freeAtStart + 2 * 256 && e.table.sharedFrames == 0 && e.table.hintFrames == 0)
    }

    @Test(
        "Invariants hold after every record and scan tick over random multi-VM traces with writes, content changes, zeroing, power cycles and scanning",
        arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomInvariants(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let pages: [UInt64] = [64, 128, 32, 100]
        var p = fastScan(Double(5 + rng.below(40)), hashBits: [8, 16, 64][Int(rng.below(3))], seed: seed)
        p.sharing = ([.on, .on, .zeroOnly] as [SharingName])[Int(rng.below(3))]
        let e = try makeEngine(pages: pages, policy: p, overheadMiB: 0.1)
        var t: UInt64 = 0
        let pool: [UInt64] = (0..<12).map { _ in rng.next() }
        for _ in 0..<4000 {
            t += rng.below(30_000)
            let vm = UInt32(rng.below(UInt64(pages.count)))
            let n = pages[Int(vm)]
            let ppn = UInt32(rng.below(n))
            let r: TraceRecord
            switch rng.below(100) {
            case 0..<30: r = rec(t, vm, .read, ppn, count: UInt32(1 + rng.below(min(4, n - UInt64(ppn)))))
            case 30..<50: r = rec(t, vm, .write, ppn)
            case 50..<80:
                r = rec(
                    t, vm, .content, ppn,
                    hash: rng.below(4) == 0 ? rng.next() : pool[Int(rng.below(UInt64(pool.count)))])
            case 80..<90: r = rec(t, vm, .zero, ppn, count: UInt32(1 + rng.below(min(3, n - UInt64(ppn)))))
            case 90..<95: r = rec(t, vm, .free, ppn)
            case 95..<97:
                r = TraceRecord(
                    time: Micros(t), vm: VMID(vm), kind: .read, ppn: PPN(ppn),
                    virtual: (ASID(UInt32(rng.below(3))), VPN(rng.below(50))))
            case 97..<99:
                r = TraceRecord(
                    time: Micros(t), vm: VMID(vm), kind: .write, ppn: PPN(ppn),
                    virtual: (ASID(UInt32(rng.below(3))), VPN(rng.below(50))))
            default: r = rec(t, vm, rng.below(2) == 0 ? .powerOff : .powerOn)
            }
            try e.apply(r)  // checkFullEveryStep runs checkInvariants() after each record and tick
        }
        try e.finish(settleUntil: Micros(t + 20_000_000))
        let s = e.snapshot()
        #expect(s.vms.reduce(0) { $0 + $1.counters.pagesScanned } > 0)
    }

    @Test("The same trace, policy and seed give byte-identical JSON, run twice; another seed changes the scan order")
    func determinism() throws {
        let dir = NSTemporaryDirectory() + "tt-det-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = GenOptions()
        o.vms = 3; o.pagesPerVM = 2000; o.records = 20_000; o.duration = 30; o.contentFraction = 0.3
        let path = dir + "/m.mtr.zst"
        try ScenarioRegistry.write(MixScenario.self, options: o, to: path)
        func run(_ seed: UInt64) throws -> String {
            let p = fastScan(100, seed: seed)
            var runner = ReplayRunner(path: path, runs: [PolicyRun(name: "esx", policy: p, spec: HostSpec())])
            runner.settle = Micros.seconds(10)
            return ReplayReportRenderer.json(try runner.run()[0].report)
        }
        let a = try run(1), b = try run(1), c = try run(2)
        #expect(a == b)
        #expect(a != c)
        #expect(a.contains("\"schemaVersion\" : 3"))
    }

    @Test("Policy knobs parse, validate and presets resolve")
    func policies() throws {
        var p = Policy()
        try PolicyKnobs.apply(assignments: "shareScanVM=100,hashBits=32,sharing=zero-only", to: &p)
        #expect(p.shareScanVM == 100 && p.hashBits == 32 && p.sharing == .zeroOnly)
        #expect(throws: PolicyError.self) { try PolicyKnobs.apply(assignments: "nosuch=1", to: &p) }
        #expect(throws: PolicyError.self) { try PolicyKnobs.apply(assignments: "hashBits=x", to: &p) }
        try PolicyKnobs.apply(assignments: "samplePeriod=1m", to: &p)
        #expect(p.samplePeriod == 60)
        #expect(try PolicyKnobs.resolve("no-sharing").policy.sharing == .off)
        #expect(try PolicyKnobs.resolve("zero-only").policy.sharing == .zeroOnly)
        #expect(try PolicyKnobs.resolve("esx").policy == Policy())
        #expect(try PolicyKnobs.resolve("no-tax").policy.idleTax == 0)
        #expect(throws: PolicyError.self) { try PolicyKnobs.resolve("nonsense") }
        // Every knob round-trips through its text form.
        for k in PolicyKnobs.all {
            var q = Policy()
            try PolicyKnobs.set(k.name, k.value(of: Policy()), on: &q)
            #expect(q == Policy(), "\(k.name)")
        }
        #expect(Units.parsePages("1GiB", pageSize: 4096) == 262_144 && Units.parsePages("4096", pageSize: 4096) == nil)
        #expect(Units.parsePages("10 pages", pageSize: 4096) == 10)
        #expect(Units.parseDuration("15m") == Micros(900_000_000))
        #expect(Units.parseDuration("500ms") == Micros(500_000))
    }

    @Test("Host sizing: default leaves the high threshold free; overcommit divides Σ max")
    func hostSizing() throws {
        let header = TraceHeader(
            vms: [VMDecl(id: 0, name: "a", pages: 1000), VMDecl(id: 1, name: "b", pages: 3000)],
            capture: CaptureFacts(source: "test"))
        var p = Policy()
        p.overhead = 0
        let d = try HostConfig.resolve(header: header, policy: p, spec: HostSpec())
        #expect(d.machinePages == UInt64((4000 / 0.94).rounded(.up)))
        var spec = HostSpec()
        spec.memory = .overcommit(2)
        #expect(try HostConfig.resolve(header: header, policy: p, spec: spec).machinePages == 2000)
        #expect(d.swapPages == 4000)
        spec.vms[1] = try HostSpec.parseVMOverride("1:min=4MiB,shares=7,balloon=off").1
        let v = try HostConfig.resolve(header: header, policy: p, spec: spec).vms[1]
        #expect(v.minPages == 1024 && v.shares == 7 && !v.balloon)
    }
}
