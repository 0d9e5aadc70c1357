import Foundation
import Replay
import TraceFormat

/// The replay report (docs/REPORT.md documents every key). Plain data; renderers below.
public struct ReplayReport: Codable, Equatable, Sendable {
    public static let schemaVersion = 2

    public struct KSM: Codable, Equatable, Sendable {
        public var pagesShared: Double
        public var pagesSharing: Double
        public var pagesUnshared: UInt64
        public var pagesVolatile: UInt64
    }

    public struct Sharing: Codable, Equatable, Sendable {
        public var sharedPages: UInt64
        public var sharedFrames: Double
        public var savedPages: Double
        public var savedMiB: Double
        public var zeroSharedPages: UInt64
        public var hintFrames: UInt64
        public var staleHints: UInt64
        public var cowBreaks: UInt64
        public var impliedWrites: UInt64
        public var pagesScanned: UInt64
        /// pagesScanned / max pages: 1 = one full pass of the scanner.
        public var scanPasses: Double
        public var volatileSkipped: UInt64
        public var falseMatches: UInt64
        public var overflowFrames: UInt64
        public var tableBytes: Double
        public var ksm: KSM
    }

    public struct Faults: Codable, Equatable, Sendable {
        public var shadowHits: UInt64
        public var hiddenFaults: UInt64
        public var demandZero: UInt64
        public var cowFaults: UInt64
        public var invalidations: UInt64
    }

    public struct Reclaim: Codable, Equatable, Sendable {
        public var balloonPagesPeak: UInt64
        public var balloonPagesEnd: UInt64
        public var balloonInflated: UInt64
        public var balloonDeflated: UInt64
        public var guestRefaults: UInt64
        public var guestAllocations: UInt64
        public var doublePaging: UInt64
        public var swapOut: UInt64
        public var swapIn: UInt64
        public var swapPeakPages: UInt64
        public var swappedPagesEnd: UInt64
        public var sharedBeforeSwap: UInt64
        public var syncReclaims: UInt64
        public var blockedMicros: UInt64
    }

    /// The host's totals: counters summed over VMs; peaks are host-wide at one moment (not the
    /// sum of the VMs' own peaks, which may fall at different times).
    public struct HostReclaim: Codable, Equatable, Sendable {
        public var hostBalloonPeakPages: UInt64
        public var balloonPagesEnd: UInt64
        public var balloonInflated: UInt64
        public var balloonDeflated: UInt64
        public var guestRefaults: UInt64
        public var guestAllocations: UInt64
        public var doublePaging: UInt64
        public var swapOut: UInt64
        public var swapIn: UInt64
        public var hostSwappedPeakPages: UInt64
        public var swappedPagesEnd: UInt64
        public var sharedBeforeSwap: UInt64
        public var syncReclaims: UInt64
        public var blockedMicros: UInt64
    }

    public struct Allocation: Codable, Equatable, Sendable {
        public var minPages: UInt64
        public var maxPages: UInt64
        public var shares: UInt64
        public var targetEnd: UInt64
        public var allocatedEnd: UInt64
        public var allocatedMean: Double
    }

    public struct Idle: Codable, Equatable, Sendable {
        public var periods: UInt64
        public var estimateMean: Double
        public var trueMean: Double
        public var meanAbsError: Double
        public var samplingTraps: UInt64
    }

    public struct StateTimes: Codable, Equatable, Sendable {
        public var high: UInt64
        public var soft: UInt64
        public var hard: UInt64
        public var low: UInt64
    }

    public struct States: Codable, Equatable, Sendable {
        public var overcommitted: Bool
        public var end: String
        public var timeMicros: StateTimes
        public var transitions: [String: UInt64]
        public var thresholdPages: StateTimes
    }

