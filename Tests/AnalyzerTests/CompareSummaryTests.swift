import Foundation
import Testing
@testable import Analyzer
@testable import Replay

/// `compare --seeds`: means, 95% intervals and the best/tie marks, against hand arithmetic.
@Suite("compare --seeds: mean, 95% interval (Student's t), best only when intervals are apart")
struct CompareSummaryTests {
    @Test("Intervals by hand: [1, 2, 3] → 2 ± 4.303·1/√3; one value has no spread; t beyond the table")
    func intervals() {
        let (m, hw) = CompareSummary.interval([1, 2, 3])
        #expect(m == 2)
        #expect(abs(hw - 4.303 / 3.0.squareRoot()) < 1e-12)
        #expect(CompareSummary.interval([7]) == (7, 0))
        // [10, 10, 10, 10]: no spread at all.
        #expect(CompareSummary.interval([10, 10, 10, 10]).halfWidth == 0)
        #expect(CompareSummary.t95(4) == 2.776 && CompareSummary.t95(30) == 2.042)
        #expect(abs(CompareSummary.t95(60) - 2.000) < 0.002 && abs(CompareSummary.t95(120) - 1.980) < 0.002)
    }

    func summary(_ mean: Double, _ hw: Double) -> CompareSummary {
        CompareSummary(policyName: "p", cell: [], runs: [0], mean: [mean], halfWidth: [hw])
    }

    @Test(
        "Lower is better: 10 ± 1 vs 13 ± 1 is a best; 10 ± 2 vs 13 ± 2 overlap at 12…11: a tie of both; a third far off stays out"
    )
    func marks() {
        #expect(
            CompareSummary.mark([summary(13, 1), summary(10, 1)], metric: 0, lowerIsBetter: true, eligible: [0, 1])
                == .best(1))
        #expect(
            CompareSummary.mark(
                [summary(13, 2), summary(10, 2), summary(30, 1)], metric: 0, lowerIsBetter: true, eligible: [0, 1, 2])
                == .tie([0, 1]))
        // Higher is better, and an ineligible column (it refused a VM) is left out.
        #expect(
            CompareSummary.mark(
                [summary(13, 1), summary(10, 1), summary(50, 0)], metric: 0, lowerIsBetter: false, eligible: [0, 1])
                == .best(0))
        #expect(
            CompareSummary.mark([summary(5, 0), summary(5, 0)], metric: 0, lowerIsBetter: true, eligible: [0, 1]) == nil
        )
        #expect(
            CompareSummary.mark([summary(5, 0), summary(6, 0)], metric: 0, lowerIsBetter: nil, eligible: [0, 1]) == nil)
    }

    @Test("Column names: knob keys in snake_case")
    func columns() {
        #expect(
            CompareRenderer.snakeCase("idleTax") == "idle_tax"
                && CompareRenderer.snakeCase("host-memory") == "host_memory")
        #expect(
            CompareRenderer.snakeCase("shareScanVM") == "share_scan_vm"
                && CompareRenderer.snakeCase("overcommit") == "overcommit")
    }
}
