import Foundation
import Replay

/// `--timeline FILE.csv`: one row per VM per interval (docs/REPORT.md "--timeline"). Memory in
/// MiB (three decimals; the JSON report has exact pages), times in seconds, counts as they are.
public enum TimelineRenderer {
    public static let header =
        "time_seconds,vm_id,vm_name,allocated_mib,target_mib,balloon_mib,balloon_freed_mib,swapped_mib,shared_saved_mib,active_estimate_mib,active_true_mib,free_mib,state,guest_refaults,swap_ins"

    /// `names`: each VM's name by id (the trace's).
    public static func csv(_ rows: [TimelineRow], pageSize: UInt64, names: [UInt32: String]) -> String {
        var s = header + "\n"
        append(rows, prefix: "", pageSize: pageSize, names: names, to: &s)
        return s
    }

    /// `compare --timeline`: every run's rows in one long table, run by run, each row
    /// prefixed with the run's policy name, one column per swept key (named after it) and the
    /// run's seed.
    public static func csv(_ results: [RunResult]) -> String {
        let keys = CompareSummary.sweptKeys(results)
        var s =
            (["policy"] + keys.map(CompareRenderer.snakeCase) + ["seed"]).map(CompareRenderer.csvField).joined(
                separator: ",") + "," + header + "\n"
        for r in results {
            let values = keys.map { k in r.cell.first { $0.key == k }?.value ?? "" }
            let names = Dictionary(uniqueKeysWithValues: r.report.vms.map { ($0.id, $0.name) })
            append(
                r.timeline,
                prefix: ([r.policyName] + values + [String(r.report.policy.seed)]).map(CompareRenderer.csvField).joined(
                    separator: ",") + ",",
                pageSize: r.report.host.pageSizeBytes, names: names, to: &s)
        }
        return s
    }

    private static func append(
        _ rows: [TimelineRow], prefix: String, pageSize: UInt64, names: [UInt32: String], to s: inout String
    ) {
        let mib = Double(pageSize) / 1_048_576
        func m(_ pages: Double) -> String { String(format: "%.3f", pages * mib) }
        for r in rows {
            s += prefix
            s += "\(formatSeconds(r.time.rawValue)),\(r.vm),\(CompareRenderer.csvField(names[r.vm] ?? "")),"
            s += [
                m(Double(r.allocated)), m(Double(r.target)), m(Double(r.balloon)), m(Double(r.balloonFreed)),
                m(Double(r.swapped)),
                m(r.sharedSaved), m(Double(r.activeEstimate)), m(Double(r.activeTrue)), m(Double(r.free)),
            ].joined(separator: ",")
            s += ",\(r.state.rawValue),\(r.guestRefaults),\(r.swapIns)\n"
        }
    }

    static func formatSeconds(_ us: UInt64) -> String {
        us % 1_000_000 == 0 ? String(us / 1_000_000) : String(format: "%.6f", Double(us) / 1e6)
    }
}
