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
                var rr = RunResult(name: c.run.name, report: report, timeline: [], thresholds: FreeState.Thresholds(machinePages: report.host.machinePages, policy: report.policy, pageSize: report.host.pageSizeBytes),
                                   machinePages: report.host.machinePages)
                rr.policyName = c.run.policyName
                rr.cell = c.run.cell
                results.append((c, rr))
                continue
            }
            var reason = "not run"
            if let d = FileManager.default.contents(atPath: StudyRunner.errorPath(out, c.id)),
               let e = try? JSONDecoder().decode(StudyCellResult.self, from: d), e.inputHash == c.inputHash {
                reason = "failed: " + (e.error ?? "unknown error")
            } else if FileManager.default.fileExists(atPath: StudyRunner.resultPath(out, c.id)) {
                reason = "stale: its inputs changed since it ran (or the file is unreadable); run it again"
            }
            missing.append(Missing(cell: c.id, trace: c.trace, run: c.run.name, reason: reason))
        }
        // The tidy table: compare's CSV columns for each cell's run, after the cell id and trace.
        var header = "cell,trace"
        var rows: [String] = []
        for (c, r) in results {
            let lines = CompareRenderer.csv([r]).split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            if rows.isEmpty { header += "," + lines[0] }
            for l in lines.dropFirst() { rows.append("\(c.id),\(CompareRenderer.csvField(c.trace)),\(l)") }
        }
        let csv = ([header] + rows).joined(separator: "\n") + "\n"
        return StudyMerge(csv: csv, json: json(header: header, rows: rows, missing: missing, cells: plan.cells.count),
                          html: HTMLReport.studyPage(results, missing: missing, cells: plan.cells.count), missing: missing, merged: results.count)
    }

    /// The same table as JSON: the column names, then one array per row (numbers as numbers,
    /// empty cells as null), and the missing cells.
    static func json(header: String, rows: [String], missing: [Missing], cells: Int) -> String {
        func str(_ s: String) -> String {
            var o = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                case "\n": o += "\\n"
                case _ where u.value < 0x20: o += String(format: "\\u%04x", u.value)
                default: o.unicodeScalars.append(u)
                }
            }
            return o + "\""
        }
        func value(_ f: String) -> String {
            if f.isEmpty { return "null" }
            if let d = Double(f), d.isFinite, f.first != "+", !f.hasPrefix("0x") { return f.hasPrefix(".") ? "0" + f : f }
            return str(f)
        }
        var s = "{\n  \"schemaVersion\": 1,\n  \"cells\": \(cells),\n  \"columns\": [" + CSVLine.fields(header).map(str).joined(separator: ", ") + "],\n  \"rows\": [\n"
        s += rows.map { "    [" + CSVLine.fields($0).map(value).joined(separator: ", ") + "]" }.joined(separator: ",\n")
        s += "\n  ],\n  \"missing\": [\n"
        s += missing.map { "    {\"cell\": \($0.cell), \"trace\": \(str($0.trace)), \"run\": \(str($0.run)), \"reason\": \(str($0.reason))}" }.joined(separator: ",\n")
        s += "\n  ]\n}\n"
        return s
    }
}

/// Splits one CSV line written by `CompareRenderer.csvField` (quotes doubled inside quotes).
enum CSVLine {
    static func fields(_ line: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false
        var it = Array(line)
        var i = 0
        while i < it.count {
            let ch = it[i]
            if quoted {
                if ch == "\"" {
                    if i + 1 < it.count && it[i + 1] == "\"" { cur.append("\""); i += 1 } else { quoted = false }
                } else { cur.append(ch) }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                out.append(cur)
                cur = ""
            } else { cur.append(ch) }
            i += 1
        }
        out.append(cur)
        it.removeAll()
        return out
    }
}
