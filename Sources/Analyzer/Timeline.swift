import Foundation
import Replay

/// `--timeline FILE.csv`: one row per VM per interval.
public enum TimelineRenderer {
    public static let header = "time_s,vm,allocated_pages,target_pages,balloon_pages,swapped_pages,shared_saved_pages,active_estimate_pages,active_true_pages,free_pages,state,guest_refaults,swap_ins"

    public static func csv(_ rows: [TimelineRow], pageSize: UInt64) -> String {
        var s = header + "\n"
        append(rows, prefix: "", to: &s)
        return s
    }

    /// `compare --timeline`: every run's rows in one long table, run by run, each row
    /// prefixed with the run's policy name and one column per swept key (named after it).
    public static func csv(_ results: [RunResult]) -> String {
        let keys = CompareSummary.sweptKeys(results)
        var s = (["policy"] + keys).map(CompareRenderer.csvField).joined(separator: ",") + "," + header + "\n"
        for r in results {
            let values = keys.map { k in r.cell.first { $0.key == k }?.value ?? "" }
            append(r.timeline, prefix: ([r.policyName] + values).map(CompareRenderer.csvField).joined(separator: ",") + ",", to: &s)
        }
        return s
    }

    private static func append(_ rows: [TimelineRow], prefix: String, to s: inout String) {
        for r in rows {
            s += prefix
            s += "\(formatSeconds(r.time.rawValue)),\(r.vm),\(r.allocated),\(r.target),\(r.balloon),\(r.swapped),"
            s += String(format: "%.3f", r.sharedSaved)
            s += ",\(r.activeEstimate),\(r.activeTrue),\(r.free),\(r.state.rawValue),\(r.guestRefaults),\(r.swapIns)\n"
        }
    }

    static func formatSeconds(_ us: UInt64) -> String {
        us % 1_000_000 == 0 ? String(us / 1_000_000) : String(format: "%.6f", Double(us) / 1e6)
    }
}
