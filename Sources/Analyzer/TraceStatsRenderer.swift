import Foundation
import Replay
import TraceFormat

/// `stats` as text (a per-VM table and a per-interval table) or canonical JSON.
public enum TraceStatsRenderer {
    public static func json(_ r: TraceStats) -> String { r.renderJSON() }
    public static func text(_ r: TraceStats) -> String { r.renderText() }
}

extension TraceStats {
    fileprivate func renderJSON() -> String {
        String(decoding: try! JSONEncoder.canonical(pretty: true).encode(self), as: UTF8.self) + "\n"
    }

    fileprivate func renderText() -> String {
        let mib = Double(pageSizeBytes) / 1_048_576
        /// "pages (MiB)".
        func pm(_ pages: UInt64) -> String { String(format: "%llu (%.1f)", pages, Double(pages) * mib) }
        func pmd(_ pages: Double) -> String { String(format: "%.1f (%.1f)", pages, pages * mib) }
        let span = intervals.last.map { String(format: "%g", $0.timeSeconds) } ?? "0"
        let empty = intervals.reduce(UInt64(0)) { $0 + ($1.emptyIntervalsBefore ?? 0) }
        let total = UInt64(intervals.count) + empty
        var s =
            "trace \(trace): \(records) records; \(total) intervals of \(String(format: "%g", intervalSeconds)) s, "
        s +=
            "ending at \(span) s (each holds the records stamped in (end − \(String(format: "%g", intervalSeconds)) s, end])\n"
        s +=
            "distinct contents \(distinctContents) (a count); oracle sharing bound at the end \(pm(oracleSavedPages)) pages (MiB): "
        s +=
            "\(pm(oracleSavedPages - duplicateAcrossVMsPages)) within VMs, \(pm(duplicateAcrossVMsPages)) across VMs\n\n"
        var rows: [[String]] = [
            [
                "vm", "name", "max pages (MiB)", "touched pages (MiB)", "with content pages (MiB)", "zero pages (MiB)",
                "zero % of content", "oracle saved pages (MiB)", "distinct contents", "dup within pages",
                "content changes", "WS mean pages (MiB)", "WS max pages (MiB)",
            ]
        ]
        for v in vms {
            let zeroShare =
                v.contentPages == 0 ? "-" : String(format: "%.1f%%", 100 * Double(v.zeroPages) / Double(v.contentPages))
            rows.append([
                String(v.id), v.name, pm(v.maxPages), pm(v.touchedPages), pm(v.contentPages), pm(v.zeroPages),
                zeroShare, pmd(v.oracleSavedPages), String(v.distinctContents), String(v.duplicateWithinVMPages),
                String(v.contentChanges),
                pmd(v.workingSetMeanPages), pm(v.workingSetMaxPages),
            ])
        }
        s += TextTable.render(rows, rightAligned: Set([0] + Array(2...12)))
        s +=
            "  WS = working set: pages touched in an interval; content changes = content records that changed a page's content\n"
        s +=
            "  oracle saved = the VM's share of the bound at the end: each page whose content n pages hold in all counts (n − 1)/n\n"
        // Intervals without records are not listed; a column counts those before each row.
        let gaps = empty > 0
        var iv: [[String]] = [
            ["interval end s", "oracle saved pages (MiB)", "zero pages (MiB)", "content changes"]
                + vms.map { "VM \($0.id) WS pages" } + (gaps ? ["empty intervals before"] : [])
        ]
        for i in intervals {
            iv.append(
                [
                    String(format: "%.1f", i.timeSeconds), pm(i.oracleSavedPages), pm(i.zeroPages),
                    String(i.contentChanges),
                ]
                    + i.workingSetPages.map(String.init) + (gaps ? [String(i.emptyIntervalsBefore ?? 0)] : []))
        }
        s += "\n" + TextTable.render(iv, rightAligned: Set(0..<(4 + vms.count + (gaps ? 1 : 0))))
        if gaps {
            s += "  \(empty) intervals without records are not listed: each touched nothing and changed no content\n"
        }
        return s
    }
}
