import Foundation
import Replay
import TraceFormat

/// The replay report (docs/REPORT.md documents every key). Plain data; renderers below.
public struct ReplayReport: Codable, Equatable, Sendable {
    public static let schemaVersion = 3

    /// The same in KSM's words: `sharedPages` is KSM's pages_shared (frames), `sharingPages`
    /// pages_sharing (the saving), `unsharedPages` pages_unshared (hints), `volatilePages`
    /// pages_volatile.
    public struct KSM: Codable, Equatable, Sendable {
        public var sharedPages: Double
        public var sharingPages: Double
        public var unsharedPages: UInt64
        public var volatilePages: UInt64
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
        public var scannedPages: UInt64
        /// scannedPages / max pages: 1 = one full pass of the scanner.
        public var scanPasses: Double
        public var volatileSkipped: UInt64
        public var falseMatches: UInt64
        public var overflowFrames: UInt64
        public var tableBytes: UInt64
        public var ksm: KSM
    }

    /// The cost model's estimate (docs/MODEL.md "Cost model"), over the traced span: from the
    /// start to the last record (or --until). Time the clock ran on after it (--settle) is
    /// counted apart, so settle time never dilutes the slowdown.
    public struct Cost: Codable, Equatable, Sendable {
        /// Estimated seconds lost to the model's events in the traced span.
        public var stallSeconds: Double
        /// Simulated seconds powered on in the traced span (summed over VMs at the top level).
        public var onSeconds: UInt64
        /// stallSeconds / onSeconds (0 when never on): the fraction of its time a VM loses.
        public var slowdown: Double
        public var breakdownSeconds: CostBreakdown
        /// The estimated stall and powered-on seconds after the traced span (--settle).
        public var settleStallSeconds: Double
        public var settleOnSeconds: UInt64
        /// Top level only: the VM with the largest slowdown (the first, on a tie) and its slowdown.
        public var worstVMId: UInt32?
        public var worstVMSlowdown: Double?

        init(traced: VMCounters, total: VMCounters, _ p: Policy, onSeconds: UInt64, totalOnSeconds: UInt64) {
            let b = CostBreakdown(traced, p)
            stallSeconds = (b.total * 1e6).rounded() / 1e6
            self.onSeconds = onSeconds
            slowdown = onSeconds > 0 ? (b.total / Double(onSeconds) * 1e6).rounded() / 1e6 : 0
            breakdownSeconds = b.rounded()
            let all = CostBreakdown(total, p).total
            settleStallSeconds = (max(0, all - b.total) * 1e6).rounded() / 1e6
            settleOnSeconds = totalOnSeconds - min(totalOnSeconds, onSeconds)
        }
    }

    public struct Faults: Codable, Equatable, Sendable {
        public var shadowHits: UInt64
        public var hiddenFaults: UInt64
        public var demandZeroFaults: UInt64
        public var cowFaults: UInt64
        public var invalidations: UInt64
    }

    /// One VM's reclamation. Balloon pages are split by what their inflation did: `balloon…`
    /// counts every page in the balloon, `balloonFreed…` only those whose inflation released
    /// machine memory (the guest's page was backed); the rest held none (never touched, given
    /// back untouched, already host-swapped or compressed).
    public struct Reclaim: Codable, Equatable, Sendable {
        public var balloonPeakPages: UInt64
        public var balloonEndPages: UInt64
        public var balloonFreedPeakPages: UInt64
        public var balloonFreedEndPages: UInt64
        public var balloonInflated: UInt64
        public var balloonInflatedFreeing: UInt64
        public var balloonDeflated: UInt64
        public var guestRefaults: UInt64
        public var guestAllocations: UInt64
        public var doublePaging: UInt64
        public var swapOut: UInt64
        public var swapIn: UInt64
        public var swappedPeakPages: UInt64
        public var swappedEndPages: UInt64
        public var sharedBeforeSwap: UInt64
        public var syncReclaims: UInt64
        public var blockedSeconds: Double
    }

