import CPrefetch
import Foundation
import Replay
import TraceFormat

/// What a trace says by itself, without the model (`tracetool stats`): pages touched, true
/// working sets per interval, zero pages, distinct contents, duplicates within and across VMs,
/// the oracle sharing bound over time (what an instant, perfect scanner would save: pages with
/// known content − distinct contents), and write churn (content changes per interval).
/// A page's content is the last one the trace reported for it.
///
/// The bound at the end is also split over the VMs: a content held by n pages in all keeps one
/// frame and saves n − 1, and each of its pages is credited (n − 1)/n, so a VM's share is
/// Σ (1 − 1/n) over its pages with content (fractional; the shares sum to the host's bound).
public struct TraceStats: Codable, Equatable, Sendable {
    public struct VM: Codable, Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var maxPages: UInt64
        public var touchedPages: UInt64
        public var contentPages: UInt64
        public var zeroPages: UInt64
        public var distinctContents: UInt64
        public var duplicateWithinVMPages: UInt64
        /// This VM's share of the oracle bound at the end (pages, fractional; see above).
        public var oracleSavedPages: Double
        public var contentChanges: UInt64
        public var workingSetMeanPages: Double
        public var workingSetMaxPages: UInt64
    }
    public struct Interval: Codable, Equatable, Sendable {
        public var timeSeconds: Double
        public var oracleSavedPages: UInt64
        public var zeroPages: UInt64
        public var contentChanges: UInt64
        /// Pages each VM touched in the interval, in header order.
        public var workingSetPages: [UInt64]
        /// Intervals without a record just before this one (absent when none): they are not
        /// listed; each touched nothing, changed no content, and had this row's predecessor's
        /// oracle bound and zero pages (docs/REPORT.md "stats").
        public var emptyIntervalsBefore: UInt64? = nil
        /// Pages of all VMs whose content is known at the interval's end (the memory the trace
        /// says they hold, zero pages included): the oracle bound's base.
        public var contentPages: UInt64? = nil
    }
    public static let schemaVersion = 5
    public var schemaVersion = TraceStats.schemaVersion
    public var trace: String
    public var pageSizeBytes: UInt64
    public var intervalSeconds: Double
    public var records: UInt64
    public var vms: [VM]
    public var distinctContents: UInt64
    public var oracleSavedPages: UInt64
    public var duplicateAcrossVMsPages: UInt64
    public var intervals: [Interval]

    public static func compute(path: String, interval: Micros) throws(TraceError) -> TraceStats {
        let reader = try TraceFile.open(path)
        let h = reader.header
        let index = VMIndexMap(h.vms)
        let n = h.vms.count
        let declared = h.vms.reduce(0.0) { $0 + Double($1.pages) }
        if let problem = MemoryBudget.problem(
            declared * 14 + Double(n) * 1024, for: "stats over \(Int(declared)) declared pages (14 bytes each)")
        {
            throw TraceError(file: path, .limitExceeded(problem))
        }
        // An interval row costs its storage (64 + 8 per VM) and, above all, its rendering: a
        // text table row or a JSON object (measured ~550 and ~940 bytes with 4 VMs; priced
        // here at 1 KiB + 96 per VM).
        let rowBytes = Double(1024 + 96 * n)
        /// Refuses `rows` interval rows reaching `end` µs if they do not fit the memory budget.
        func checkRows(_ rows: Double, to end: UInt64, record: UInt64?) throws(TraceError) {
            if let problem = MemoryBudget.problem(
                rows * rowBytes,
                for:
                    "\(String(format: "%.0f", rows)) intervals of \(Units.formatDuration(interval)) (to \(String(format: "%.0f", Double(end) / 1e6)) s)"
            ) {
                throw TraceError(file: path, .limitExceeded(problem + ", or a longer --interval"), record: record)
            }
        }
        // Per page, in flat arrays (VM v's pages from base[v]): the content hash, and one word
        // holding the interval of the last touch (low 30 bits) and two bits (content known,
        // ever touched), so that an access touches one cache line.
        var base = [Int](repeating: 0, count: n + 1)
        for (i, d) in h.vms.enumerated() { base[i + 1] = base[i] + Int(d.pages) }
        // The per-page and per-VM arrays are touched on every record: plain buffers, so the
        // hot loop neither checks uniqueness nor reaches them through closure boxes.
        func buffer<T>(_ count: Int, _ value: T) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: max(count, 1))
            b.initialize(repeating: value)
            return b
        }
        // The per-page arrays start zero and are obtained already zeroed (large ones are
        // mapped, not written, and marked for transparent huge pages as the replay's are: the
        // prefetches of pages ahead then miss the TLB far less), so memory follows the pages
        // the trace touches, not the declared ones.
        func zeroed<T>(_ count: Int, _: T.Type) throws(TraceError) -> UnsafeMutableBufferPointer<T> {
            guard let p = ZeroedMemory.allocate(T.self, UInt64(max(count, 1))) else {
                throw TraceError(file: path, .limitExceeded("no memory for stats over \(count) declared pages"))
            }
            return UnsafeMutableBufferPointer(start: p, count: max(count, 1))
        }
        let hash = try zeroed(base[n], UInt64.self)
        let word = try zeroed(base[n], UInt32.self)
        let knownBit: UInt32 = 1 << 31, touchedBit: UInt32 = 1 << 30, stampMask: UInt32 = touchedBit - 1
        var global = CountMap()
        let withContent = buffer(n, UInt64(0))
        let zero = buffer(n, UInt64(0))
        let changes = buffer(n, UInt64(0))
        let touchedCount = buffer(n, UInt64(0))
        let ws = buffer(n, UInt64(0))
        let wsSum = buffer(n, 0.0)
        let wsMax = buffer(n, UInt64(0))
        defer {
            ZeroedMemory.release(hash.baseAddress!); ZeroedMemory.release(word.baseAddress!); withContent.deallocate();
            zero.deallocate();
            changes.deallocate()
            touchedCount.deallocate(); ws.deallocate(); wsSum.deallocate(); wsMax.deallocate()
        }
        var intervalChanges: UInt64 = 0
        var intervals: [Interval] = []
        // Intervals so far, listed or not, and those without records not yet listed (they are
        // counted into the next row, never walked: time and memory follow the records).
        var intervalsTotal: UInt64 = 0
        var pendingEmpty: UInt64 = 0
        var period: UInt32 = 1
        var boundary = interval.rawValue
        var totalContent: UInt64 = 0

        func closeInterval(at t: UInt64) {
            let zeros = zero.reduce(0, +)
            intervals.append(
                Interval(
                    timeSeconds: Double(t) / 1e6, oracleSavedPages: totalContent - UInt64(global.count),
                    zeroPages: zeros, contentChanges: intervalChanges, workingSetPages: Array(ws),
                    emptyIntervalsBefore: pendingEmpty > 0 ? pendingEmpty : nil, contentPages: totalContent))
            intervalsTotal += 1
            pendingEmpty = 0
            for i in 0..<n {
                wsSum[i] += Double(ws[i])
                wsMax[i] = max(wsMax[i], ws[i])
                ws[i] = 0
            }
            intervalChanges = 0
            period += 1  // below 2^30: rows are priced at ≥ 1 KiB each against the memory budget
        }

        func setContent(_ v: Int, _ q: Int, _ new: UInt64) {
            if word[q] & knownBit != 0 {
                let old = hash[q]
                if old == new { return }
                changes[v] += 1
                intervalChanges += 1
                global.remove(old)
                if old == 0 { zero[v] -= 1 }
            } else {
                word[q] |= knownBit
                withContent[v] += 1
                totalContent += 1
            }
            hash[q] = new
            global.add(new)
            if new == 0 { zero[v] += 1 }
        }

        // Intervals (docs/REPORT.md "Intervals"): interval k holds the records stamped in
        // ((k − 1)·iv, k·iv] (the first also those at 0) and is reported at its end, k·iv.
        // Captures stamp an interval's accesses at its end, so they land in that interval.
        var any = false
        var lastVM = UInt32.max, v = 0
        var aheadVM = UInt32.max, aheadBase = 0
        let prefetchDistance = 16
        // Decoding runs a few batches ahead on a second thread.
        let source = ReadAhead(reader, depth: 3)
        defer { source.stop() }
        while true {
            let item = try source.next()
            guard let batch = item.records else { break }
            defer { source.recycle(batch) }
            let count = batch.count
            for i in 0..<count {
                // Start loading the page state of the record `prefetchDistance` ahead (and,
                // for a content record, its hash and the count map's slot for its content).
                if i + prefetchDistance < count {
                    let f = batch[i + prefetchDistance]
                    if f.vm.rawValue != aheadVM {
                        aheadVM = f.vm.rawValue
                        aheadBase = base[index[aheadVM]!]
                    }
                    let q = aheadBase + Int(f.ppn.rawValue)
                    tt_prefetch_write(word.baseAddress! + q)
                    if f.kind == .content {
                        tt_prefetch_write(hash.baseAddress! + q)
                        global.prefetch(f.hash.rawValue)
                    }
                }
                let r = batch[i]
                any = true
                if interval.rawValue > 0 && r.time.rawValue > boundary {
                    // The open interval gets a row now and this record's one at most later.
                    try checkRows(Double(intervals.count) + 2, to: r.time.rawValue, record: item.position.recordsRead)
                    closeInterval(at: boundary)
                    // The intervals wholly between hold no record: counted, not listed.
                    let iv = interval.rawValue
                    let skipped = (r.time.rawValue - boundary - 1) / iv
                    pendingEmpty = skipped
                    intervalsTotal += skipped
                    let (step, stepOverflow) = (skipped + 1).multipliedReportingOverflow(by: iv)
                    let (end, endOverflow) = boundary.addingReportingOverflow(step)
                    boundary = stepOverflow || endOverflow ? UInt64.max : end
                }
                if r.vm.rawValue != lastVM {
                    lastVM = r.vm.rawValue
                    v = index[lastVM]!
                }
                let first = base[v] + Int(r.ppn.rawValue)
                switch r.kind {
                case .read, .write:
                    // Branch-free on the page's word, so the loads of several records' pages
                    // (mostly cache misses) overlap instead of waiting on each other.
                    var newlyTouched: UInt64 = 0, inInterval: UInt64 = 0
                    for q in first..<(first + Int(r.count)) {
                        let w = word[q]
                        newlyTouched &+= UInt64(~w >> 30 & 1)
                        inInterval &+= w & stampMask != period ? 1 : 0
                        word[q] = w & knownBit | touchedBit | period
                    }
                    touchedCount[v] &+= newlyTouched
                    ws[v] &+= inInterval
                case .content:
                    setContent(v, first, r.hash.rawValue)
                case .zero:
                    for q in first..<(first + Int(r.count)) { setContent(v, q, 0) }
                case .free, .powerOn, .powerOff:
                    break
                }
            }
        }
        if any { closeInterval(at: boundary) }
        // One pass over each VM's pages with content: its distinct contents (counted here rather
        // than in a count map per VM kept up to date on every content record) and its share of
        // the bound (summed in page order: deterministic).
        var distinct = [UInt64](repeating: 0, count: n)
        var share = [Double](repeating: 0, count: n)
        for v in 0..<n {
            var m = CountMap()
            var kept = 0.0
            for q in base[v]..<base[v + 1] where word[q] & knownBit != 0 {
                m.add(hash[q])
                kept += 1 / Double(global.count(of: hash[q]))
            }
            distinct[v] = UInt64(m.count)
            share[v] = ((Double(withContent[v]) - kept) * 1000).rounded() / 1000
        }
        let within = (0..<n).reduce(UInt64(0)) { $0 + withContent[$1] - distinct[$1] }
        let oracle = totalContent - UInt64(global.count)
        let vms = h.vms.enumerated().map { i, d in
            VM(
                id: d.id, name: d.name, maxPages: d.pages, touchedPages: touchedCount[i], contentPages: withContent[i],
                zeroPages: zero[i], distinctContents: distinct[i], duplicateWithinVMPages: withContent[i] - distinct[i],
                oracleSavedPages: share[i], contentChanges: changes[i],
                workingSetMeanPages: (wsSum[i] / Double(max(1, intervalsTotal)) * 1000).rounded() / 1000,
                workingSetMaxPages: wsMax[i])
        }
        return TraceStats(
            trace: TraceFile.displayName(path), pageSizeBytes: UInt64(h.pageSize),
            intervalSeconds: interval.seconds,
            records: reader.recordsRead, vms: vms, distinctContents: UInt64(global.count),
            oracleSavedPages: oracle, duplicateAcrossVMsPages: oracle - within, intervals: intervals)
    }
}

