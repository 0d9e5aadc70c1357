import Analyzer
import Foundation
import Testing
@testable import Replay
import TraceFormat

/// Every registered implementation of every policy family runs the model with every invariant
/// checked after every record and periodic task, and every preset names registered ones
/// (docs/ARCHITECTURE.md "Policy families").
@Suite("Policy families: every registered implementation, full invariants; presets name registered ones")
struct PolicyFamilyTests {
    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("traces/sample.mtr.zst").path

    /// (family knob, implementation name) for every registered implementation.
    static let every: [(String, String)] = PolicyFamilies.all.flatMap { f in f.implementations.map { (f.knob, $0.name) }
    }

    /// Every invariant after every record and periodic task for the first `fullSteps` records
    /// (a full check walks every page, so all 200,000 records would take minutes per
    /// implementation in a debug build), then after every 1,000th record, and at the end; the
    /// cheap conservation check runs after every record throughout.
    static let fullSteps = 5_000

    @Test(
        "Replays the sample trace under --overcommit 1.5 with every invariant checked",
        arguments: every.map { "\($0.0)=\($0.1)" })
    func everyImplementation(_ assignment: String) throws {
        var policy = Policy()
        try PolicyKnobs.apply(assignments: assignment, to: &policy)
        try policy.validate()
        let reader = try TraceFile.open(Self.sample)
        var spec = HostSpec()
        spec.memory = .overcommit(1.5)
        let host = try HostConfig.resolve(
            header: reader.header, policy: policy, spec: spec,
            startsOff: try TraceInput.vmsStartingOff(path: Self.sample))
        let engine = try ReplayEngine(host: host, policy: policy)
        engine.checkEveryStep = true
        var batch: [TraceRecord] = []
        var applied = 0
        while try reader.next(into: &batch) {
            for r in batch {
                engine.checkFullEveryStep = applied < Self.fullSteps
                try engine.apply(r)
                applied += 1
                if applied % 1000 == 0 { try engine.checkInvariants() }
            }
        }
        engine.checkFullEveryStep = false
        try engine.finish(settleUntil: Micros(engine.now.rawValue + Micros.seconds(60).rawValue))
        let total = engine.vms.reduce(VMCounters()) { $0 + $1.counters }
        #expect(total.records == reader.recordsRead)
        // The overcommitted host reclaims something under every implementation.
        #expect(total.balloonInflated + total.swapOut > 0, "\(assignment)")
    }

    @Test("Every preset names registered implementations; an unregistered name is refused with the registry's names")
    func presetsAreRegistered() throws {
        for preset in Presets.all {
            let p = preset.policy
            #expect(SharingScanners.isRegistered(p.sharing.rawValue), "\(preset.name)")
            #expect(ActivityEstimators.isRegistered(p.estimator.rawValue), "\(preset.name)")
            #expect(SwapVictims.isRegistered(p.swapVictim.rawValue), "\(preset.name)")
            try p.validate()
        }
        var p = Policy()
        p.swapVictim = "belady"
        #expect(
            throws: PolicyError.badValue(
                key: "swapVictim", message: "\"belady\" is not one of \(SwapVictims.names.joined(separator: ", "))")
        ) { try p.validate() }
        #expect(throws: PolicyError.self) { try PolicyKnobs.set("sharing", "magic", on: &p) }
    }

    /// Four private pages touched in order 0, 1, 2, 3 (LRU sequences s0 < s1 < s2 < s3), hand
    /// at 0, nothing seen yet. By hand: the first turn finds every page referenced (its
    /// sequence differs from the 0 the hand remembers) and clears each; the second turn takes
    /// page 0. The hand then stands at 1; touching page 1 gives it a second chance, so the next
    /// victim is page 2, and then page 3 (page 1's reference was cleared by that pass).
    @Test("Clock (second chance) picks the victims derived by hand")
    func clockHandCase() throws {
        var policy = Policy()
        policy.swapVictim = .clock
        let config = VMConfig(
            id: 0, name: "a", maxPages: 4, minPages: 0, shares: 1, overheadPages: 0, balloon: false, startsOff: false)
        let vm = VMState(config: config, index: 0, policy: policy, tracking: true)
        vm.enableLRU()
        for p: UInt32 in 0..<4 {
            vm.entry[Int(p)] = PageState.privateEntry
            vm.lruTouch(p)
        }
        let clock = vm.victim
        #expect(clock.choose(vm) == 0)
        vm.lruTouch(1)
        #expect(clock.choose(vm) == 2)
        #expect(clock.choose(vm) == 3)
        // Page 0 is no longer private: the hand passes it; page 1 was cleared when passed.
        vm.entry[0] = 0
        #expect(clock.choose(vm) == 1)
    }
}

/// The cost model's arithmetic on a hand-made count (docs/MODEL.md "Cost model").
@Suite("Cost model: counts × latencies, by hand")
struct CostModelTests {
    @Test(
        "1,000 hidden faults, 10 COW copies, 500 scanned, 30+20 balloon pages, 3 refaults, 40 outs, 5 ins, 2 s blocked")
    func byHand() {
        var c = VMCounters()
        c.hiddenFaults = 1_000; c.cowBreaks = 10; c.pagesScanned = 500
        c.balloonInflated = 30; c.balloonDeflated = 20; c.guestRefaults = 3
        c.swapOut = 40; c.swapIn = 5; c.blockedMicros = 2_000_000
        let b = CostBreakdown(c, Policy())
        // 1,000 × 2 µs = 0.002 s; 10 × 1 µs; 500 × 1 µs; 50 × 1 µs; 3 × 8 ms; 40 × 100 µs; 5 × 8 ms; 2 s.
        #expect(b.hiddenFaults == 0.002 && b.pageCopies == 0.00001 && b.scan == 0.0005 && b.balloon == 0.00005)
        #expect(b.guestRefaults == 0.024 && b.swapOut == 0.004 && b.swapIn == 0.04 && b.blocked == 2)
        #expect(abs(b.total - 2.07056) < 1e-12)
        var p = Policy()
        p.costSwapIn = 100
        #expect(abs(CostBreakdown(c, p).swapIn - 0.0005) < 1e-15)
    }
}
