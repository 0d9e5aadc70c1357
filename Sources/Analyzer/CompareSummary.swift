import Foundation
import Replay

/// `compare --seeds N`: the runs of one policy at one grid cell, replayed with N seeds, as a
/// mean and a 95% confidence interval per metric (Student's t on the N values).
public struct CompareSummary: Sendable, Equatable {
    public var policyName: String
    public var cell: [SweepSetting]
    /// Indices into the results, in seed order.
    public var runs: [Int]
    public var mean: [Double]
    /// Half-width of the 95% interval per metric (0 with one seed).
    public var halfWidth: [Double]

    public var name: String { ([policyName] + cell.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    public func low(_ m: Int) -> Double { mean[m] - halfWidth[m] }
    public func high(_ m: Int) -> Double { mean[m] + halfWidth[m] }

    /// The two-sided 95% quantile of Student's t with `df` degrees of freedom: the table for
    /// 1…30, then 1.96 + 2.5/df (within 0.002 of the exact values at 40, 60 and 120).
    public static func t95(_ df: Int) -> Double {
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
            2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
            2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        guard df >= 1 else { return 0 }
        return df <= 30 ? table[df - 1] : 1.96 + 2.5 / Double(df)
    }

    /// Mean and 95% half-width of `values` (sample standard deviation, n − 1).
    public static func interval(_ values: [Double]) -> (mean: Double, halfWidth: Double) {
        let n = Double(values.count)
        guard values.count > 1 else { return (values.first ?? 0, 0) }
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, t95(values.count - 1) * variance.squareRoot() / n.squareRoot())
    }

    /// The swept keys of `results`, in `--sweep` order (the order they first appear).
    public static func sweptKeys(_ results: [RunResult]) -> [String] {
        var keys: [String] = []
        for r in results { for c in r.cell where !keys.contains(c.key) { keys.append(c.key) } }
        return keys
    }

    /// The results grouped by policy and cell: a replicate (an extra seed) joins the group of
    /// the run before it; any other run starts its own, so a policy given twice stays two.
    public static func group(_ results: [RunResult]) -> [CompareSummary] {
        var out: [CompareSummary] = []
        for (i, r) in results.enumerated() {
            if r.replicate > 0, !out.isEmpty {
                out[out.count - 1].runs.append(i)
            } else {
                out.append(CompareSummary(policyName: r.policyName, cell: r.cell, runs: [i], mean: [], halfWidth: []))
            }
        }
        for k in out.indices {
            for m in CompareRenderer.metrics {
                let (mean, hw) = interval(out[k].runs.map { m.value(results[$0].report) })
                out[k].mean.append(mean)
                out[k].halfWidth.append(hw)
            }
        }
        return out
    }

    /// Which summary is best for metric `m` among `eligible`: the best mean, starred only when
    /// its interval does not overlap the runner-up's; `tie` when it does; nil when the metric
    /// has no direction or every mean is equal.
    public enum Mark: Equatable { case best(Int), tie([Int]) }

    /// `mark` within each grid cell: the best of each cell (`.best`) and the columns tied with
    /// it (`.tie`), keyed by index into `s`.
    public static func marksByCell(
        _ s: [CompareSummary], metric m: Int, lowerIsBetter: Bool?, eligible: Set<Int>
    ) -> [Int: Mark] {
        var cells: [[SweepSetting]] = []
        for x in s where !cells.contains(x.cell) { cells.append(x.cell) }
        var out: [Int: Mark] = [:]
        for cell in cells {
            let idx = s.indices.filter { s[$0].cell == cell }
            let sub = idx.map { s[$0] }
            switch mark(
                sub, metric: m, lowerIsBetter: lowerIsBetter,
                eligible: Set(sub.indices.filter { eligible.contains(idx[$0]) }))
            {
            case .best(let b)?: out[idx[b]] = .best(idx[b])
            case .tie(let t)?: let tied = t.map { idx[$0] }; for i in tied { out[i] = .tie(tied) }
            case nil: break
            }
        }
        return out
    }

    /// Whether a column gets the best mark: the best of its cell or, with one seed per column
    /// (no intervals), equal to the best; with seeds a tie is not a win.
    public static func starred(_ mark: Mark?, seeds: Bool) -> Bool {
        switch mark {
        case .best?: return true
        case .tie?: return !seeds
        case nil: return false
        }
    }

    public static func mark(_ s: [CompareSummary], metric m: Int, lowerIsBetter: Bool?, eligible: Set<Int>) -> Mark? {
        guard let lower = lowerIsBetter else { return nil }
        let idx = s.indices.filter { eligible.contains($0) }
        guard idx.count > 1, Set(idx.map { s[$0].mean[m] }).count > 1 else { return nil }
        let sorted = idx.sorted { a, b in
            let x = s[a].mean[m], y = s[b].mean[m]
            return x != y ? (lower ? x < y : x > y) : a < b
        }
        let first = sorted[0], second = sorted[1]
        let apart = lower ? s[first].high(m) < s[second].low(m) : s[first].low(m) > s[second].high(m)
        if apart { return .best(first) }
        // Every summary whose interval overlaps the best's ties with it.
        let tied = sorted.filter { k in lower ? s[k].low(m) <= s[first].high(m) : s[k].high(m) >= s[first].low(m) }
        return .tie(tied.sorted())
    }
}