    /// A power-on refused by admission control (docs/PAPER.md §6): it needs unreserved memory ≥
    /// min + overhead and unreserved swap ≥ max − min.
    public struct Refusal: Codable, Equatable, Sendable {
        public var vm: UInt32
        public var name: String
        public var timeSeconds: Double
        public var memoryNeededPages: UInt64
        public var memoryUnreservedPages: UInt64
        public var memoryShortPages: UInt64
        public var swapNeededPages: UInt64
        public var swapUnreservedPages: UInt64
        public var swapShortPages: UInt64

        public init(_ r: AdmissionRefusal, name: String) {
            vm = r.vm
            self.name = name
            timeSeconds = r.time.seconds
            memoryNeededPages = r.memoryNeededPages
            memoryUnreservedPages = r.memoryUnreservedPages
            memoryShortPages = r.memoryShortPages
            swapNeededPages = r.swapNeededPages
            swapUnreservedPages = r.swapUnreservedPages
            swapShortPages = r.swapShortPages
        }

        /// One line: which VM, when, which reservation failed and by how much.
        public func sentence(pageSize: UInt64) -> String {
            let mib = Double(pageSize) / 1_048_576
            func m(_ p: UInt64) -> String { String(format: "%.1f MiB", Double(p) * mib) }
            var why: [String] = []
            if memoryShortPages > 0 {
                why.append("unreserved memory \(m(memoryUnreservedPages)) < min + overhead \(m(memoryNeededPages)) (short \(m(memoryShortPages)))")
            }
            if swapShortPages > 0 {
                why.append("unreserved swap \(m(swapUnreservedPages)) < max − min \(m(swapNeededPages)) (short \(m(swapShortPages)))")
            }
            return "VM \(vm) (\(name)) refused at power-on at \(String(format: "%.1f", timeSeconds)) s: " + why.joined(separator: "; ")
                + "; its records are skipped"
        }
    }

    public struct Admission: Codable, Equatable, Sendable {
        /// VMs refused at least once.
        public var refused: [UInt32]
        public var refusals: [Refusal]
    }

    /// How far the sharing scanner got (docs/REPORT.md "Scan").
    public struct Scan: Codable, Equatable, Sendable {
        /// Candidates per second each powered-on VM gets: min(shareScanVM, shareScanTotal / VMs on).
        public var ratePerVMPagesPerSecond: Double
        /// VMs on × shareScanVM > shareScanTotal: the total rate caps each VM's.
        public var cappedByTotal: Bool
        /// Powered-on VMs whose pages the scanner has not all visited once (scanPasses < 1).
        public var vmsBeforeFullPass: [UInt32]
        /// Extra simulated time at the end rate that would complete one pass over every
        /// powered-on VM (0 when complete; absent when sharing is off).
        public var settleSecondsForFullPass: Double?
    }

