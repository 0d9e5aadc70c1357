import Foundation
import Testing
@testable import Analyzer
@testable import Replay
import TraceFormat

/// An engine over VMs given as (max, min), with explicit M and swap, overhead 0.
func pressuredEngine(
    _ vms: [(UInt64, UInt64)], machine: UInt64, swap: UInt64? = nil, policy: Policy = Policy(),
    balloon: Bool = true
) throws -> ReplayEngine {
    var p = policy
    p.overhead = 0
    let header = TraceHeader(
        vms: vms.enumerated().map { VMDecl(id: UInt32($0), name: "vm\($0)", pages: $1.0, minPages: $1.1) },
        capture: CaptureFacts(source: "test"))
    var spec = HostSpec()
    spec.memory = .pages(machine)
    spec.swap = swap.map { "\($0) pages" }
    for i in vms.indices where !balloon { spec.vms[UInt32(i)] = .init(balloon: false) }
    let host = try HostConfig.resolve(header: header, policy: p, spec: spec)
    let e = try ReplayEngine(host: host, policy: p)
    e.checkFullEveryStep = true
    return e
}

@Suite("Ballooning, host paging, admission control (docs/PAPER.md §3, §6; docs/MODEL.md, Guest model)")
struct ReclamationTests {
    @Test(
        "Ballooning: guest refaults + allocations equal an independent LRU simulation with capacity max − balloon",
        arguments: [1, 2, 3] as [UInt64])
    func balloonIsLRU(seed: UInt64) throws {
        let pages: UInt64 = 200, balloon = 70
        var p = Policy()
        p.sharing = .off
        let e = try makeEngine(pages: [pages], policy: p)
        let vm = e.vms[0]
        vm.enableLRU()
        for _ in 0..<balloon { #expect(try e.inflateOne(vm)) }
        // The reference: an LRU cache of the guest's non-ballooned pages, never-touched pages
        // oldest in PPN order (so the balloon took PPNs 0..<70 and the cache starts as the rest).
        var cache: [UInt32] = Array(UInt32(balloon)..<UInt32(pages))  // index 0 = LRU end
        var misses = 0
        var rng = SeededRandom(seed: seed)
        var t: UInt64 = 0
        for _ in 0..<3000 {
            // Skewed accesses: a hot set of 80 pages gets 70%.
            let ppn = UInt32(rng.unit() < 0.7 ? rng.below(80) : rng.below(pages))
            t += 1
            try e.apply(rec(t, 0, rng.below(2) == 0 ? .read : .write, ppn))
            if let i = cache.firstIndex(of: ppn) {
                cache.remove(at: i)
            } else {
                misses += 1
                cache.removeFirst()
            }
            cache.append(ppn)
        }
        let c = e.counters(0)
        #expect(Int(c.guestRefaults + c.guestAllocations) == misses)
        #expect(e.vms[0].balloonedPages == UInt64(balloon))
        #expect(misses > 0)
    }

    @Test(
        "A refill queues never-touched pages first, in PPN order, then the oldest touched keys in buckets of ascending keys: the smallest keys of all"
    )
    func refillBuckets() {
        var rng = SeededRandom(seed: 5)
        // (pages, k, how sequences spread): uniform; one very old page before a recent run
        // (nearly all keys in one bucket); and no touched page at all.
        for (n, k, spread) in [
            (5000, 2500, 0), (5000, 100, 0), (64, 64, 0), (3, 2, 0), (4000, 2000, 1), (300, 150, 2), (1000, 990, 0),
        ] {
            var all: [UInt64] = [], untouched: [UInt64] = [], touched: [UInt64] = []
            var lo = UInt32.max, hi: UInt32 = 0
            for p in 0..<UInt64(n) {
                var seq: UInt64
                switch spread {
                case 0: seq = rng.below(3) == 0 ? 0 : (1 << 31) + rng.below(1 << 20)
                case 1: seq = p == 7 ? 5 : (1 << 31) + (1 << 30) + p * 3
                default: seq = 0
                }
                let key = seq << 32 | p
                all.append(key)
                if seq == 0 {
                    untouched.append(key)
                } else {
                    touched.append(key)
                    lo = min(lo, UInt32(seq))
                    hi = max(hi, UInt32(seq))
                }
            }
            let q = VMState.bucketed(untouched: untouched, touched: touched, lo: lo, hi: hi, k)
            let m = q.keys.count
            #expect(m >= k && q.bounds.first == 0 && q.bounds.last == m, "\(n) \(k)")
            // Bucket by bucket, sorted, the queue is the m smallest keys in order; each bucket's
            // keys sort below the next one's.
            var flat: [UInt64] = []
            for b in 0..<(q.bounds.count - 1) {
                let bucket = q.keys[q.bounds[b]..<q.bounds[b + 1]]
                #expect(!bucket.isEmpty)
                if let prev = flat.last { #expect(prev < bucket.min()!, "\(n) \(k) bucket \(b)") }
                flat += bucket.sorted()
            }
            #expect(flat == Array(all.sorted().prefix(m)), "\(n) \(k)")
            #expect(q.last == (flat.last ?? 0))
            // Never-touched pages alone when they make k; else all of them, as bucket 0.
            if untouched.count >= k { #expect(m == k && q.bounds == [0, k]) }
            if !untouched.isEmpty && untouched.count < k { #expect(q.bounds[1] == untouched.count) }
        }
    }

    @Test(
        "The guest's LRU walk visits pages oldest first while pages are touched, ballooned and given back, across many buckets",
        arguments: [1, 2] as [UInt64])
    func walkInOrder(seed: UInt64) throws {
        let pages: UInt64 = 4096
        var p = Policy()
        p.sharing = .off
        let e = try makeEngine(pages: [pages], policy: p)
        e.checkFullEveryStep = false  // the brute-force order below is the check, every 97 steps
        let vm = e.vms[0]
        vm.enableLRU()
        var rng = SeededRandom(seed: seed)
        var t: UInt64 = 0
        var walks = 0
        for step in 0..<40_000 {
            let r = rng.unit()
            if r < 0.02 {
                _ = try e.inflateOne(vm)
            } else if r < 0.03 {
                e.deflateOne(vm)
            } else {
                let ppn = UInt32(rng.unit() < 0.6 ? rng.below(500) : rng.below(pages))
                t += 1
                try e.apply(rec(t, 0, .read, ppn))
            }
            guard step % 97 == 0 else { continue }
            var order: [UInt64] = []
            for i in 0..<Int(pages) where PageState.of(vm.entry[i]) != .ballooned {
                order.append(UInt64(vm.seq[i]) << 32 | UInt64(i))
            }
            order.sort()
            // The walk as the LRU swap victim chooser makes it (refusing pages); it may start
            // again from the oldest after a rescan, so it is compared up to the first repeat.
            var seen = Set<UInt32>(), visited: [UInt64] = []
            vm.lruWalk { q in
                guard seen.insert(q).inserted, visited.count < 50 else { return false }
                visited.append(UInt64(vm.seq[Int(q)]) << 32 | UInt64(q))
                return true
            }
            #expect(!visited.isEmpty && visited == Array(order.prefix(visited.count)), "step \(step)")
            walks += 1
        }
        try e.checkInvariants()
        #expect(walks > 400 && vm.balloonedPages > 0 && e.counters(0).balloonDeflated > 0)
    }

    @Test("Double paging: the guest's balloon victim is a page the host already swapped")
    func doublePaging() throws {
        var p = Policy()
        p.sharing = .off
        p.swapVictim = .lru
        let e = try makeEngine(pages: [16], policy: p)
        let vm = e.vms[0]
        vm.enableLRU()
        for ppn in 0..<UInt32(16) { try e.apply(rec(UInt64(ppn), 0, .write, ppn)) }
        #expect(try e.swapOutVictim(vm))  // host LRU victim: PPN 0
        #expect(e.state(0, 0) == .swapped)
        #expect(try e.inflateOne(vm))  // guest LRU victim: PPN 0 as well
        #expect(e.counters(0).doublePaging == 1 && e.state(0, 0) == .ballooned)
        #expect(e.swap.used == 0)
        try e.checkInvariants()
    }

    /// VM 0 (1000 pages) loops over its first 600 pages; its other 400 were touched once at boot.
    /// VM 1 boots at 60 s and fills 500 pages slowly, so VM 0 must give memory back.
    func loopingTrace() -> [TraceRecord] {
        var out: [TraceRecord] = []
        out.append(rec(0, 0, .write, 0, count: 1000))
        out.append(rec(0, 1, .powerOn))
        for s in UInt64(1)..<400 {
            let t = s * 1_000_000
            out.append(rec(t, 0, .read, 0, count: 600))
            if s >= 60 && s < 110 { out.append(rec(t, 1, .write, UInt32((s - 60) * 10), count: 10)) }
        }
        return out
    }

    func replayLooping(balloon: Bool, victim: SwapVictimName = .random) throws -> VMCounters {
        var p = Policy()
        p.sharing = .off
        p.swapVictim = victim
        let e = try pressuredEngine([(1000, 0), (500, 0)], machine: 1300, policy: p, balloon: balloon)
        e.checkFullEveryStep = false
        for r in loopingTrace() { try e.apply(r) }
        try e.finish(settleUntil: Micros.seconds(400))
        return e.counters(0)
    }

    @Test("On a looping working set, random host-paging victims fault more than the guest's own LRU choice (§3.2-3.3)")
    func randomVersusGuestLRU() throws {
        let ballooned = try replayLooping(balloon: true)
        let swapped = try replayLooping(balloon: false)
        let faultsBalloon = ballooned.guestRefaults + ballooned.swapIn
        let faultsSwap = swapped.swapIn + swapped.guestRefaults
        #expect(ballooned.balloonInflated > 0)
        #expect(swapped.swapOut > 0 && swapped.balloonInflated == 0)  // balloon=off: host paging only
        #expect(
            faultsSwap > 4 * max(1, faultsBalloon), "balloon faults \(faultsBalloon), random swap faults \(faultsSwap)")
    }

    @Test("Admission control refuses a VM for memory and one for swap; their records are skipped and reported")
    func admission() throws {
        // Memory: VM 0 reserves 600 of 1000 pages as min; VM 1 needs 500.
        let e = try pressuredEngine([(600, 600), (500, 500)], machine: 1000, swap: 0)
        #expect(e.vms[0].on && !e.vms[1].on && e.vms[1].refused)
        try e.apply(rec(1, 1, .read, 3))
        #expect(e.counters(1).skippedRecords == 1)
        let r = ReplayReport(trace: "t", policyName: "esx", snapshot: e.snapshot())
        #expect(r.admission.refused == [1] && r.vms[1].refused)
        // Swap: VM 1 would need 400 pages of swap (max − min); only 100 exist.
        let s = try pressuredEngine([(100, 100), (500, 100)], machine: 10_000, swap: 100)
        #expect(s.vms[0].on && s.vms[1].refused)
    }

    @Test("Swap exhaustion stops the replay with a clear error")
    func swapExhaustion() throws {
        let e = try pressuredEngine([(50, 50)], machine: 100, swap: 0)
        try e.apply(rec(0, 0, .write, 0, count: 50))
        #expect(throws: ReplayError.self) { _ = try e.swapOutVictim(e.vms[0]) }
        do { _ = try e.swapOutVictim(e.vms[0]) } catch { #expect(error.message.contains("swap exhausted")) }
    }

    @Test("VMs above target are blocked only in the low state")
    func blockedOnlyInLow() throws {
        var p = Policy()
        p.sharing = .off
        p.balloon = .off
        // 1000 pages, the VM fills 995 at once: free 5 < low (10): low state, blocked until paged down.
        let e = try pressuredEngine([(2000, 0)], machine: 1000, policy: p, balloon: false)
        e.checkFullEveryStep = false
        try e.apply(rec(0, 0, .write, 0, count: 995))
        #expect(e.state == .low)
        try e.advance(to: Micros.seconds(1))
        #expect(e.counters(0).blockedMicros > 0)
        try e.finish(settleUntil: Micros.seconds(5))
        // Another host that only reaches soft: never blocked.
        let f = try pressuredEngine([(2000, 0)], machine: 1000, policy: p, balloon: false)
        try f.apply(rec(0, 0, .write, 0, count: 965))
        try f.finish(settleUntil: Micros.seconds(5))
        #expect(f.stateMicros[.low, default: 0] == 0 && f.counters(0).blockedMicros == 0)
        #expect(f.transitions.keys.contains("high->soft"))
    }

    @Test(
        "Invariants hold after every record and periodic task under memory pressure, with balloons, paging, sharing and power cycles",
        arguments: [
            (1, SwapVictimName.random, true), (2, .lru, true), (3, .fifo, false), (4, .random, false), (5, .lru, false),
            (6, .fifo, true), (7, .random, true), (8, .lru, true), (9, .random, false), (10, .fifo, true),
        ] as [(UInt64, SwapVictimName, Bool)])
    func invariantsUnderPressure(seed: UInt64, victim: SwapVictimName, balloon: Bool) throws {
        var rng = SeededRandom(seed: seed)
        var p = fastScan(20, seed: seed)
        p.swapVictim = victim
        p.samplePeriod = 5
        p.balancePeriod = 3
        p.balloonRate = 20
        let pages: [UInt64] = [120, 200, 80]
        let e = try pressuredEngine(pages.map { ($0, $0 / 4) }, machine: 260, policy: p, balloon: balloon)
        let pool: [UInt64] = (0..<8).map { _ in rng.next() }
        var t: UInt64 = 0
        for _ in 0..<2500 {
            t += rng.below(40_000)
            let vm = UInt32(rng.below(3))
            let n = pages[Int(vm)]
            let ppn = UInt32(rng.below(n))
            let r: TraceRecord
            switch rng.below(100) {
            case 0..<35: r = rec(t, vm, .read, ppn, count: UInt32(1 + rng.below(min(6, n - UInt64(ppn)))))
            case 35..<60: r = rec(t, vm, .write, ppn)
            case 60..<85: r = rec(t, vm, .content, ppn, hash: rng.below(3) != 0 ? rng.next() : pool[Int(rng.below(8))])
            case 85..<95: r = rec(t, vm, .write, ppn, count: UInt32(1 + rng.below(min(8, n - UInt64(ppn)))))
            case 95..<99: r = rec(t, vm, .free, ppn)
            default:
                r = rng.below(3) == 0 ? rec(t, vm, rng.below(3) == 0 ? .powerOff : .powerOn) : rec(t, vm, .read, ppn)
            }
            try e.apply(r)
        }
        try e.finish(settleUntil: Micros(t + 10_000_000))
        let c = (0..<3).map { e.counters($0) }.reduce(VMCounters(), +)
        #expect(
            c.swapOut + c.balloonInflated > 0,
            "swapOut \(c.swapOut) inflated \(c.balloonInflated) skipped \(c.skippedRecords) resident \(e.vms.map { $0.residentPages }) targets \(e.vms.map { $0.target }) free \(e.memory.free) state \(e.state) overcommitted \(e.overcommitted)"
        )
    }
}
