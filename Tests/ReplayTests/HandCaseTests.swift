import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import TraceFormat

/// An engine over VMs of the given (max pages, min pages, starts off), an explicit M, default
/// swap (Σ max − min) and the policy's overhead.
func handEngine(_ vms: [(UInt64, UInt64, Bool)], machine: UInt64, policy: Policy) throws -> ReplayEngine {
    let header = TraceHeader(
        vms: vms.enumerated().map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: $1.0, minPages: $1.1) },
        capture: CaptureFacts(source: "test"))
    var spec = HostSpec()
    spec.memory = .pages(machine)
    let off = Set(vms.indices.filter { vms[$0].2 }.map { UInt32($0) })
    let host = try HostConfig.resolve(header: header, policy: policy, spec: spec, startsOff: off)
    return try ReplayEngine(host: host, policy: policy)
}

@Suite(
    "Hand-derived cases: reclaim the deficit, admit on reservations, sample without replacement (docs/PAPER.md §5, §6)")
struct HandCaseTests {
    /// Two equal-share 256 MiB VMs (65,536 pages each), 32 MiB overhead each (8,192 pages),
    /// sharing off, τ = 0.75. M = 99,133 pages:
    ///   high threshold = ⌈0.06 · 99,133⌉ = 5,948 pages,
    ///   memory for VMs = 99,133 − 2 · 8,192 − 5,948 = 76,801 pages.
    /// VM 0 touches 100 MiB (25,600 pages), VM 1 all 65,536: they hold 91,136, so the deficit
    /// is 91,136 − 76,801 = 14,335 pages (56.0 MiB). Both are fully active when it is
    /// revoked, so ρ = S / P and VM 1, holding more, has the lower ρ: all 14,335 pages come
    /// from VM 1 (it keeps 51,201), none from VM 0. Revocation from max instead would have cut
    /// VM 1 to its fair share of 38,400 pages: 27,136 reclaimed, 1.9× the deficit.
    @Test("Two VMs, one touching 100 MiB of 256: the host reclaims exactly the deficit, from the VM with the lower ρ")
    func deficitOnly() throws {
        var p = Policy()
        p.sharing = .off
        let e = try handEngine([(65_536, 0, false), (65_536, 0, false)], machine: 99_133, policy: p)
        #expect(e.thresholds.high == 5_948)
        #expect(e.availableForVMs(e.vms) == 76_801)
        try e.apply(rec(0, 0, .write, 0, count: 25_600))
        try e.apply(rec(1_000_000, 1, .write, 0, count: 65_536))
        // The moment of revocation: VM 1's ρ is the lower one.
        let k = IdleTax.k(tau: p.idleTax)
        let held = e.vms.map { Double($0.residentPages) }
        let rho = e.vms.indices.map {
            IdleTax.rho(
                shares: Double(e.vms[$0].config.shares), pages: held[$0], active: e.activePages(e.vms[$0]), k: k)
        }
        #expect(rho[1] < rho[0])
        try e.finish(settleUntil: Micros.seconds(120))
        let deficit: UInt64 = 25_600 + 65_536 - 76_801
        #expect(deficit == 14_335)
        #expect(e.vms[0].residentPages == 25_600)
        #expect(65_536 - e.vms[1].residentPages == deficit, "VM 1 holds \(e.vms[1].residentPages)")
        #expect(e.vms[0].counters.swapOut == 0 && e.vms[0].balloonedPages == 0)
        #expect(e.memory.free == e.thresholds.high)
        #expect(e.state == .high)
    }

    /// VM 0 (1,000 pages, min 0) fills memory; VM 1 (1,000 pages, min 0) powers on at 10 s.
    /// Overhead 1 MiB = 256 pages each, M = 1,500 pages, swap Σ(max − min) = 2,000.
    /// Reservations: unreserved memory = 1,500 − (0 + 256) = 1,244 ≥ 0 + 256, unreserved swap =
    /// 2,000 − 1,000 = 1,000 ≥ 1,000: admitted. Free memory is 1,500 − 256 − 1,000 = 244, 12
    /// short of VM 1's overhead, so 12 pages are reclaimed from VM 0 at power-on.
    @Test("A VM that passes the reservation test is admitted even when free memory is short of its overhead")
    func admissionOnReservations() throws {
        var p = Policy()
        p.sharing = .off
        p.overhead = 1
        let e = try handEngine([(1_000, 0, false), (1_000, 0, true)], machine: 1_500, policy: p)
        try e.apply(rec(0, 0, .write, 0, count: 1_000))
        #expect(e.memory.free == 244)
        try e.apply(rec(10_000_000, 1, .powerOn))
        #expect(e.vms[1].on && !e.vms[1].refused && e.refusals.isEmpty)
        #expect(e.vms[0].counters.swapOut == 12)
        #expect(e.memory.reserved == 512)
        try e.checkInvariants()
        try e.apply(rec(11_000_000, 1, .write, 0, count: 100))
        try e.finish(settleUntil: Micros.seconds(60))
        #expect(e.vms[1].residentPages == 100)
    }

