import Foundation
import Testing
@testable import Replay
import TraceFormat

/// The true working set of a sample period ("touched this period") rests on 7-bit stamps that
/// come back every 127 periods, kept exact by a sweep that clears a 126th of the pages per
/// period (ReplayEngine.sweepStamps). Each period's truth must equal the number of distinct
/// pages the records touched in it, counted here from the records alone.
@Suite("Stamp sweep: the true working set stays exact over any number of periods")
struct StampSweepTests {
    static let period: UInt64 = 30_000_000  // the default sample period, 30 s

    /// Replays reads of (period, page) pairs for one VM of `pages` pages and returns each
    /// period's truth as the engine reports it, by period index.
    static func truths(
        pages: UInt64, reads: [(period: UInt64, page: UInt32)], fastForward: Bool, until periods: UInt64
    ) throws -> [UInt64: UInt64] {
        let header = TraceHeader(
            pageSize: 4096, vms: [VMDecl(id: 0, name: "vm0", pages: pages)], capture: CaptureFacts(source: "test"))
        let policy = Policy()
        let host = try HostConfig.resolve(header: header, policy: policy, spec: HostSpec(), startsOff: [])
        let e = try ReplayEngine(host: host, policy: policy)
        e.fastForward = fastForward
        e.recordPeriods = true
        // Mid-period times, so no record sits on a period boundary.
        for (k, p) in reads { try e.apply(rec(k * period + period / 2, 0, .read, p)) }
        try e.finish(settleUntil: Micros(periods * period))
        var out: [UInt64: UInt64] = [:]
        for row in e.periods { out[row.time.rawValue / period - 1] = row.truth }
        return out
    }

    /// Distinct pages per period, from the reads.
    static func expected(_ reads: [(period: UInt64, page: UInt32)]) -> [UInt64: UInt64] {
        var sets: [UInt64: Set<UInt32>] = [:]
        for (k, p) in reads { sets[k, default: []].insert(p) }
        return sets.mapValues { UInt64($0.count) }
    }

    @Test(
        "A page touched again exactly 127 periods later (its stamp back) counts as touched", arguments: [false, true])
    func stampComesBack(fastForward: Bool) throws {
        // Period 1 has stamp 2; period 128 has stamp 2 again. 300 pages: windows of 3 pages.
        let reads: [(period: UInt64, page: UInt32)] = [(1, 5), (1, 299), (128, 5), (128, 299), (129, 5)]
        let t = try Self.truths(pages: 300, reads: reads, fastForward: fastForward, until: 131)
        #expect(t[1] == 2)
        #expect(t[128] == 2)
        #expect(t[129] == 1)
        #expect(t[2] == 0)
        #expect(t[127] == 0)
        #expect(t[130] == 0)
    }

    @Test("Random touches over 700 periods, with gaps longer than a stamp cycle", arguments: [false, true])
    func random(fastForward: Bool) throws {
        var rng = SeededRandom(seed: 11)
        var reads: [(period: UInt64, page: UInt32)] = []
        var k: UInt64 = 1
        while k < 700 {
            // Few pages, each touched every ~100 periods: many pages come back to a period
            // with the stamp they were left with.
            for _ in 0..<rng.below(3) { reads.append((k, UInt32(rng.below(100)))) }
            // Mostly the next period; sometimes a gap of up to 300 periods.
            k += rng.below(10) == 0 ? 1 + rng.below(300) : 1
        }
        let t = try Self.truths(pages: 100, reads: reads, fastForward: fastForward, until: 702)
        let want = Self.expected(reads)
        #expect(t.count > 600)
        for (period, truth) in t.sorted(by: { $0.key < $1.key }) {
            #expect(truth == want[period] ?? 0, "period \(period)")
        }
    }
}
