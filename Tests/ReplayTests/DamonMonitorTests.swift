import Testing
@testable import Replay
import TraceFormat

@Suite("DAMON-style monitoring (docs/MODEL.md \"DAMON estimator\")")
struct DamonMonitorTests {
    /// Regions cover the pages exactly, in order, within the count bounds.
    func wellFormed(_ d: DamonMonitor) -> Bool {
        var at = 0
        for r in d.regions {
            guard r.start == at, r.end > r.start else { return false }
            at = r.end
        }
        return at == d.pages && d.regions.count <= d.maxRegions
    }

    @Test(
        "Ten fixed regions of 100 pages, pages 0…99 touched every second: region 0 counts every check after its first draw, the others none; the estimate is exactly 100 pages"
    )
    func hotRegion() {
        let d = DamonMonitor(pages: 1000, minRegions: 10, maxRegions: 10, samplesPerAggregation: 5)
        var rng = SeededRandom(seed: 3)
        #expect(d.regions.count == 10 && d.estimate == 1000)  // all pages before the first aggregation
        for _ in 0..<5 {
            for p in 0..<100 { d.accessed(p) }
            d.sample(rng: &rng)
        }
        // The first sample only draws (nothing pending); the next four find their page touched.
        #expect(d.regions[0].accesses == 4 && d.regions.dropFirst().allSatisfy { $0.accesses == 0 })
        d.aggregate(rng: &rng)
        // No merge: each region is already at the size limit (1000 / 10); no split: at the maximum.
        #expect(d.estimate == 100 && d.regions.count == 10 && d.regions.allSatisfy { $0.accesses == 0 })
        #expect(wellFormed(d))
    }

    @Test(
        "Idle regions merge up to pages / minRegions and split while below maxRegions; the regions always tile the VM")
    func mergeAndSplit() {
        let d = DamonMonitor(pages: 1000, minRegions: 2, maxRegions: 8, samplesPerAggregation: 10)
        var rng = SeededRandom(seed: 11)
        d.aggregate(rng: &rng)  // 2 regions of 500: too big to merge; both split
        #expect(d.regions.count == 4 && wellFormed(d) && d.estimate == 0)
        for round in 0..<20 {
            for _ in 0..<10 { d.sample(rng: &rng) }
            d.aggregate(rng: &rng)
            // All idle: after merging, no region exceeds 500 pages before the split.
            #expect(wellFormed(d) && d.estimate == 0, "round \(round)")
            #expect(d.regions.count >= 2)
        }
        // A hot half: its regions count accesses and are estimated, the idle half is not.
        for _ in 0..<10 {
            for p in 0..<500 { d.accessed(p) }
            d.sample(rng: &rng)
        }
        let hot = d.regions.filter { $0.end <= 500 }, cold = d.regions.filter { $0.start >= 500 }
        #expect(hot.allSatisfy { $0.accesses >= 9 } && cold.allSatisfy { $0.accesses == 0 })
        let hotPages = hot.reduce(0) { $0 + $1.end - $1.start }
        d.aggregate(rng: &rng)
        // The straddling region (if any) has a page in each half; the estimate lies between.
        #expect(d.estimate >= hotPages && d.estimate <= 500 + (1000 - 500 - cold.reduce(0) { $0 + $1.end - $1.start }))
    }

    @Test("estimator=damon drives targets and is scored beside ESX's sampling against the same truth")
    func inTheEngine() throws {
        var p = Policy()
        p.estimator = .damon
        p.damonAggregate = 5
        let e = try makeEngine(pages: [512, 512], policy: p)
        for t in 0..<120 {
            for q in UInt32(0)..<64 { try e.apply(rec(UInt64(t) * 1_000_000, 0, .read, q)) }
        }
        try e.advance(to: Micros.seconds(121))
        let d = try #require(e.damonMonitor(0))
        // The last aggregation (at 120 s) saw pages 0…63 touched every second.
        #expect(d.estimate >= 64 && d.estimate < 512, "\(d.estimate)")
        #expect(e.damonMonitor(1)?.estimate == 0)
        let snap = e.snapshot()
        #expect(snap.vms[0].mechanisms[DamonReport.self]?.absErrorSum != nil && snap.vms[0].samplePeriods == 3)
        try e.checkInvariants()
    }

    /// One VM of 1,000 pages in ten fixed regions of 100 (min = max = 10 regions: none can merge
    /// or split). Pages 0…499 are read every second from 41 s to 59 s, nothing else: a step up at
    /// 40 s, an aggregation boundary (aggregations every 20 s end at 20, 40, 60, 80 s; sample
    /// periods at 30, 60, 90 s). The first scored period is (30, 60] (the first one has no
    /// sample); its truth is 500 pages, and the aggregation that ends with it at 60 s saw
    /// regions 0…4 accessed: estimate 500, error 0. The next period's truth is 0, and the
    /// aggregation at 80 s saw nothing: error 0. Reading the aggregation before the one that
    /// ends with the period (at 40 s: nothing yet) would score an error of 500 pages.
    @Test("A sample period that ends with a DAMON aggregation is scored against that aggregation's estimate")
    func periodEndOnAggregation() throws {
        var p = Policy()
        p.estimator = .damon
        p.damonMinRegions = 10
        p.damonMaxRegions = 10
        let e = try makeEngine(pages: [1_000], policy: p)
        for t in 41...59 { try e.apply(rec(UInt64(t) * 1_000_000, 0, .read, 0, count: 500)) }
        try e.advance(to: Micros.seconds(91))
        let v = e.snapshot().vms[0]
        #expect(v.samplePeriods == 2)
        #expect(
            v.mechanisms[DamonReport.self]?.estimateSum == 500,
            "DAMON estimates summed over the scored periods: \(String(describing: v.mechanisms[DamonReport.self]?.estimateSum))"
        )
        #expect(
            v.mechanisms[DamonReport.self]?.absErrorSum == 0,
            "\(String(describing: v.mechanisms[DamonReport.self]?.absErrorSum))")
        #expect(v.trueSum == 500)
    }
}

@Suite("Tracking lag of an estimate")
struct TrackingLagTests {
    @Test(
        "A rise caught one period later, a fall caught one period later; a second rise before the first is caught counts it missed"
    )
    func handCase() {
        var t = TrackingLag()
        // Max 100 pages: a change is more than 10 pages; caught within 10 pages.
        let truths: [Double] = [0, 50, 50, 50, 0, 0], estimates: [Double] = [0, 30, 45, 50, 40, 5]
        var previous: Double?
        for k in truths.indices {
            t.period(previousTruth: previous, truth: truths[k], estimate: estimates[k], max: 100, index: UInt64(k + 1))
            previous = truths[k]
        }
        #expect(t.rises == 1 && t.riseLagPeriods == 1 && t.falls == 1 && t.fallLagPeriods == 1 && t.missed == 0)
        var u = TrackingLag()
        u.period(previousTruth: nil, truth: 0, estimate: 0, max: 100, index: 1)
        u.period(previousTruth: 0, truth: 50, estimate: 0, max: 100, index: 2)
        u.period(previousTruth: 50, truth: 100, estimate: 0, max: 100, index: 3)
        u.period(previousTruth: 100, truth: 100, estimate: 95, max: 100, index: 4)
        #expect(u.missed == 1 && u.rises == 1 && u.riseLagPeriods == 1)
    }
}
