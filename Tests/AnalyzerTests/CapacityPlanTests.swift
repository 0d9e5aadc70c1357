import Foundation
import Testing
@testable import Analyzer

/// `tracetool plan`'s pieces by hand (docs/PLAN.md): the grid, the bracket bisection narrows,
/// and the knee of a capacity curve.
@Suite("Capacity plan: grid, bracket, knee")
struct CapacityPlanTests {
    static func point(_ r: Double, _ s: Double) -> CapacityPlan.Point {
        CapacityPlan.Point(
            overcommit: r, hostMiB: 0, memoryForVMsMiB: 0, slowdownPercent: s, ci95LowPercent: s, ci95HighPercent: s,
            seedSlowdownPercent: [s], worstVMId: nil, worstVMName: nil, unpressured: false, refusedVMs: [], onGrid: true
        )
    }

    @Test("The grid: --from, the fixed ratios strictly between, --to")
    func grid() {
        var o = CapacityPlan.Options()
        #expect(CapacityPlan.grid(o) == [1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4])
        o.from = 1.1; o.to = 2.2
        #expect(CapacityPlan.grid(o) == [1.1, 1.25, 1.5, 1.75, 2, 2.2])
        o.from = 3; o.to = 3
        #expect(CapacityPlan.grid(o) == [3])
        o.from = 0.5; o.to = 40
        #expect(CapacityPlan.grid(o) == [0.5, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 8, 10, 12, 16, 24, 32, 40])
    }

    @Test(
        "The bracket is the last ratio within the budget and the first over it; none when all are within or the first is over"
    )
    func bracket() {
        let pts = [Self.point(1, 0.5), Self.point(1.5, 1.0), Self.point(2, 3.0), Self.point(3, 1.0)]
        #expect(CapacityPlan.bracket(pts, budget: 2)! == (1.5, 2))
        // Not monotone: the first ratio over the budget decides, never one above it.
        #expect(CapacityPlan.bracket(pts, budget: 0.8)! == (1, 1.5))
        #expect(CapacityPlan.bracket(pts, budget: 5) == nil)
        #expect(CapacityPlan.bracket(pts, budget: 0.1) == nil)
        // Exactly at the budget is within it.
        #expect(CapacityPlan.bracket(pts, budget: 1.0)! == (1.5, 2))
    }

    @Test(
        "The knee: flat, then a jump at 4× puts it at 3×; a curve straight in log scale, a flat one or two points have none"
    )
    func knee() {
        // y = log10(s + 0.02): −1.523, −1.523, −1.523, 1.001 → scaled 0, 0, 0, 1; x scaled 0, 1/3, 2/3, 1;
        // x − y is largest (2/3) at 3×.
        let jump = [Self.point(1, 0.01), Self.point(2, 0.01), Self.point(3, 0.01), Self.point(4, 10)]
        #expect(CapacityPlan.knee(jump, budget: 2) == 3)
        // s + 0.02 = 10^x: y scaled equals x scaled, nothing below the chord.
        let straight = [1.0, 2, 3].map { Self.point($0, pow(10, $0) - 0.02) }
        #expect(CapacityPlan.knee(straight, budget: 2) == nil)
        #expect(CapacityPlan.knee([Self.point(1, 1), Self.point(2, 1), Self.point(3, 1)], budget: 2) == nil)
        #expect(CapacityPlan.knee([Self.point(1, 0), Self.point(2, 9)], budget: 2) == nil)
        // A steady rise that steepens: 0.1, 0.2, 0.4, 5, 50 → the knee is the last point before
        // the steep part (3×): x − y is 0.5 − 0.208 at 3× against 0.75 − 0.619 at 4× and 0.25 − 0.100 at 2×.
        let rise = zip([1.0, 2, 3, 4, 5], [0.1, 0.2, 0.4, 5, 50]).map { Self.point($0, $1) }
        #expect(CapacityPlan.knee(rise, budget: 2) == 3)
    }

    @Test("Ratios print with at most three decimals")
    func fmt() {
        #expect(
            CapacityPlan.fmt(1) == "1" && CapacityPlan.fmt(1.5) == "1.5" && CapacityPlan.fmt(1.563) == "1.563"
                && CapacityPlan.fmt(1.0004) == "1" && CapacityPlan.fmt(3.25) == "3.25")
    }
}
