import Foundation
import Testing
@testable import Replay
import Scenarios
import TraceFormat

/// An engine over VMs given as (max pages, shares), explicit M, overhead 0, default swap,
/// sharing off; invariants checked after every step.
func sharesEngine(_ vms: [(UInt64, UInt64)], machine: UInt64, policy: Policy) throws -> ReplayEngine {
    var p = policy
    p.overhead = 0
    p.sharing = .off
    let header = TraceHeader(
        vms: vms.enumerated().map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: $1.0, shares: $1.1) },
        capture: CaptureFacts(source: "test"))
    var spec = HostSpec()
    spec.memory = .pages(machine)
    let host = try HostConfig.resolve(header: header, policy: p, spec: spec)
    let e = try ReplayEngine(host: host, policy: p)
    e.checkFullEveryStep = true
    return e
}

/// What a VM does each simulated second `s` (records stamped s seconds).
enum Behaviour {
    /// Writes its first `pages` pages at 0 s, then reads its first `active` pages every second.
    case idle(pages: UInt32, active: UInt32)
    /// Writes its first `pages` pages every second from 0 s.
    case steady(pages: UInt32)
    /// From `start` s, writes its first 64·(s − start + 1) pages every second (64 new pages a
    /// second), then all `pages` every second.
    case ramp(start: Int, pages: UInt32)

    func records(_ vm: UInt32, second s: Int) -> [TraceRecord] {
        let t = UInt64(s) * 1_000_000
        switch self {
        case .idle(let pages, let active):
            return s == 0 ? [rec(t, vm, .write, 0, count: pages)] : [rec(t, vm, .read, 0, count: active)]
        case .steady(let pages):
            return [rec(t, vm, .write, 0, count: pages)]
        case .ramp(let start, let pages):
            guard s >= start else { return [] }
            return [rec(t, vm, .write, 0, count: min(pages, UInt32(64 * (s - start + 1))))]
        }
    }
}

/// Runs `behaviours` (one per VM) for `seconds` simulated seconds; returns the number of
/// free-state transitions in the second half of the run (0 once the allocations have settled).
@discardableResult
func runBehaviours(_ e: ReplayEngine, _ behaviours: [Behaviour], seconds: Int) throws -> UInt64 {
    var atHalf: UInt64 = 0
    for s in 0...seconds {
        if s == seconds / 2 { atHalf = e.transitions.values.reduce(0, +) }
        for (i, b) in behaviours.enumerated() {
            for r in b.records(UInt32(i), second: s) { try e.apply(r) }
        }
    }
    try e.finish(settleUntil: Micros.seconds(Double(seconds)))
    return e.transitions.values.reduce(0, +) - atHalf
}

/// The equilibrium min-funding revocation prescribes (docs/MODEL.md "Worked equilibria"):
/// memory moves from low ρ = S / (A + k·(P − A)) to high ρ until the ρ of the VMs that compete
/// for it are equal. Each case below is derived by hand in its comment, with the oracle
/// estimator (the trace's true working set of the last period) so that A is exact, sharing off
/// and overhead 0. The derivation is in terms of V, the memory the VMs hold at the end: M minus
/// free memory, which the dynamics leave between the soft threshold and the high one (in the
/// high state nothing is reclaimed for the host; memory only moves between VMs). The tests run
/// the engine for 20 simulated minutes and check the allocations against the formula (±1 page
/// for rounding), that ρ is equal within one page, that free memory is in [soft, high] and the
/// state high, and that the state did not change in the second half.
@Suite("Min-funding revocation reaches its equilibrium (docs/PAPER.md §5.2; docs/MODEL.md \"Worked equilibria\")")
struct EquilibriumTests {
    func policy(tau: Double) -> Policy {
        var p = Policy()
        p.idleTax = tau
        p.estimator = .oracle
        return p
    }

    /// ρ of VM `i` if it held `pages`, with its demand as the allocator sees it.
    func rho(_ e: ReplayEngine, _ i: Int, _ pages: UInt64) -> Double {
        let vm = e.vms[i]
        return IdleTax.rho(
            shares: Double(vm.config.shares), pages: Double(pages), active: e.activePages(vm),
            k: IdleTax.k(tau: e.policy.idleTax))
    }

    /// Equal within one page's worth: giving one page from any competing VM to any other would
    /// not raise the lower ρ (ρ_i(P_i + 1) ≤ ρ_j(P_j − 1) for every pair).
    func balanced(_ e: ReplayEngine, _ competing: [Int]) -> Bool {
        for i in competing {
            for j in competing where j != i {
                if rho(e, i, e.vms[i].residentPages + 1) > rho(e, j, e.vms[j].residentPages - 1) { return false }
            }
        }
        return true
    }