    public struct VM: Codable, Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var maxPages: UInt64
        public var minPages: UInt64
        public var shares: UInt64
        public var overheadPages: UInt64
        public var balloon: Bool
        public var poweredOn: Bool
        public var records: UInt64
        public var skippedRecords: UInt64
        /// Page accesses (an access record of N pages counts N).
        public var pageAccesses: UInt64
        public var contentBacked: UInt64
        public var guestFreedPages: UInt64
        public var untouchedPages: UInt64
        public var privatePages: UInt64
        public var residentPages: UInt64
        public var sharing: Sharing
        public var faults: Faults
        public var reclaim: Reclaim
        public var allocation: Allocation
        public var idle: Idle
        public var refused: Bool
    }

    public struct Host: Codable, Equatable, Sendable {
        public var pageSize: UInt64
        public var machinePages: UInt64
        public var machineMiB: Double
        public var memorySource: String
        public var swapPages: UInt64
        public var overheadPages: UInt64
        public var freePagesEnd: UInt64
        public var simulatedSeconds: Double
        public var records: UInt64
        public var scanTicks: UInt64
    }

    public var schemaVersion: Int
    /// The policy's name in `compare` output (absent in `replay`).
    public var policyName: String?
    public var trace: String
    public var seed: UInt64
    public var policy: Policy
    public var host: Host
    public var vms: [VM]
    public var sharing: Sharing
    public var faults: Faults
    public var reclaim: HostReclaim
    public var states: States
    public var admission: Admission
    public var scan: Scan



    public init(trace: String, snapshot s: ReplaySnapshot) {
        let mib = Double(s.host.pageSize) / 1_048_576
        func makeSharing(_ c: VMCounters, pages: UInt64, shared: UInt64, frames: Double, zero: UInt64, hints: UInt64, overflow: UInt64, volatile: UInt64) -> Sharing {
            let saved = Double(shared) - frames
            return Sharing(sharedPages: shared, sharedFrames: round3(frames), savedPages: round3(saved),
                           savedMiB: round3(saved * mib), zeroSharedPages: zero, hintFrames: hints,
                           staleHints: c.staleHints, cowBreaks: c.cowBreaks, impliedWrites: c.impliedWrites,
                           pagesScanned: c.pagesScanned, scanPasses: pages > 0 ? round3(Double(c.pagesScanned) / Double(pages)) : 0,
                           volatileSkipped: c.volatileSkipped, falseMatches: c.falseMatches,
                           overflowFrames: overflow,
                           tableBytes: round3((frames + Double(hints)) * Double(ReplayEngine.frameBytes)),
                           ksm: KSM(pagesShared: round3(frames), pagesSharing: round3(saved), pagesUnshared: hints, pagesVolatile: volatile))
        }
        func makeFaults(_ c: VMCounters) -> Faults {
            Faults(shadowHits: c.shadowHits, hiddenFaults: c.hiddenFaults, demandZero: c.demandZero, cowFaults: c.cowFaults,
                   invalidations: c.invalidations)
        }
        func makeReclaim(_ c: VMCounters, peak: UInt64, end: UInt64, swapPeak: UInt64, swapEnd: UInt64) -> Reclaim {
            Reclaim(balloonPagesPeak: peak, balloonPagesEnd: end, balloonInflated: c.balloonInflated, balloonDeflated: c.balloonDeflated,
                    guestRefaults: c.guestRefaults, guestAllocations: c.guestAllocations, doublePaging: c.doublePaging,
                    swapOut: c.swapOut, swapIn: c.swapIn, swapPeakPages: swapPeak, swappedPagesEnd: swapEnd,
                    sharedBeforeSwap: c.sharedBeforeSwap, syncReclaims: c.syncReclaims, blockedMicros: c.blockedMicros)
        }
        var total = VMCounters()
        var bEnd: UInt64 = 0, sEnd: UInt64 = 0
        var vms: [VM] = []
        var shared: UInt64 = 0, zero: UInt64 = 0, volatile: UInt64 = 0
        for v in s.vms {
            total = total + v.counters
            shared += v.sharedPages
            zero += v.zeroSharedPages
            volatile += v.volatilePages
            bEnd += v.balloonPages; sEnd += v.swappedPages
            let periods = Double(max(v.samplePeriods, 1))
            vms.append(VM(id: v.config.id, name: v.config.name, maxPages: v.config.maxPages, minPages: v.config.minPages,
                          shares: v.config.shares, overheadPages: v.config.overheadPages, balloon: v.config.balloon,
                          poweredOn: v.on, records: v.counters.records, skippedRecords: v.counters.skippedRecords,
                          pageAccesses: v.counters.accessedPages, contentBacked: v.counters.contentBacked,
                          guestFreedPages: v.counters.guestFreed, untouchedPages: v.untouchedPages,
                          privatePages: v.privatePages, residentPages: v.privatePages + v.sharedPages,
                          sharing: makeSharing(v.counters, pages: v.config.maxPages, shared: v.sharedPages, frames: v.sharedFramesShare, zero: v.zeroSharedPages,
                                           hints: v.hintFrames, overflow: v.overflowFramesReached, volatile: v.volatilePages),
                          faults: makeFaults(v.counters),
                          reclaim: makeReclaim(v.counters, peak: v.balloonPeak, end: v.balloonPages, swapPeak: v.swappedPeak, swapEnd: v.swappedPages),
                          allocation: Allocation(minPages: v.config.minPages, maxPages: v.config.maxPages, shares: v.config.shares,
                                                 targetEnd: v.targetPages, allocatedEnd: v.privatePages + v.sharedPages,
                                                 allocatedMean: round3(v.allocatedMean)),
                          idle: Idle(periods: v.samplePeriods, estimateMean: round3(v.estimateSum / periods),
                                     trueMean: round3(v.trueSum / periods), meanAbsError: round3(v.absErrorSum / periods),
                                     samplingTraps: v.counters.samplingTraps),
                          refused: v.refused))
        }
        schemaVersion = ReplayReport.schemaVersion
        self.trace = trace
        seed = s.policy.seed
        policy = s.policy
        host = Host(pageSize: s.host.pageSize, machinePages: s.host.machinePages,
                    machineMiB: round3(Double(s.host.machinePages) * mib), memorySource: s.host.memorySource,
                    swapPages: s.host.swapPages, overheadPages: s.reservedOverheadPages, freePagesEnd: s.freePages,
                    simulatedSeconds: s.time.seconds, records: s.records, scanTicks: s.scanTicks)
        self.vms = vms
        sharing = makeSharing(total, pages: s.vms.reduce(0) { $0 + $1.config.maxPages }, shared: shared, frames: Double(s.sharedFrames), zero: zero, hints: s.hintFrames,
                          overflow: s.overflowFrames, volatile: volatile)
        faults = makeFaults(total)
        reclaim = HostReclaim(hostBalloonPeakPages: s.hostBalloonPeak, balloonPagesEnd: bEnd, balloonInflated: total.balloonInflated,
                              balloonDeflated: total.balloonDeflated, guestRefaults: total.guestRefaults,
                              guestAllocations: total.guestAllocations, doublePaging: total.doublePaging, swapOut: total.swapOut,
                              swapIn: total.swapIn, hostSwappedPeakPages: s.hostSwappedPeak, swappedPagesEnd: sEnd,
                              sharedBeforeSwap: total.sharedBeforeSwap, syncReclaims: total.syncReclaims,
                              blockedMicros: total.blockedMicros)
        let t = s.thresholds
        states = States(overcommitted: s.overcommitted, end: s.state.rawValue,
                        timeMicros: StateTimes(high: s.stateMicros[.high] ?? 0, soft: s.stateMicros[.soft] ?? 0,
                                               hard: s.stateMicros[.hard] ?? 0, low: s.stateMicros[.low] ?? 0),
                        transitions: s.transitions,
                        thresholdPages: StateTimes(high: t.high, soft: t.soft, hard: t.hard, low: t.low))
        let names = Dictionary(uniqueKeysWithValues: s.vms.map { ($0.config.id, $0.config.name) })
        admission = Admission(refused: s.vms.filter(\.refused).map(\.config.id),
                              refusals: s.refusals.map { Refusal($0, name: names[$0.vm] ?? "") })
        scan = ReplayReport.scanState(s)
    }

    /// How far the scan got, and what would complete one pass over every powered-on VM.
    static func scanState(_ s: ReplaySnapshot) -> Scan {
        let on = s.vms.filter(\.on)
        let p = s.policy
        let rate = on.isEmpty ? p.shareScanVM : min(p.shareScanVM, p.shareScanTotal / Double(on.count))
        let capped = Double(on.count) * p.shareScanVM > p.shareScanTotal
        let behind = on.filter { $0.counters.pagesScanned < $0.config.maxPages }
        var settle: Double?
        if p.sharing != .off {
            let remaining = behind.map { Double($0.config.maxPages - $0.counters.pagesScanned) }.max() ?? 0
            settle = rate > 0 ? (remaining / rate).rounded(.up) : nil
        }
        return Scan(ratePerVMPagesPerSecond: round3(rate), cappedByTotal: capped, vmsBeforeFullPass: behind.map(\.config.id),
                    settleSecondsForFullPass: settle)
    }

    public func json() -> String {
        let data = try! JSONEncoder.canonical(pretty: true).encode(self)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    public func text() -> String {
        let mib = Double(host.pageSize) / 1_048_576
        func m(_ pages: Double) -> String { String(format: "%.1f", pages * mib) }
        func pct(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.1f%%", 100 * a / b) : "-" }
        var s = "trace     \(trace)\n"
        s += "host      \(host.machinePages) pages (\(String(format: "%.1f", host.machineMiB)) MiB, \(host.memorySource)), swap \(host.swapPages) pages, \(host.freePagesEnd) free at end\n"
        s += "replayed  \(host.records) records, \(String(format: "%.1f", host.simulatedSeconds)) s simulated, \(host.scanTicks) scan ticks, seed \(seed)\n"
        s += "policy    " + ["sharing", "shareScanVM", "shareScanTotal", "hashBits"].map { "\($0)=\(PolicyKnobs.knob($0)!.value(of: policy))" }.joined(separator: " ") + "\n\n"
        func passes(_ x: Double) -> String { String(format: "%.2f", x) }
        var rows: [[String]] = [["vm", "name", "max MiB", "resident MiB", "shared MiB", "saved MiB", "saved % of resident",
                                 "saved % of max", "zero MiB", "hint frames", "COW breaks", "scanned pages", "scan passes"]]
        for v in vms {
            rows.append([String(v.id), v.name, m(Double(v.maxPages)), m(Double(v.residentPages)), m(Double(v.sharing.sharedPages)),
                         m(v.sharing.savedPages), pct(v.sharing.savedPages, Double(v.residentPages)),
                         pct(v.sharing.savedPages, Double(v.maxPages)), m(Double(v.sharing.zeroSharedPages)),
                         String(v.sharing.hintFrames), String(v.sharing.cowBreaks), String(v.sharing.pagesScanned), passes(v.sharing.scanPasses)])
        }
        let resident = vms.reduce(0.0) { $0 + Double($1.residentPages) }
        let configured = Double(vms.reduce(0) { $0 + $1.maxPages })
        rows.append(["all", "", m(configured), m(resident), m(Double(sharing.sharedPages)),
                     m(sharing.savedPages), pct(sharing.savedPages, resident), pct(sharing.savedPages, configured),
                     m(Double(sharing.zeroSharedPages)),
                     String(sharing.hintFrames), String(sharing.cowBreaks), String(sharing.pagesScanned), passes(sharing.scanPasses)])
        s += "Sharing (MiB at the end; scan passes = scanned pages / max pages)\n" + TextTable.render(rows, rightAligned: Set([0] + Array(2...12)))
        s += scanLines()
        s += "  shared frames \(Int(sharing.sharedFrames)), stale hints \(sharing.staleHints), volatile skips \(sharing.volatileSkipped), false matches \(sharing.falseMatches), overflow frames \(sharing.overflowFrames), table \(Int(sharing.tableBytes)) bytes\n"
        s += "  KSM terms: pages_shared \(Int(sharing.ksm.pagesShared)), pages_sharing \(Int(sharing.ksm.pagesSharing)), pages_unshared \(sharing.ksm.pagesUnshared), pages_volatile \(sharing.ksm.pagesVolatile)\n\n"
        var f: [[String]] = [["vm", "page accesses", "shadow hits", "hidden faults", "demand-zero", "COW faults", "invalidations"]]
        for v in vms {
            f.append([String(v.id), String(v.pageAccesses), String(v.faults.shadowHits), String(v.faults.hiddenFaults),
                      String(v.faults.demandZero), String(v.faults.cowFaults), String(v.faults.invalidations)])
        }
        f.append(["all", String(vms.reduce(0) { $0 + $1.pageAccesses }), String(faults.shadowHits), String(faults.hiddenFaults),
                  String(faults.demandZero), String(faults.cowFaults), String(faults.invalidations)])
        s += "Faults (counts of events)\n" + TextTable.render(f, rightAligned: Set(0...6))
        var a: [[String]] = [["vm", "min MiB", "target MiB", "alloc MiB", "mean alloc MiB", "balloon MiB", "balloon peak MiB",
                              "swapped MiB", "swapped peak MiB", "guest refaults", "swap-ins", "double paging", "blocked s",
                              "est. active MiB", "true active MiB"]]
        for v in vms {
            a.append([String(v.id) + (v.refused ? " (refused)" : ""), m(Double(v.allocation.minPages)), m(Double(v.allocation.targetEnd)),
                      m(Double(v.allocation.allocatedEnd)), m(v.allocation.allocatedMean), m(Double(v.reclaim.balloonPagesEnd)),
                      m(Double(v.reclaim.balloonPagesPeak)), m(Double(v.reclaim.swappedPagesEnd)), m(Double(v.reclaim.swapPeakPages)),
                      String(v.reclaim.guestRefaults), String(v.reclaim.swapIn),
                      String(v.reclaim.doublePaging), String(format: "%.0f", Double(v.reclaim.blockedMicros) / 1e6),
                      m(v.idle.estimateMean), m(v.idle.trueMean)])
        }
        s += "\nAllocation and reclamation (MiB at the end unless named; counts are events)\n" + TextTable.render(a, rightAligned: Set(1...14))
        s += "  host-wide peaks (at one moment): balloon \(m(Double(reclaim.hostBalloonPeakPages))) MiB, swapped \(m(Double(reclaim.hostSwappedPeakPages))) MiB\n"
        let st = states.timeMicros
        let tot = Double(max(1, st.high + st.soft + st.hard + st.low))
        s += String(format: "  states: high %.1f%%, soft %.1f%%, hard %.1f%%, low %.1f%% of the time; %llu transitions; end in %@\n",
                    100 * Double(st.high) / tot, 100 * Double(st.soft) / tot, 100 * Double(st.hard) / tot, 100 * Double(st.low) / tot,
                    states.transitions.values.reduce(0, +), states.end)
        for r in admission.refusals { s += "  " + r.sentence(pageSize: host.pageSize) + "\n" }
        return s
    }

    /// The scan's progress in words: nothing when every powered-on VM had a full pass and the
    /// per-VM rate was not capped.
    func scanLines() -> String {
        guard policy.sharing != .off else { return "" }
        var s = ""
        let on = vms.filter(\.poweredOn)
        if scan.cappedByTotal {
            s += String(format: "  scan rate capped: %d VMs × shareScanVM %g pages/s > shareScanTotal %g, so each VM gets %g pages/s\n",
                        on.count, policy.shareScanVM, policy.shareScanTotal, scan.ratePerVMPagesPerSecond)
        }
        if !scan.vmsBeforeFullPass.isEmpty {
            let parts = vms.filter { scan.vmsBeforeFullPass.contains($0.id) }
                .map { String(format: "VM %u %.1f%%", $0.id, 100 * Double($0.sharing.pagesScanned) / Double(max(1, $0.maxPages))) }
            let settle = scan.settleSecondsForFullPass.map { "; about \(ReplayReport.roundUpDuration($0)) more of --settle would complete one pass" } ?? ""
            s += "  scan incomplete: the run ended before the scanner visited every page once (\(parts.joined(separator: ", ")) of max)\(settle)\n"
        }
        return s
    }

    /// A duration for a suggestion, rounded up: seconds under two minutes, else whole minutes.
    static func roundUpDuration(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds.rounded(.up)))s" : "\(Int((seconds / 60).rounded(.up)))m"
    }
}

/// `tracetool policy show`: every knob, its default and meaning.
func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
