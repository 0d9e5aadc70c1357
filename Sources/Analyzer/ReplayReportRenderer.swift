import Foundation
import Replay
import TraceFormat

/// `replay`'s report as text (docs/REPORT.md, "Text") or canonical JSON (every key documented there).
public enum ReplayReportRenderer {
    public static func json(_ r: ReplayReport) -> String { r.renderJSON() }
    public static func text(_ r: ReplayReport) -> String { r.renderText() }
}

extension ReplayReport {
    fileprivate func renderJSON() -> String {
        let data = try! JSONEncoder.canonical(pretty: true).encode(self)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    fileprivate func renderText() -> String {
        let mib = Double(host.pageSizeBytes) / 1_048_576
        func m(_ pages: Double) -> String { String(format: "%.1f", pages * mib) }
        func pct(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.1f%%", 100 * a / b) : "-" }
        var s = "trace     \(trace)\n"
        s +=
            "host      \(host.machinePages) pages (\(String(format: "%.1f", host.machineMiB)) MiB, \(host.memorySource)), swap \(host.swapPages) pages, \(host.freeEndPages) free at end\n"
        s += "replayed  \(host.records) records, \(String(format: "%.1f", host.simulatedSeconds)) s simulated"
        if host.simulatedSeconds > host.tracedSeconds {
            s += String(
                format: " (traced %.1f s, then %.1f s of settle)", host.tracedSeconds,
                host.simulatedSeconds - host.tracedSeconds)
        }
        s += ", \(host.scanTicks) scan ticks, seed \(seed)\n"
        s +=
            "policy    \(policyName)"
            + (policyChanges.isEmpty
                ? " (the esx preset: the paper's defaults)"
                : " (differs from esx: " + policyChanges.joined(separator: " ") + ")")
        if policy.salting == .on {
            s += " (salts: " + vms.map { "VM \($0.id) \($0.salt ?? $0.id)" }.joined(separator: ", ") + ")"
        }
        s += "\n\n"
        func passes(_ x: Double) -> String { String(format: "%.2f", x) }
        var rows: [[String]] = [
            [
                "vm", "name", "max MiB", "resident MiB", "shared MiB", "saved MiB", "saved % of resident",
                "saved % of max", "zero MiB", "hint frames", "COW breaks", "scanned pages", "scan passes",
            ]
        ]
        for v in vms {
            rows.append([
                String(v.id), v.name, m(Double(v.maxPages)), m(Double(v.residentPages)),
                m(Double(v.sharing.sharedPages)),
                m(v.sharing.savedPages), pct(v.sharing.savedPages, Double(v.residentPages)),
                pct(v.sharing.savedPages, Double(v.maxPages)), m(Double(v.sharing.zeroSharedPages)),
                String(v.sharing.hintFrames), String(v.sharing.cowBreaks), String(v.sharing.scannedPages),
                passes(v.sharing.scanPasses),
            ])
        }
        let resident = vms.reduce(0.0) { $0 + Double($1.residentPages) }
        let configured = Double(vms.reduce(0) { $0 + $1.maxPages })
        rows.append([
            "all", "", m(configured), m(resident), m(Double(sharing.sharedPages)),
            m(sharing.savedPages), pct(sharing.savedPages, resident), pct(sharing.savedPages, configured),
            m(Double(sharing.zeroSharedPages)),
            String(sharing.hintFrames), String(sharing.cowBreaks), String(sharing.scannedPages),
            passes(sharing.scanPasses),
        ])
        s +=
            "Sharing (MiB at the end; scan passes = scanned pages / max pages)\n"
            + TextTable.render(rows, rightAligned: Set([0] + Array(2...12)))
        s += scanLines()
        s +=
            "  shared frames \(Int(sharing.sharedFrames)), stale hints \(sharing.staleHints), volatile skips \(sharing.volatileSkipped), false matches \(sharing.falseMatches), overflow frames \(sharing.overflowFrames), table \(Int(sharing.tableBytes)) bytes\n"
        s +=
            "  KSM terms: pages_shared \(Int(sharing.ksm.sharedPages)), pages_sharing \(Int(sharing.ksm.sharingPages)), pages_unshared \(sharing.ksm.unsharedPages), pages_volatile \(sharing.ksm.volatilePages)\n\n"
        var f: [[String]] = [
            ["vm", "page accesses", "shadow hits", "hidden faults", "demand-zero", "COW faults", "invalidations"]
        ]
        for v in vms {
            f.append([
                String(v.id), String(v.pageAccesses), String(v.faults.shadowHits), String(v.faults.hiddenFaults),
                String(v.faults.demandZeroFaults), String(v.faults.cowFaults), String(v.faults.invalidations),
            ])
        }
        f.append([
            "all", String(vms.reduce(0) { $0 + $1.pageAccesses }), String(faults.shadowHits),
            String(faults.hiddenFaults),
            String(faults.demandZeroFaults), String(faults.cowFaults), String(faults.invalidations),
        ])
        s += "Faults (counts of events)\n" + TextTable.render(f, rightAligned: Set(0...6))
        var a: [[String]] = [
            [
                "vm", "min MiB", "target MiB", "alloc MiB", "mean alloc MiB", "balloon MiB (freed)",
                "balloon peak MiB (freed)",
                "swapped MiB", "swapped peak MiB", "guest refaults", "swap-ins", "double paging", "blocked s",
                "est. active MiB", "true active MiB",
            ]
        ]
        for v in vms {
            a.append([
                String(v.id) + (v.refused ? " (refused)" : ""), m(Double(v.allocation.minPages)),
                m(Double(v.allocation.targetEndPages)),
                m(Double(v.allocation.allocatedEndPages)), m(v.allocation.allocatedMeanPages),
                m(Double(v.reclaim.balloonEndPages)) + " (" + m(Double(v.reclaim.balloonFreedEndPages)) + ")",
                m(Double(v.reclaim.balloonPeakPages)) + " (" + m(Double(v.reclaim.balloonFreedPeakPages)) + ")",
                m(Double(v.reclaim.swappedEndPages)), m(Double(v.reclaim.swappedPeakPages)),
                String(v.reclaim.guestRefaults), String(v.reclaim.swapIn),
                String(v.reclaim.doublePaging), String(format: "%.0f", v.reclaim.blockedSeconds),
                m(v.idle.estimateMeanPages), m(v.idle.trueMeanPages),
            ])
        }
        s +=
            "\nAllocation and reclamation (MiB at the end unless named; counts are events; (freed): balloon pages whose inflation released host memory)\n"
            + TextTable.render(a, rightAligned: Set(1...14))
        if readsRecorded == false {
            s +=
                "  true active counts pages written only: the trace records no reads (capture.accesses interval-writes), so it is a lower bound\n"
        }
        s +=
            "  host-wide peaks (at one moment): balloon \(m(Double(reclaim.hostBalloonPeakPages))) MiB, of it \(m(Double(reclaim.hostBalloonFreedPeakPages))) MiB that freed host memory; swapped \(m(Double(reclaim.hostSwappedPeakPages))) MiB\n"
        if reclaim.balloonInflated > 0 {
            let none = reclaim.balloonInflated - reclaim.balloonInflatedFreeing
            s +=
                "  ballooning: \(reclaim.balloonInflated) pages inflated, \(reclaim.balloonInflatedFreeing) of them freed host memory; \(none) held none (never touched, given back untouched, or already swapped)\n"
        }
        if vms.contains(where: { $0.idle.damonMeanAbsErrorPages != nil }) {
            s += "  active-memory estimate, mean |error| per sample period against the pages really touched (MiB): "
            s +=
                vms.map {
                    "VM \($0.id) DAMON \(m($0.idle.damonMeanAbsErrorPages ?? 0)), ESX sampling \(m($0.idle.meanAbsErrorPages))"
                }.joined(separator: "; ") + "\n"
            func lag(_ t: TrackingLag?) -> String {
                guard let t else { return "-" }
                func mean(_ sum: UInt64, _ n: UInt64) -> String {
                    n == 0 ? "-" : String(format: "%.0f s", Double(sum) / Double(n) * policy.samplePeriod)
                }
                return
                    "rises \(t.rises) caught in \(mean(t.riseLagPeriods, t.rises)), falls \(t.falls) in \(mean(t.fallLagPeriods, t.falls)), \(t.missed) missed"
            }
            s += "  tracking (mean time to come within a tenth of max of a risen or fallen truth): "
            s +=
                vms.map { "VM \($0.id) DAMON \(lag($0.idle.damonTracking)); ESX \(lag($0.idle.esxTracking))" }.joined(
                    separator: " | ") + "\n"
        }
        if let fpr = freePageReporting {
            s +=
                "  free page reporting: \(fpr.reportedPages) pages (\(m(Double(fpr.reportedPages))) MiB) handed back, \(fpr.reusedPages) of them used again (demand-zero); per VM: "
            s +=
                vms.map {
                    "VM \($0.id) \($0.freePageReporting?.reportedPages ?? 0)/\($0.freePageReporting?.reusedPages ?? 0)"
                }.joined(separator: ", ") + " (reported/reused)\n"
        }
        if let z = compression {
            if z.contentRecordsWithSize == 0 {
                s +=
                    "  compression cache: the trace gives no compressed sizes (format version 1, or captured without them): only zero pages compress; every other page counted as incompressible\n"
            }
            s +=
                "  compression cache: \(z.compressedPages) pages compressed into it, \(z.decompressions) decompressed on access, \(z.evictedToSwap) written on to swap when full; "
            s +=
                "\(z.swappedIncompressible) swapped as incompressible, \(z.swappedSizeUnknown) with no known size; at the end \(z.endPages) pages in \(z.cacheEndPages) machine pages (\(m(Double(z.cacheEndPages))) MiB), "
            s += "at most \(z.cachePeakPages) at once; per VM: "
            s +=
                vms.map {
                    "VM \($0.id) \($0.compression?.compressedPages ?? 0)/\($0.compression?.decompressions ?? 0)/\($0.compression?.evictedToSwap ?? 0)"
                }.joined(separator: ", ") + " (compressed/decompressed/evicted)\n"
        }
        if let lp = largePages {
            s +=
                "  large pages: \(lp.formed) formed, \(lp.splits) split, \(lp.released) released; at most \(lp.peakPages) pages (\(m(Double(lp.peakPages))) MiB) inside them at once, "
            s +=
                "\(lp.endPages) at the end (\(String(format: "%.1f", lp.coverageEnd * 100))% of resident pages); the scan skipped \(lp.scanSkips) offers inside large pages, "
            s += "\(lp.lostShares) of which would have shared; per VM: "
            s +=
                vms.map {
                    "VM \($0.id) \($0.largePages?.formed ?? 0)/\($0.largePages?.splits ?? 0)/\($0.largePages?.lostShares ?? 0)"
                }.joined(separator: ", ") + " (formed/split/lost shares)\n"
        }
        let st = states.timeSeconds
        let tot = max(1e-9, st.high + (st.clear ?? 0) + st.soft + st.hard + st.low)
        let clear = st.clear.map { String(format: "clear %.1f%%, ", 100 * $0 / tot) } ?? ""
        s += String(
            format:
                "  states: high %.1f%%, %@soft %.1f%%, hard %.1f%%, low %.1f%% of the time; %llu transitions; end in %@\n",
            100 * st.high / tot, clear, 100 * st.soft / tot, 100 * st.hard / tot, 100 * st.low / tot,
            states.transitions.values.reduce(0, +), states.end)
        s += costText()
        for r in admission.refusals { s += "  " + r.sentence(pageSize: host.pageSizeBytes) + "\n" }
        return s
    }

    /// The cost model's estimate per VM and in all (docs/MODEL.md "Cost model"): stall and
    /// slowdown over the traced span; stall after it (--settle) apart.
    func costText() -> String {
        var rows: [[String]] = [
            [
                "vm", "name", "on s", "stall s", "slowdown %", "guest refaults s", "swap-ins s", "blocked s", "other s",
                "settle stall s",
            ]
        ]
        func row(_ id: String, _ name: String, _ c: Cost) -> [String] {
            let b = c.breakdownSeconds
            let other = c.stallSeconds - b.guestRefaults - b.swapIn - b.blocked
            return [
                id, name, String(c.onSeconds), String(format: "%.3f", c.stallSeconds),
                String(format: "%.3f", 100 * c.slowdown),
                String(format: "%.3f", b.guestRefaults), String(format: "%.3f", b.swapIn),
                String(format: "%.3f", b.blocked),
                String(format: "%.3f", max(0, other)), String(format: "%.3f", c.settleStallSeconds),
            ]
        }
        for v in vms { rows.append(row(String(v.id), v.name, v.cost)) }
        rows.append(row("all", "", cost))
        var s =
            "\nCost model (estimated stall over the traced span; slowdown = stall / powered-on time; docs/MODEL.md \"Cost model\")\n"
        s += TextTable.render(rows, rightAligned: Set([0] + Array(2...9)))
        if let id = cost.worstVMId, let worst = vms.first(where: { $0.id == id }) {
            s += String(
                format: "  worst VM: %u (%@), slowdown %.3f%%", id, worst.name, 100 * (cost.worstVMSlowdown ?? 0))
            s +=
                cost.settleOnSeconds > 0
                ? String(
                    format: "; the %llu VM-seconds of --settle are not in it (their stall: %.3f s)\n",
                    cost.settleOnSeconds, cost.settleStallSeconds) : "\n"
        }
        return s
    }

    /// The scan's progress in words: nothing when every powered-on VM had a full pass and the
    /// per-VM rate was not capped.
    func scanLines() -> String {
        guard policy.sharing != .off else { return "" }
        var s = ""
        let on = vms.filter(\.poweredOn)
        if scan.cappedByTotal {
            s += String(
                format:
                    "  scan rate capped: %d VMs × shareScanVM %g pages/s > shareScanTotal %g, so each VM gets %g pages/s\n",
                on.count, policy.shareScanVM, policy.shareScanTotal, scan.ratePerVMPagesPerSecond)
        }
        if !scan.vmsBeforeFullPass.isEmpty {
            let parts = vms.filter { scan.vmsBeforeFullPass.contains($0.id) }
                .map {
                    String(
                        format: "VM %u %.1f%%", $0.id,
                        100 * Double($0.sharing.scannedPages) / Double(max(1, $0.maxPages)))
                }
            let settle =
                scan.fullPassSettleSeconds.map {
                    "; about \(ReplayReport.roundUpDuration($0)) more of --settle would complete one pass"
                } ?? ""
            s +=
                "  scan incomplete: the run ended before the scanner visited every page once (\(parts.joined(separator: ", ")) of max)\(settle)\n"
        }
        return s
    }

    /// A duration for a suggestion, rounded up: seconds under two minutes, else whole minutes.
    static func roundUpDuration(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds.rounded(.up)))s" : "\(Int((seconds / 60).rounded(.up)))m"
    }
}