    /// The same host with VM 1's min at 1,000 pages (swap Σ(max − min) = 1,000, all reserved by
    /// VM 0; VM 1 needs none): unreserved memory 1,244 < 1,000 + 256,
    /// short by 12 pages; refused, with the shortfall recorded.
    @Test("A VM that fails the reservation test is refused, and the refusal says which reservation and by how much")
    func admissionRefusal() throws {
        var p = Policy()
        p.sharing = .off
        p.overhead = 1
        let e = try handEngine([(1_000, 0, false), (1_000, 1_000, true)], machine: 1_500, policy: p)
        try e.apply(rec(10_000_000, 1, .powerOn))
        #expect(!e.vms[1].on && e.vms[1].refused)
        #expect(
            e.refusals == [
                AdmissionRefusal(
                    vm: 1, time: Micros.seconds(10), memoryShortPages: 12, swapShortPages: 0,
                    memoryNeededPages: 1_256, memoryUnreservedPages: 1_244,
                    swapNeededPages: 0, swapUnreservedPages: 0)
            ])
    }

    /// 4,096 pages, 1,024 of them read every second; sampleSize = 4,096 and gains of 1, so the
    /// estimate after each period is exactly f · max. Without replacement every page is sampled
    /// once and each of the 1,024 touched pages traps once: f = 1,024 / 4,096, the estimate is
    /// 1,024 pages = the truth. (With replacement, 4,096 draws cover ~63% of the pages and the
    /// estimate would be ~647.)
    @Test(
        "Sampling without replacement: at n = pages the estimate equals the true active count",
        arguments: [4_096, 100_000])
    func samplingAllPages(sampleSize: Int) throws {
        var p = Policy()
        p.sharing = .off
        p.sampleSize = sampleSize
        p.slowGain = 1
        p.fastGain = 1
        let e = try makeEngine(pages: [4_096], policy: p)
        e.checkFullEveryStep = false
        for s in 1..<180 { try e.apply(rec(UInt64(s) * 1_000_000, 0, .read, 0, count: 1_024)) }
        try e.finish(settleUntil: Micros.seconds(180))
        let vm = e.vms[0]
        #expect(vm.periods == 5)
        #expect(vm.estimateSum == 5 * 1_024 && vm.trueSum == 5 * 1_024 && vm.absErrorSum == 0)
        #expect(vm.sampledPPNs.count == 4_096 && Set(vm.sampledPPNs).count == 4_096)
    }

    @Test("Each period samples n distinct pages")
    func samplesDistinct() throws {
        var p = Policy()
        p.sharing = .off
        p.sampleSize = 900
        let e = try makeEngine(pages: [1_000], policy: p)
        e.checkFullEveryStep = false
        for period in 1...4 {
            try e.advance(to: Micros.seconds(30 * Double(period)))
            #expect(Set(e.vms[0].sampledPPNs).count == 900)
        }
    }

    /// VM 0 balloons 100 pages and deflates them; then VM 1 balloons 100. Each VM's peak is
    /// 100; at no moment were more than 100 pages in balloons, so the host-wide peak is 100,
    /// not the 200 a sum of per-VM peaks would say.
    @Test("The host-wide balloon peak is simultaneous, not the sum of per-VM peaks")
    func hostBalloonPeak() throws {
        var p = Policy()
        p.sharing = .off
        let e = try makeEngine(pages: [500, 500], policy: p)
        for vm in e.vms { vm.enableLRU() }
        for _ in 0..<100 { #expect(try e.inflateOne(e.vms[0])) }
        for _ in 0..<100 { e.deflateOne(e.vms[0]) }
        for _ in 0..<100 { #expect(try e.inflateOne(e.vms[1])) }
        try e.checkInvariants()
        #expect(e.vms[0].balloonPeak == 100 && e.vms[1].balloonPeak == 100)
        #expect(e.hostBalloonPeak == 100)
        let r = ReplayReport(trace: "t", policyName: "esx", snapshot: e.snapshot())
        #expect(r.reclaim.hostBalloonPeakPages == 100 && r.vms.map(\.reclaim.balloonPeakPages) == [100, 100])
    }

    @Test("Sizes: K/M/G/T with or without B/iB are binary, N pages; a bare number, a bad number or unit is refused")
    func sizes() throws {
        #expect(try Units.parseSize("512MiB") == .bytes(512 * 1_048_576))
        #expect(try Units.parseSize("512MB") == .bytes(512 * 1_048_576))
        #expect(try Units.parseSize("512m") == .bytes(512 * 1_048_576))
        #expect(try Units.parseSize("1.5G").pages(pageSize: 4096) == 393_216)
        #expect(try Units.parseSize("2T").pages(pageSize: 4096) == 536_870_912)
        #expect(try Units.parseSize("64KiB").pages(pageSize: 4096) == 16)
        #expect(try Units.parseSize("10 pages") == .pages(10))
        #expect(try Units.parseSize("3page") == .pages(3))
        #expect(try Units.parseSize("1k").pages(pageSize: 4096) == 1)  // rounded up to whole pages
        for bad in ["114928", "1.5", "", "G", "MiB", "1.5 pages", "-1G", "1e3M", "12 MiBs", "1GiBB", "inf G", "nanM"] {
            #expect(throws: ConfigError.self, "\(bad)") { try Units.parseSize(bad) }
        }
        do { _ = try Units.parseSize("114928") } catch {
            #expect(error.description.contains("has no unit") && error.description.contains("pages"))
        }
    }
}
