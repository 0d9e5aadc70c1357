import Foundation
import Replay
import TraceFormat

/// What a trace says by itself, without the model (`tracetool stats`): pages touched, true
/// working sets per interval, zero pages, distinct contents, duplicates within and across VMs,
/// the oracle sharing bound over time (what an instant, perfect scanner would save: pages with
/// known content − distinct contents), and write churn (content changes per interval).
/// A page's content is the last one the trace reported for it.
public struct TraceStats: Codable, Equatable, Sendable {
    public struct VM: Codable, Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var pages: UInt64
        public var pagesTouched: UInt64
        public var pagesWithContent: UInt64
        public var zeroPages: UInt64
        public var distinctContents: UInt64
        public var duplicatesWithinVM: UInt64
        public var contentChanges: UInt64
        public var workingSetMean: Double
        public var workingSetMax: UInt64
    }
    public struct Interval: Codable, Equatable, Sendable {
        public var timeSeconds: Double
        public var oracleSavedPages: UInt64
        public var zeroPages: UInt64
        public var contentChanges: UInt64
        /// Pages each VM touched in the interval, in header order.
        public var workingSet: [UInt64]
    }
    public var schemaVersion = 2
    public var trace: String
    public var pageSize: UInt64
    public var intervalSeconds: Double
    public var records: UInt64
    public var vms: [VM]
    public var distinctContents: UInt64
    public var oracleSavedPages: UInt64
    public var duplicatesAcrossVMs: UInt64
    public var intervals: [Interval]

    public static func compute(path: String, interval: Micros) throws(TraceError) -> TraceStats {
        let reader = try TraceFile.open(path)
        let h = reader.header
        let index = VMIndexMap(h.vms)
        let n = h.vms.count
        let declared = h.vms.reduce(0.0) { $0 + Double($1.pages) }
        if let problem = MemoryBudget.problem(declared * 14 + Double(n) * 1024, for: "stats over \(Int(declared)) declared pages (14 bytes each)") {
            throw TraceError(file: path, .limitExceeded(problem))
        }
        // An interval row costs its storage (64 + 8 per VM) and, above all, its rendering: a
        // text table row or a JSON object (measured ~550 and ~940 bytes with 4 VMs; priced
        // here at 1 KiB + 96 per VM).
        let rowBytes = Double(1024 + 96 * n)
        /// Refuses `rows` interval rows reaching `end` µs if they do not fit the memory budget.
        func checkRows(_ rows: Double, to end: UInt64, record: UInt64?) throws(TraceError) {
            if let problem = MemoryBudget.problem(rows * rowBytes, for: "\(String(format: "%.0f", rows)) intervals of \(Units.formatDuration(interval)) (to \(String(format: "%.0f", Double(end) / 1e6)) s)") {
                throw TraceError(file: path, .limitExceeded(problem + ", or a longer --interval"), record: record)
            }
        }
        // A binary trace with a stored footer says where it ends: check every row up front.
        if reader.encoding == .binary, let last = try TraceFile.storedFooter(path)?.lastTime, interval.rawValue > 0 {
            try checkRows((Double(last) / Double(interval.rawValue)).rounded(.up) + 1, to: last, record: nil)
        }
        var hash = h.vms.map { [UInt64](repeating: 0, count: Int($0.pages)) }
        var known = h.vms.map { [Bool](repeating: false, count: Int($0.pages)) }
        var touched = h.vms.map { [Bool](repeating: false, count: Int($0.pages)) }
        var stamp = h.vms.map { [UInt32](repeating: 0, count: Int($0.pages)) }
        var global: [UInt64: UInt64] = [:]
        var perVM = [[UInt64: UInt64]](repeating: [:], count: n)
        var withContent = [UInt64](repeating: 0, count: n)
        var zero = [UInt64](repeating: 0, count: n)
        var changes = [UInt64](repeating: 0, count: n)
        var touchedCount = [UInt64](repeating: 0, count: n)
        var ws = [UInt64](repeating: 0, count: n)
        var wsSum = [Double](repeating: 0, count: n)
        var wsMax = [UInt64](repeating: 0, count: n)
        var intervalChanges: UInt64 = 0
        var intervals: [Interval] = []
        var period: UInt32 = 1
        var boundary = interval.rawValue
        var totalContent: UInt64 = 0

        func closeInterval(at t: UInt64) {
            let zeros = zero.reduce(0, +)
            intervals.append(Interval(timeSeconds: Double(t) / 1e6, oracleSavedPages: totalContent - UInt64(global.count),
                                      zeroPages: zeros, contentChanges: intervalChanges, workingSet: ws))
            for i in 0..<n {
                wsSum[i] += Double(ws[i])
                wsMax[i] = max(wsMax[i], ws[i])
                ws[i] = 0
            }
            intervalChanges = 0
            period += 1
        }

        func setContent(_ v: Int, _ p: Int, _ new: UInt64) {
            if known[v][p] {
                let old = hash[v][p]
                if old == new { return }
                changes[v] += 1
                intervalChanges += 1
                if global[old]! == 1 { global[old] = nil } else { global[old]! -= 1 }
                if perVM[v][old]! == 1 { perVM[v][old] = nil } else { perVM[v][old]! -= 1 }
                if old == 0 { zero[v] -= 1 }
            } else {
                known[v][p] = true
                withContent[v] += 1
                totalContent += 1
            }
            hash[v][p] = new
            global[new, default: 0] += 1
            perVM[v][new, default: 0] += 1
            if new == 0 { zero[v] += 1 }
        }

        // Intervals (docs/REPORT.md "Intervals"): interval k holds the records stamped in
        // ((k − 1)·iv, k·iv] (the first also those at 0) and is reported at its end, k·iv.
        // Captures stamp an interval's accesses at its end, so they land in that interval.
        var batch: [TraceRecord] = []
        var any = false
        while try reader.next(into: &batch) {
            for r in batch {
                any = true
                if interval.rawValue > 0 && r.time.rawValue > boundary {
                    // Every interval up to this record's gets a row: check they fit first.
                    let rows = Double(intervals.count) + ((Double(r.time.rawValue) - Double(boundary)) / Double(interval.rawValue)).rounded(.up) + 1
                    try checkRows(rows, to: r.time.rawValue, record: reader.recordsRead)
                }
                while interval.rawValue > 0 && r.time.rawValue > boundary {
                    closeInterval(at: boundary)
                    boundary += interval.rawValue
                }
                let v = index[r.vm.rawValue]!
                switch r.kind {
                case .read, .write:
                    for p in Int(r.ppn.rawValue)..<Int(r.ppn.rawValue + r.count) {
                        if !touched[v][p] { touched[v][p] = true; touchedCount[v] += 1 }
                        if stamp[v][p] != period { stamp[v][p] = period; ws[v] += 1 }
                    }
                case .content:
                    setContent(v, Int(r.ppn.rawValue), r.hash.rawValue)
                case .zero:
                    for p in Int(r.ppn.rawValue)..<Int(r.ppn.rawValue + r.count) { setContent(v, p, 0) }
                case .free, .powerOn, .powerOff:
                    break
                }
            }
        }
        if any { closeInterval(at: boundary) }
        let within = (0..<n).reduce(UInt64(0)) { $0 + withContent[$1] - UInt64(perVM[$1].count) }
        let oracle = totalContent - UInt64(global.count)
        let vms = h.vms.enumerated().map { i, d in
            VM(id: d.id, name: d.name, pages: d.pages, pagesTouched: touchedCount[i], pagesWithContent: withContent[i],
               zeroPages: zero[i], distinctContents: UInt64(perVM[i].count), duplicatesWithinVM: withContent[i] - UInt64(perVM[i].count),
               contentChanges: changes[i], workingSetMean: (wsSum[i] / Double(max(1, intervals.count)) * 1000).rounded() / 1000,
               workingSetMax: wsMax[i])
        }
        return TraceStats(trace: URL(fileURLWithPath: path).lastPathComponent, pageSize: UInt64(h.pageSize), intervalSeconds: interval.seconds,
                          records: reader.recordsRead, vms: vms, distinctContents: UInt64(global.count),
                          oracleSavedPages: oracle, duplicatesAcrossVMs: oracle - within, intervals: intervals)
    }
}
