import Foundation
import Replay
import TraceFormat

/// `study merge`: every planned cell's result gathered into one tidy table (CSV and JSON) and
/// one HTML report, in plan order. A cell without a current result is listed as missing (not
/// run, failed, or run with other inputs), never left out silently.
public struct StudyMerge: Sendable {
    public struct Missing: Sendable, Equatable {
        public var cell: Int
        public var trace: String
        public var run: String
        /// "not run", "failed: …", or "stale: its inputs changed since it ran".
        public var reason: String
    }

    public var csv: String
    public var json: String
    public var html: String
    public var missing: [Missing]
    public var merged: Int

    public static func merge(_ plan: StudyPlan, out: String) -> StudyMerge {
        var results: [(StudyCell, RunResult)] = []
        var missing: [Missing] = []
        for c in plan.cells {
            if let r = StudyRunner.existing(c, out: out), let report = r.report {
                var rr = RunResult(
                    name: c.run.name, report: report, timeline: [],
                    thresholds: FreeState.Thresholds(
                        machinePages: report.host.machinePages, policy: report.policy,
                        pageSize: report.host.pageSizeBytes),
                    machinePages: report.host.machinePages)
                rr.policyName = c.run.policyName
                rr.cell = c.run.cell
                results.append((c, rr))
                continue
            }
            var reason = "not run"
            if let d = FileManager.default.contents(atPath: StudyRunner.errorPath(out, c.id)),
                let e = try? JSONDecoder().decode(StudyCellResult.self, from: d), e.inputHash == c.inputHash
            {
                reason = "failed: " + (e.error ?? "unknown error")
            } else if FileManager.default.fileExists(atPath: StudyRunner.resultPath(out, c.id)) {
                reason = "stale: its inputs changed since it ran (or the file is unreadable); run it again"
            }
            missing.append(Missing(cell: c.id, trace: c.trace, run: c.run.name, reason: reason))
        }
        // The tidy table: compare's long table for each cell's run, after the cell id and trace.
        var table = TypedTable(columns: ["cell", "trace"])
        for (c, r) in results {
            let t = CompareRenderer.table([r])
            if table.rows.isEmpty { table.columns += t.columns }
            for row in t.rows { table.rows.append([.number(String(c.id)), .text(c.trace)] + row) }
        }
        return StudyMerge(
            csv: table.csv, json: json(table, missing: missing, cells: plan.cells.count),
            html: HTMLReport.studyPage(results, missing: missing, cells: plan.cells.count), missing: missing,
            merged: results.count)
    }

    /// The same table as JSON: the column names, then one array per row (numbers as numbers,
    /// text as strings, empty cells as null), and the missing cells.
    static func json(_ table: TypedTable, missing: [Missing], cells: Int) -> String {
        let str = TypedTable.jsonString
        var s = "{\n  \"schemaVersion\": 1,\n  \"cells\": \(cells),\n" + table.jsonMembers() + ",\n  \"missing\": [\n"
        s += missing.map {
            "    {\"cell\": \($0.cell), \"trace\": \(str($0.trace)), \"run\": \(str($0.run)), \"reason\": \(str($0.reason))}"
        }.joined(separator: ",\n")
        s += "\n  ]\n}\n"
        return s
    }
}