    /// The memory the VMs hold at the end, V = M − free, and that the run ended settled.
    func settled(_ e: ReplayEngine, late: UInt64) -> Double {
        #expect(
            e.memory.free >= e.thresholds.soft && e.memory.free <= e.thresholds.high && e.state == .high,
            "free \(e.memory.free), state \(e.state)")
        #expect(late == 0, "\(e.transitions)")
        return Double(e.host.machinePages - e.memory.free)
    }

    func near(_ held: [UInt64], _ expected: [Double]) -> Bool {
        zip(held, expected).allSatisfy { abs(Double($0) - $1) <= 1 }
    }

    /// Case 1, equal shares (Fig. 7 in miniature). Two VMs of 4,096 pages, 1,000 shares each.
    /// VM 0 writes all its pages at 0 s and then reads 400 of them each second (A₀ = 400);
    /// VM 1 starts at 10 s and grows by 64 pages a second to all 4,096, which it writes every
    /// second from then on (A₁ = 4,096: every page it is given is active). M = 5,000 pages;
    /// thresholds soft 200, high 300.
    ///
    /// τ = 0.75 (k = 4): ρ₀(p) = 1000 / (400 + 4(p − 400)) = 1000 / (4p − 1,200), ρ₁(p) = 1000 / p.
    /// Equal when p₁ = 4p₀ − 1,200, with p₀ + p₁ = V: p₀ = (V + 1,200) / 5. At free memory at the
    /// high threshold (V = 4,700): p₀ = 1,180, p₁ = 3,520. VM 0 keeps far less than its 4,096.
    /// τ = 0 (k = 1): ρ = 1000 / p for both: p₀ = p₁ = V / 2 (2,350 at V = 4,700).
    @Test(
        "Equal shares, one idle VM, one busy: τ = 0.75 gives p₀ = (V + 1,200) / 5 (1,180 / 3,520 at V = 4,700), τ = 0 halves V",
        arguments: [0.75, 0])
    func equalShares(tau: Double) throws {
        let e = try sharesEngine([(4_096, 1_000), (4_096, 1_000)], machine: 5_000, policy: policy(tau: tau))
        #expect(e.thresholds.soft == 200 && e.thresholds.high == 300)
        let late = try runBehaviours(
            e, [.idle(pages: 4_096, active: 400), .ramp(start: 10, pages: 4_096)], seconds: 1_200)
        let v = settled(e, late: late)
        let p0 = tau == 0 ? v / 2 : (v + 1_200) / 5
        let held = e.vms.map(\.residentPages)
        #expect(near(held, [p0, v - p0]), "held \(held), V \(v), expected p₀ \(p0)")
        #expect(balanced(e, [0, 1]))
    }

    /// Case 2, shares 2:1 with one idle VM (the situation where allocations used to stay put).
    /// VM 0 (2,000 shares) writes 2,600 of its 4,096 pages at 0 s, then reads 400 each second;
    /// VM 1 (1,000 shares) ramps as in case 1 to touching all 4,096 every second. M = 5,107:
    /// soft ⌈204.28⌉ = 205, high ⌈306.42⌉ = 307.
    ///
    /// τ = 0.75: ρ₀(p) = 2000 / (4p − 1,200), ρ₁(p) = 1000 / p; equal when 4p₀ − 1,200 = 2p₁;
    /// with p₀ + p₁ = V: p₀ = (2V + 1,200) / 6 (1,800 / 3,000 at V = 4,800).
    /// τ = 0: equal ρ would need p₀ = 2p₁ (3,200 at V = 4,800), more than the 2,600 VM 0 holds
    /// and claims; so VM 0 gives nothing and keeps its 2,600 (ρ₀ = 2000/2600 = 0.77), and VM 1
    /// gets the rest, V − 2,600 (ρ₁ ≈ 1000/2,200 = 0.45: VM 1 alone is revoked). VM 1 stays
    /// above max − `maxBalloon` × max = 2,048 either way, so ballooning alone reaches it.
    @Test(
        "Shares 2:1, the high-share VM idle: τ = 0.75 moves its idle memory to the busy VM (p₀ = (2V + 1,200) / 6); τ = 0 leaves it its 2,600",
        arguments: [0.75, 0])
    func twoToOne(tau: Double) throws {
        let e = try sharesEngine([(4_096, 2_000), (4_096, 1_000)], machine: 5_107, policy: policy(tau: tau))
        #expect(e.thresholds.soft == 205 && e.thresholds.high == 307)
        let late = try runBehaviours(
            e, [.idle(pages: 2_600, active: 400), .ramp(start: 10, pages: 4_096)], seconds: 1_200)
        let v = settled(e, late: late)
        let held = e.vms.map(\.residentPages)
        if tau == 0 {
            #expect(held[0] == 2_600 && near(held, [2_600, v - 2_600]), "held \(held), V \(v)")
            // The idle VM keeps its memory: never ballooned or paged.
            #expect(e.vms[0].counters.balloonInflated == 0 && e.vms[0].counters.swapOut == 0)
            #expect(rho(e, 1, held[1]) < rho(e, 0, held[0]))
        } else {
            let p0 = (2 * v + 1_200) / 6
            #expect(near(held, [p0, v - p0]), "held \(held), V \(v), expected p₀ \(p0)")
            #expect(balanced(e, [0, 1]))
        }
    }

    /// Case 3, three VMs with one thrashing. 1,000 shares each, 4,096 pages each, τ = 0.75.
    /// VM 0 writes 3,000 pages at 0 s and then reads 200 a second (A₀ = 200); VM 1 writes the
    /// same 2,000 pages every second (A₁ = 2,000); VM 2 ramps from 90 s to writing all 4,096
    /// every second, more than it can be given: it thrashes in its balloon. (It starts after the
    /// first measured sample period, which ends at 60 s: before it every VM counts as fully
    /// active, and pure shares would revoke from VM 1 for a while.) M = 5,745: soft 230,
    /// high ⌈344.7⌉ = 345.
    ///
    /// ρ₀(p) = 1000 / (200 + 4(p − 200)) = 1000 / (4p − 600), ρ₁ = 1000 / 2,000 at its claim,
    /// ρ₂(p) = 1000 / p. If VM 1 keeps its 2,000 pages: p₀ + p₂ = V − 2,000 with p₂ = 4p₀ − 600:
    /// p₀ = (V − 1,400) / 5 (800 / 2,000 / 2,600 at V = 5,400), ρ* = 1000 / p₂ < ρ₁ = 1000 / 2,000
    /// while p₂ > 2,000 — so VM 1, whose ρ stays above ρ*, indeed gives nothing (it does not
    /// compete), and VMs 0 and 2 meet.
    @Test(
        "Three VMs, one thrashing: the idle VM and the thrashing one meet at p₀ = (V − 1,400) / 5 (800 / 2,600 at V = 5,400); the steady VM keeps its 2,000"
    )
    func threeOneThrashing() throws {
        let e = try sharesEngine(
            [(4_096, 1_000), (4_096, 1_000), (4_096, 1_000)], machine: 5_745, policy: policy(tau: 0.75))
        #expect(e.thresholds.soft == 230 && e.thresholds.high == 345)
        let late = try runBehaviours(
            e, [.idle(pages: 3_000, active: 200), .steady(pages: 2_000), .ramp(start: 90, pages: 4_096)], seconds: 1_200
        )
        let v = settled(e, late: late)
        let p0 = (v - 1_400) / 5
        let held = e.vms.map(\.residentPages)
        #expect(near(held, [p0, 2_000, v - 2_000 - p0]), "held \(held), V \(v), expected p₀ \(p0)")
        #expect(e.vms[1].counters.balloonInflated == 0 && e.vms[1].counters.swapOut == 0)
        #expect(balanced(e, [0, 2]))
        #expect(rho(e, 1, held[1]) > rho(e, 2, held[2]))
        // VM 2 still wants all of its memory: it refaults its ballooned pages every second.
        #expect(e.vms[2].counters.guestRefaults > 1_000_000)
    }

    /// The same case with the defaults (the sampled estimator, 32 MiB overheads, sharing on):
    /// `gen tax` with 64 MiB VMs for 30 minutes on a 172 MiB host. With τ = 0.75 the equilibrium
    /// for the idle VM's true activity a = 1,638 pages (a tenth) is p₀ = (2V + 3a) / 6, where V is
    /// the memory the VMs hold at the end; the busy VM must end within 2% of V − p₀ and the idle
    /// VM hold the rest. With τ = 0 the idle VM keeps all of its memory. The timeline shows the
    /// busy VM's allocation rising to it and staying (it moves by less than 0.5% in the last ten
    /// minutes).
    @Test(
        "gen tax with the defaults: τ = 0.75 moves the idle VM's memory to the busy VM (within 2% of the equilibrium) and settles; τ = 0 leaves it",
        arguments: [0.75, 0])
    func taxScenario(tau: Double) throws {
        var o = GenOptions()
        o.pagesPerVM = 16_384
        o.duration = 1_800
        var p = Policy()
        p.idleTax = tau
        var spec = HostSpec()
        spec.memory = .pages(44_032)
        let (e, r) = try runScenario(TaxScenario.self, o, policy: p, spec: spec, timeline: Micros.seconds(30))
        let held = r.vms.map(\.allocation.allocatedEndPages)
        let v = Double(held[0] + held[1])
        if tau == 0 {
            #expect(
                held[0] == 16_384 && e.vms[0].counters.balloonInflated == 0 && e.vms[0].counters.swapOut == 0,
                "held \(held)")
            return
        }
        let a = 1_638.0
        let p1 = v - (2 * v + 3 * a) / 6
        #expect(abs(Double(held[1]) - p1) <= 0.02 * p1, "busy VM holds \(held[1]), equilibrium \(p1) (V \(v))")
        let busy = e.timeline.filter { $0.vm == 1 }
        let at = { (s: Double) in Double(busy.last { $0.time.seconds <= s }!.allocated) }
        // The transfer: at 2 minutes the busy VM (which powered on at 1 minute) holds about half
        // of its memory; by 10 minutes it is within 2% of where it ends; it then settles.
        #expect(at(120) < 0.6 * p1 && at(600) > 0.98 * Double(held[1]), "\(at(120)), \(at(600))")
        #expect(abs(at(1_800) - at(1_200)) <= 0.005 * at(1_800), "\(at(1_200)) → \(at(1_800))")
    }
}