/// How many pages hold each content hash: open addressing with linear probing and
/// backward-shift deletion, a multiplicative hash (the keys are digests already). A key and
/// its count share a slot, so a lookup touches one cache line. Only the number of distinct
/// keys is ever read, so no order is exposed.
struct CountMap {
    struct Slot {
        var key: UInt64
        /// 0 = empty slot.
        var count: UInt64
    }
    private var slots: [Slot] = Array(repeating: Slot(key: 0, count: 0), count: 16)
    private var shift: UInt64 = 60
    private(set) var count = 0

    @inline(__always) private static func home(_ k: UInt64, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Starts loading the slot where a lookup of `k` begins (a hint; changes nothing).
    @inline(__always) func prefetch(_ k: UInt64) {
        slots.withUnsafeBufferPointer { tt_prefetch_write($0.baseAddress! + CountMap.home(k, shift)) }
    }

    mutating func add(_ k: UInt64) {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let start = CountMap.home(k, shift)
        let added: Bool = slots.withUnsafeMutableBufferPointer { s in
            let mask = s.count - 1
            var i = start
            while s[i].count != 0 {
                if s[i].key == k { s[i].count += 1; return false }
                i = (i + 1) & mask
            }
            s[i] = Slot(key: k, count: 1)
            return true
        }
        if added { count += 1 }
    }

    /// One fewer page holds `k` (which must be present); the key goes when none does.
    mutating func remove(_ k: UInt64) {
        let shift = self.shift
        let removed: Bool = slots.withUnsafeMutableBufferPointer { s in
            let mask = s.count - 1
            var i = CountMap.home(k, shift)
            while s[i].key != k || s[i].count == 0 { i = (i + 1) & mask }
            s[i].count -= 1
            guard s[i].count == 0 else { return false }
            // Backward-shift: pull later entries of the probe run into the hole.
            var hole = i
            var j = (i + 1) & mask
            while s[j].count != 0 {
                let h = CountMap.home(s[j].key, shift)
                // Entry j may move to the hole if its home is not cyclically in (hole, j].
                let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
                if movable {
                    s[hole] = s[j]
                    s[j].count = 0
                    hole = j
                }
                j = (j + 1) & mask
            }
            return true
        }
        if removed { count -= 1 }
    }

    /// How many pages hold `k` (tests).
    func count(of k: UInt64) -> UInt64 {
        let mask = slots.count - 1
        var i = CountMap.home(k, shift)
        while slots[i].count != 0 {
            if slots[i].key == k { return slots[i].count }
            i = (i + 1) & mask
        }
        return 0
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(key: 0, count: 0), count: old.count * 2)
        shift -= 1
        let mask = slots.count - 1
        for e in old where e.count != 0 {
            var i = CountMap.home(e.key, shift)
            while slots[i].count != 0 { i = (i + 1) & mask }
            slots[i] = e
        }
    }
}