    /// The host's totals: counters summed over VMs; peaks are host-wide at one moment (not the
    /// sum of the VMs' own peaks, which may fall at different times).
    public struct HostReclaim: Codable, Equatable, Sendable {
        public var hostBalloonPeakPages: UInt64
        public var balloonEndPages: UInt64
        public var hostBalloonFreedPeakPages: UInt64
        public var balloonFreedEndPages: UInt64
        public var balloonInflated: UInt64
        public var balloonInflatedFreeing: UInt64
        public var balloonDeflated: UInt64
        public var guestRefaults: UInt64
        public var guestAllocations: UInt64
        public var doublePaging: UInt64
        public var swapOut: UInt64
        public var swapIn: UInt64
        public var hostSwappedPeakPages: UInt64
        public var swappedEndPages: UInt64
        public var sharedBeforeSwap: UInt64
        public var syncReclaims: UInt64
        public var blockedSeconds: Double
    }

    /// Free page reporting (present when `freePageReporting` is on): pages whose memory or
    /// swap slot was handed back, and reported pages the guest used again (demand-zero faults).
    public struct FreePageReporting: Codable, Equatable, Sendable {
        public var reportedPages: UInt64
        public var reusedPages: UInt64
    }

    /// Large pages (present when `largePages` is on; docs/REPORT.md "Large pages"). Per VM,
    /// `peakPages` is the VM's own peak; at host level it is the most pages inside large pages
    /// at one moment across all VMs (not a sum of per-VM peaks).
    public struct LargePages: Codable, Equatable, Sendable {
        public var formed: UInt64
        public var splits: UInt64
        public var released: UInt64
        public var peakPages: UInt64
        public var endPages: UInt64
        /// endPages / resident pages at the end, a fraction (0 when none is resident).
        public var coverageEnd: Double
        public var scanSkips: UInt64
        public var lostShares: UInt64

        init(_ c: LargePageCounts, peak: UInt64, resident: UInt64) {
            formed = c.formed; splits = c.splits; released = c.released
            peakPages = peak; endPages = c.pagesAtEnd
            coverageEnd = resident == 0 ? 0 : round3(Double(c.pagesAtEnd) / Double(resident))
            scanSkips = c.scanSkips; lostShares = c.lostShares
        }
    }

    /// The compression cache (present when `compression` is on; docs/REPORT.md "Compression
    /// cache"). `cachePeakMachinePages`: per VM its own peak; at top level the most machine
    /// pages all caches held at one moment (not a sum of per-VM peaks).
    public struct Compression: Codable, Equatable, Sendable {
        public var compressedPages: UInt64
        public var decompressions: UInt64
        public var evictedToSwap: UInt64
        public var swappedIncompressible: UInt64
        public var swappedSizeUnknown: UInt64
        public var endPages: UInt64
        public var endBytes: UInt64
        public var cacheEndPages: UInt64
        public var cachePeakPages: UInt64
        public var capacityBytes: UInt64
        /// Content records of the trace that carried a compressed size (0: the trace gives none,
        /// and every page was treated as incompressible).
        public var contentRecordsWithSize: UInt64

        init(_ c: VMCounters, _ s: CompressionCacheState) {
            compressedPages = c.tierOut; decompressions = c.tierIn; evictedToSwap = s.evictedToSwap
            swappedIncompressible = s.swappedIncompressible; swappedSizeUnknown = s.swappedSizeUnknown
            endPages = s.pages; endBytes = s.bytes; cacheEndPages = s.machinePages; cachePeakPages = s.peakMachinePages
            capacityBytes = s.capacityBytes; contentRecordsWithSize = s.contentRecordsWithSize
        }
    }

    public struct Allocation: Codable, Equatable, Sendable {
        public var minPages: UInt64
        public var maxPages: UInt64
        public var shares: UInt64
        public var targetEndPages: UInt64
        public var allocatedEndPages: UInt64
        public var allocatedMeanPages: Double
    }

