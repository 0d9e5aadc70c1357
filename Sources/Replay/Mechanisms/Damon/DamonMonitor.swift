import TraceFormat

/// DAMON-style region-based access monitoring (docs/MODEL.md "DAMON estimator"), as Linux's
/// mm/damon describes it: the VM's pages are split into contiguous regions; every sampling
/// interval one randomly chosen page per region is checked for an access since it was chosen
/// (its "accessed bit"), and the region's access count goes up when it was; every aggregation
/// interval adjacent regions whose counts differ by at most a tenth of the most a count can be
/// merge (size-weighted count, merged size at most pages / minRegions), the working-set
/// estimate is taken (the pages of every region accessed at least once), the counts are reset,
/// and every region is split in two at a random point while the total stays at most maxRegions.
///
/// Contract: `accessed(_:)` is called for every touch; `sample(rng:)` once per sampling
/// interval; `aggregate(rng:)` once per aggregation interval. Deterministic given its streams.
final class DamonMonitor: AccessObserver {
    struct Region: Equatable {
        var start: Int
        var end: Int
        var accesses: Int
        var samplePage: Int
    }

    let pages: Int
    let minRegions: Int
    let maxRegions: Int
    let samplesPerAggregation: Int
    @exclusivity(unchecked) private(set) var regions: [Region] = []
    /// Per page: chosen as a region's sample and not accessed since.
    @exclusivity(unchecked) private var armed: [UInt64]
    /// The working-set estimate of the last aggregation, pages (all pages before the first).
    @exclusivity(unchecked) private(set) var estimate: Int

    init(pages: Int, minRegions: Int, maxRegions: Int, samplesPerAggregation: Int) {
        self.pages = pages
        self.minRegions = max(1, min(minRegions, pages))
        self.maxRegions = max(self.minRegions, maxRegions)
        self.samplesPerAggregation = max(1, samplesPerAggregation)
        armed = Array(repeating: 0, count: (pages + 63) / 64)
        estimate = pages
        reset()
    }

    /// Back to the initial regions: `minRegions` of equal size (the last takes the rest).
    func reset() {
        regions = []
        let n = minRegions
        for k in 0..<n {
            let s = pages * k / n, e = pages * (k + 1) / n
            if e > s { regions.append(Region(start: s, end: e, accesses: 0, samplePage: -1)) }
        }
        for i in armed.indices { armed[i] = 0 }
        estimate = pages
    }

    @inline(__always) private func isArmed(_ p: Int) -> Bool { armed[p >> 6] & (1 << UInt64(p & 63)) != 0 }
    @inline(__always) private func arm(_ p: Int) { armed[p >> 6] |= 1 << UInt64(p & 63) }
    @inline(__always) private func disarm(_ p: Int) { armed[p >> 6] &= ~(1 << UInt64(p & 63)) }

    /// The guest touched page `p`: its accessed bit is set (the armed mark goes).
    @inline(__always) func accessed(_ p: Int) {
        if isArmed(p) { disarm(p) }
    }

    /// One sampling interval: each region whose sample page was accessed counts an access, then
    /// draws its next sample page.
    func sample(rng: inout SeededRandom) {
        for k in regions.indices {
            let r = regions[k]
            if r.samplePage >= 0 {
                if !isArmed(r.samplePage) { regions[k].accesses += 1 } else { disarm(r.samplePage) }
            }
            let p = r.start + Int(rng.below(UInt64(r.end - r.start)))
            regions[k].samplePage = p
            arm(p)
        }
    }

    /// One aggregation interval: merge, estimate, reset the counts, split.
    func aggregate(rng: inout SeededRandom) {
        // Merge adjacent regions with close counts, within the size limit.
        let threshold = max(1, samplesPerAggregation / 10)
        let sizeLimit = max(1, pages / minRegions)
        var merged: [Region] = []
        for r in regions {
            if var last = merged.last, abs(last.accesses - r.accesses) <= threshold, r.end - last.start <= sizeLimit {
                let a = last.end - last.start, b = r.end - r.start
                last.accesses = (last.accesses * a + r.accesses * b) / (a + b)
                // The merged region keeps checking both sample pages' bits until the next draw:
                // drop the second's mark so only one sample is pending.
                if r.samplePage >= 0 { disarm(r.samplePage) }
                last.end = r.end
                merged[merged.count - 1] = last
            } else {
                merged.append(r)
            }
        }
        regions = merged
        estimate = regions.reduce(0) { $0 + ($1.accesses > 0 ? $1.end - $1.start : 0) }
        // Reset the counts; split each region in two at a random point while room remains.
        var split: [Region] = []
        var room = maxRegions - regions.count
        for var r in regions {
            r.accesses = 0
            let size = r.end - r.start
            if room > 0 && size >= 2 {
                // A cut at 10%…90% of the region, rounded to a page.
                let cut = r.start + max(1, min(size - 1, size * (1 + Int(rng.below(9))) / 10))
                var left = r, right = r
                left.end = cut
                right.start = cut
                // The pending sample stays with the half that holds it; the other draws fresh.
                if r.samplePage >= cut { left.samplePage = -1 } else { right.samplePage = -1 }
                split.append(left)
                split.append(right)
                room -= 1
            } else {
                split.append(r)
            }
        }
        regions = split
    }
}