    public struct Idle: Codable, Equatable, Sendable {
        public var periods: UInt64
        public var estimateMeanPages: Double
        public var trueMeanPages: Double
        public var meanAbsErrorPages: Double
        public var samplingTraps: UInt64
        /// estimator=damon: the DAMON estimate's mean and mean |error| over the same periods.
        public var damonEstimateMeanPages: Double? = nil
        public var damonMeanAbsErrorPages: Double? = nil
        /// estimator=damon: how fast ESX's estimate and DAMON's follow rises and falls of the
        /// truth (docs/MODEL.md "DAMON estimator"), lags in sample periods.
        public var esxTracking: TrackingLag? = nil
        public var damonTracking: TrackingLag? = nil
    }

    /// One number per state (seconds in `timeSeconds`, pages in `thresholdPages`).
    public struct PerState<T: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
        public var high: T
        /// vSphere 6's clear state (`memoryStates=vsphere6`); absent in the paper's scheme.
        public var clear: T?
        public var soft: T
        public var hard: T
        public var low: T
    }

    public struct States: Codable, Equatable, Sendable {
        public var overcommitted: Bool
        public var end: String
        public var timeSeconds: PerState<Double>
        public var transitions: [String: UInt64]
        public var thresholdPages: PerState<UInt64>
    }

    /// A power-on refused by admission control (docs/PAPER.md §6): it needs unreserved memory ≥
    /// min + overhead and unreserved swap ≥ max − min.
    public struct Refusal: Codable, Equatable, Sendable {
        public var vmId: UInt32
        public var vmName: String
        public var timeSeconds: Double
        public var memoryNeededPages: UInt64
        public var memoryUnreservedPages: UInt64
        public var memoryShortPages: UInt64
        public var swapNeededPages: UInt64
        public var swapUnreservedPages: UInt64
        public var swapShortPages: UInt64

        public init(_ r: AdmissionRefusal, name: String) {
            vmId = r.vm
            vmName = name
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
                why.append(
                    "unreserved memory \(m(memoryUnreservedPages)) < min + overhead \(m(memoryNeededPages)) (short \(m(memoryShortPages)))"
                )
            }
            if swapShortPages > 0 {
                why.append(
                    "unreserved swap \(m(swapUnreservedPages)) < max − min \(m(swapNeededPages)) (short \(m(swapShortPages)))"
                )
            }
            return "VM \(vmId) (\(vmName)) refused at power-on at \(String(format: "%.1f", timeSeconds)) s: "
                + why.joined(separator: "; ")
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
        public var fullPassSettleSeconds: Double?
    }

    public struct VM: Codable, Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var maxPages: UInt64
        public var minPages: UInt64
        public var shares: UInt64
        public var overheadPages: UInt64
        public var balloon: Bool
        /// The salt its pages share under, with salting on (absent when off).
        public var salt: UInt32?
        public var poweredOn: Bool
        public var records: UInt64
        public var skippedRecords: UInt64
        /// Page accesses (an access record of N pages counts N).
        public var pageAccesses: UInt64
        public var contentBackedPages: UInt64
        public var guestFreedPages: UInt64
        public var untouchedPages: UInt64
        public var privatePages: UInt64
        public var residentPages: UInt64
        public var sharing: Sharing
        public var faults: Faults
        public var reclaim: Reclaim
        public var allocation: Allocation
        public var idle: Idle
        public var cost: Cost
        public var freePageReporting: FreePageReporting?
        public var largePages: LargePages?
        public var compression: Compression?
        public var refused: Bool
    }

    public struct Host: Codable, Equatable, Sendable {
        public var pageSizeBytes: UInt64
        public var machinePages: UInt64
        public var machineMiB: Double
        public var memorySource: String
        public var swapPages: UInt64
        public var overheadPages: UInt64
        public var freeEndPages: UInt64
        /// Simulated time at the end, and at the end of the traced span (the last record, or
        /// --until; the rest is --settle).
        public var simulatedSeconds: Double
        public var tracedSeconds: Double
        public var records: UInt64
        public var scanTicks: UInt64
    }

    public var schemaVersion: Int
    /// What the policy is: a preset, then " + " and the knobs set on top of it ("no-tax",
    /// "esx + idleTax=0.3"), or a policy file's path; in `compare`, the run's name (with its
    /// grid cell and seed).
    public var policyName: String
    /// The policy's knobs that differ from the esx preset (the paper's defaults), as key=value.
    public var policyChanges: [String]
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
    public var cost: Cost
    public var freePageReporting: FreePageReporting?
    public var largePages: LargePages?
    public var compression: Compression?
    /// false when the trace records no reads (capture.accesses `interval-writes`, an attach
    /// capture): the idle estimate's truth then counts written pages only. Absent otherwise.
    public var readsRecorded: Bool?

    public init(trace: String, policyName: String, snapshot s: ReplaySnapshot) {
        func fpr(_ c: FreePageReportingCounts?) -> FreePageReporting? {
            c.map { FreePageReporting(reportedPages: $0.reportedPages, reusedPages: $0.reusedPages) }
        }
        let mib = Double(s.host.pageSize) / 1_048_576
        func makeSharing(
            _ c: VMCounters, pages: UInt64, shared: UInt64, frames: Double, zero: UInt64, hints: UInt64,
            overflow: UInt64, volatile: UInt64
        ) -> Sharing {
            let saved = Double(shared) - frames
            return Sharing(
                sharedPages: shared, sharedFrames: round3(frames), savedPages: round3(saved),
                savedMiB: round3(saved * mib), zeroSharedPages: zero, hintFrames: hints,
                staleHints: c.staleHints, cowBreaks: c.cowBreaks, impliedWrites: c.impliedWrites,
                scannedPages: c.pagesScanned,
                scanPasses: pages > 0 ? round3(Double(c.pagesScanned) / Double(pages)) : 0,
                volatileSkipped: c.volatileSkipped, falseMatches: c.falseMatches,
                overflowFrames: overflow,
                tableBytes: UInt64(((frames + Double(hints)) * Double(ReplayEngine.frameBytes)).rounded()),
                ksm: KSM(
                    sharedPages: round3(frames), sharingPages: round3(saved), unsharedPages: hints,
                    volatilePages: volatile))
        }
        func makeFaults(_ c: VMCounters) -> Faults {
            Faults(
                shadowHits: c.shadowHits, hiddenFaults: c.hiddenFaults, demandZeroFaults: c.demandZero,
                cowFaults: c.cowFaults,
                invalidations: c.invalidations)
        }
        func makeReclaim(_ c: VMCounters, _ v: ReplaySnapshot.VM) -> Reclaim {
            Reclaim(
                balloonPeakPages: v.balloonPeak, balloonEndPages: v.balloonPages,
                balloonFreedPeakPages: v.balloonFreedPeak,
                balloonFreedEndPages: v.balloonFreedPages, balloonInflated: c.balloonInflated,
                balloonInflatedFreeing: c.balloonInflatedFreeing, balloonDeflated: c.balloonDeflated,
                guestRefaults: c.guestRefaults, guestAllocations: c.guestAllocations, doublePaging: c.doublePaging,
                swapOut: c.swapOut, swapIn: c.swapIn, swappedPeakPages: v.swappedPeak, swappedEndPages: v.swappedPages,
                sharedBeforeSwap: c.sharedBeforeSwap, syncReclaims: c.syncReclaims,
                blockedSeconds: Double(c.blockedMicros) / 1e6)
        }
        var total = VMCounters(), traced = VMCounters()
        var bEnd: UInt64 = 0, bFreedEnd: UInt64 = 0, sEnd: UInt64 = 0
        var vms: [VM] = []
        var shared: UInt64 = 0, zero: UInt64 = 0, volatile: UInt64 = 0
        for v in s.vms {
            total = total + v.counters
            traced = traced + v.tracedCounters
            shared += v.sharedPages
            zero += v.zeroSharedPages
            volatile += v.volatilePages
            bEnd += v.balloonPages; bFreedEnd += v.balloonFreedPages; sEnd += v.swappedPages
            let periods = Double(max(v.samplePeriods, 1))
            let damon = v.mechanisms[DamonReport.self]
            vms.append(
                VM(
                    id: v.config.id, name: v.config.name, maxPages: v.config.maxPages, minPages: v.config.minPages,
                    shares: v.config.shares, overheadPages: v.config.overheadPages, balloon: v.config.balloon,
                    salt: s.policy.salting == .on ? (v.config.salt ?? v.config.id) : nil, poweredOn: v.on,
                    records: v.counters.records, skippedRecords: v.counters.skippedRecords,
                    pageAccesses: v.counters.accessedPages, contentBackedPages: v.counters.contentBacked,
                    guestFreedPages: v.counters.guestFreed, untouchedPages: v.untouchedPages,
                    privatePages: v.privatePages, residentPages: v.privatePages + v.sharedPages,
                    sharing: makeSharing(
                        v.counters, pages: v.config.maxPages, shared: v.sharedPages, frames: v.sharedFramesShare,
                        zero: v.zeroSharedPages,
                        hints: v.hintFrames, overflow: v.overflowFramesReached, volatile: v.volatilePages),
                    faults: makeFaults(v.counters),
                    reclaim: makeReclaim(v.counters, v),
                    allocation: Allocation(
                        minPages: v.config.minPages, maxPages: v.config.maxPages, shares: v.config.shares,
                        targetEndPages: v.targetPages,
                        allocatedEndPages: v.privatePages + v.sharedPages
                            + (v.mechanisms[CompressionCacheState.self]?.machinePages ?? 0),
                        allocatedMeanPages: round3(v.allocatedMean)),
                    idle: Idle(
                        periods: v.samplePeriods, estimateMeanPages: round3(v.estimateSum / periods),
                        trueMeanPages: round3(v.trueSum / periods), meanAbsErrorPages: round3(v.absErrorSum / periods),
                        samplingTraps: v.counters.samplingTraps,
                        damonEstimateMeanPages: damon.map { round3($0.estimateSum / periods) },
                        damonMeanAbsErrorPages: damon.map { round3($0.absErrorSum / periods) },
                        esxTracking: damon?.esxLag, damonTracking: damon?.damonLag),
                    cost: Cost(
                        traced: v.tracedCounters, total: v.counters, s.policy, onSeconds: v.tracedOnSeconds,
                        totalOnSeconds: v.onSeconds),
                    freePageReporting: fpr(v.mechanisms[FreePageReportingCounts.self]),
                    largePages: v.mechanisms[LargePageCounts.self].map {
                        LargePages($0, peak: $0.peakPages, resident: v.privatePages + v.sharedPages)
                    },
                    compression: v.mechanisms[CompressionCacheState.self].map { Compression(v.counters, $0) },
                    refused: v.refused))
        }
        schemaVersion = ReplayReport.schemaVersion
        self.trace = trace
        self.policyName = policyName
        policyChanges = Presets.changes(s.policy)
        seed = s.policy.seed
        policy = s.policy
        host = Host(
            pageSizeBytes: s.host.pageSize, machinePages: s.host.machinePages,
            machineMiB: round3(Double(s.host.machinePages) * mib), memorySource: s.host.memorySource,
            swapPages: s.host.swapPages, overheadPages: s.reservedOverheadPages, freeEndPages: s.freePages,
            simulatedSeconds: s.time.seconds, tracedSeconds: s.tracedEnd.seconds, records: s.records,
            scanTicks: s.scanTicks)
        self.vms = vms
        sharing = makeSharing(
            total, pages: s.vms.reduce(0) { $0 + $1.config.maxPages }, shared: shared, frames: Double(s.sharedFrames),
            zero: zero, hints: s.hintFrames,
            overflow: s.overflowFrames, volatile: volatile)
        faults = makeFaults(total)
        reclaim = HostReclaim(
            hostBalloonPeakPages: s.hostBalloonPeak, balloonEndPages: bEnd,
            hostBalloonFreedPeakPages: s.hostBalloonFreedPeak, balloonFreedEndPages: bFreedEnd,
            balloonInflated: total.balloonInflated, balloonInflatedFreeing: total.balloonInflatedFreeing,
            balloonDeflated: total.balloonDeflated, guestRefaults: total.guestRefaults,
            guestAllocations: total.guestAllocations, doublePaging: total.doublePaging, swapOut: total.swapOut,
            swapIn: total.swapIn, hostSwappedPeakPages: s.hostSwappedPeak, swappedEndPages: sEnd,
            sharedBeforeSwap: total.sharedBeforeSwap, syncReclaims: total.syncReclaims,
            blockedSeconds: Double(total.blockedMicros) / 1e6)
        let t = s.thresholds
        func secs(_ st: FreeState) -> Double { Double(s.stateMicros[st] ?? 0) / 1e6 }
        states = States(
            overcommitted: s.overcommitted, end: s.state.rawValue,
            timeSeconds: PerState(
                high: secs(.high), clear: t.hasClear ? secs(.clear) : nil,
                soft: secs(.soft), hard: secs(.hard), low: secs(.low)),
            transitions: s.transitions,
            thresholdPages: PerState(
                high: t.high, clear: t.hasClear ? t.clear : nil, soft: t.soft, hard: t.hard, low: t.low))
        let names = Dictionary(uniqueKeysWithValues: s.vms.map { ($0.config.id, $0.config.name) })
        admission = Admission(
            refused: s.vms.filter(\.refused).map(\.config.id),
            refusals: s.refusals.map { Refusal($0, name: names[$0.vm] ?? "") })
        scan = ReplayReport.scanState(s)
        cost = Cost(
            traced: traced, total: total, s.policy, onSeconds: s.vms.reduce(0) { $0 + $1.tracedOnSeconds },
            totalOnSeconds: s.vms.reduce(0) { $0 + $1.onSeconds })
        if let worst = vms.filter({ $0.cost.onSeconds > 0 }).max(by: {
            $0.cost.slowdown < $1.cost.slowdown || ($0.cost.slowdown == $1.cost.slowdown && $0.id > $1.id)
        }) {
            cost.worstVMId = worst.id
            cost.worstVMSlowdown = worst.cost.slowdown
        }
        let fprCounts = s.vms.compactMap { $0.mechanisms[FreePageReportingCounts.self] }
        if !fprCounts.isEmpty {
            freePageReporting = FreePageReporting(
                reportedPages: fprCounts.reduce(0) { $0 + $1.reportedPages },
                reusedPages: fprCounts.reduce(0) { $0 + $1.reusedPages })
        }
        if let peak = s.tierPeakPages {
            compression = Compression(
                total, .sum(s.vms.compactMap { $0.mechanisms[CompressionCacheState.self] }, peak: peak))
        }
        if let peak = s.mechanisms[LargePagePeak.self]?.pages {
            let sum = s.vms.compactMap { $0.mechanisms[LargePageCounts.self] }.reduce(LargePageCounts(), +)
            largePages = LargePages(
                sum, peak: peak, resident: s.vms.reduce(0) { $0 + $1.privatePages + $1.sharedPages })
        }
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
        return Scan(
            ratePerVMPagesPerSecond: round3(rate), cappedByTotal: capped, vmsBeforeFullPass: behind.map(\.config.id),
            fullPassSettleSeconds: settle)
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
