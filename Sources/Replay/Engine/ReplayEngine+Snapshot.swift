import TraceFormat

/// What the model holds at one moment: plain values for reports.
public struct ReplaySnapshot: Sendable {
    public struct VM: Sendable {
        public var config: VMConfig
        public var on: Bool
        public var counters: VMCounters
        public var privatePages: UInt64
        public var sharedPages: UInt64
        public var zeroSharedPages: UInt64
        public var hintFrames: UInt64
        /// Σ over the VM's shared PPNs of 1/refcount: its share of the shared frames.
        public var sharedFramesShare: Double
        /// Shared frames in the overflow table that the VM's pages map.
        public var overflowFramesReached: UInt64
        /// Private pages written since their content was reported (KSM's pages_volatile).
        public var volatilePages: UInt64
        /// Pages never touched or backed.
        public var untouchedPages: UInt64
        public var refused: Bool
        public var targetPages: UInt64
        public var balloonPages: UInt64
        public var balloonPeak: UInt64
        /// Ballooned pages whose inflation released machine memory, now and at most at once.
        public var balloonFreedPages: UInt64
        public var balloonFreedPeak: UInt64
        public var swappedPages: UInt64
        public var swappedPeak: UInt64
        /// Mean resident pages over the 1-s reclamation ticks while on.
        public var allocatedMean: Double
        /// Simulated seconds the VM was powered on (its 1-s reclamation ticks).
        public var onSeconds: UInt64
        /// The counters and powered-on seconds at the end of the traced span (equal to the
        /// final ones when the run had no settle time, or was not finished).
        public var tracedCounters: VMCounters
        public var tracedOnSeconds: UInt64
        /// Sample periods completed, and sums over them of the estimate, the truth and |error|
        /// (pages).
        public var samplePeriods: UInt64
        public var estimateSum: Double
        public var trueSum: Double
        public var absErrorSum: Double
        /// What each mechanism beside the core reported for the VM (`MechanismReports`), and
        /// its swap tier's state (a tier's report type), if any.
        public var mechanisms = MechanismReports()
    }
    public var time: Micros
    public var records: UInt64
    public var scanTicks: UInt64
    public var host: HostConfig
    public var policy: Policy
    public var freePages: UInt64
    public var reservedOverheadPages: UInt64
    public var sharedFrames: UInt64
    public var hintFrames: UInt64
    public var overflowFrames: UInt64
    public var zeroFrames: UInt64
    public var vms: [VM]
    public var state: FreeState
    public var stateMicros: [FreeState: UInt64]
    /// "from->to" → count.
    public var transitions: [String: UInt64]
    public var swapSlotsUsed: UInt64
    public var thresholds: FreeState.Thresholds
    public var overcommitted: Bool
    /// The most pages in all balloons, and in swap, at any one moment; the most ballooned pages
    /// whose inflation released memory.
    public var hostBalloonPeak: UInt64
    public var hostBalloonFreedPeak: UInt64
    /// The end of the traced span (the last record, or --until); the final time if not finished.
    public var tracedEnd: Micros
    public var hostSwappedPeak: UInt64
    /// Power-ons refused by admission control, in time order.
    public var refusals: [AdmissionRefusal]
    /// What each mechanism beside the core reported host-wide (`MechanismReports`).
    public var mechanisms = MechanismReports()
    /// With swap tiers: the most machine pages all of them held at one moment.
    public var tierPeakPages: UInt64? = nil
}

extension ReplayEngine {
    /// The paper's shared-frame size (§4): the memory the table costs per frame.
    public static let frameBytes: UInt64 = 16

    public func snapshot() -> ReplaySnapshot {
        var vmsOut: [ReplaySnapshot.VM] = []
        for vm in vms {
            var share = 0.0
            var volatile: UInt64 = 0
            var untouched: UInt64 = 0
            var overflowSeen = Set<UInt32>()
            for i in 0..<vm.pageCount {
                let e = vm.entry[i]
                switch PageState.of(e) {
                case .shared:
                    let f = vm.frame(i)
                    share += 1 / Double(table.refcount(f))
                    if table.overflow[f.raw] != nil { overflowSeen.insert(f.raw) }
                case .privateMPN:
                    if vm.flags[i] & PageFlag.known == 0 { volatile += 1 }
                case .untouched:
                    untouched += 1
                default:
                    break
                }
            }
            vmsOut.append(
                ReplaySnapshot.VM(
                    config: vm.config, on: vm.on, counters: vm.counters, privatePages: vm.privatePages,
                    sharedPages: vm.sharedPages, zeroSharedPages: vm.zeroSharedPages, hintFrames: vm.hints,
                    sharedFramesShare: share, overflowFramesReached: UInt64(overflowSeen.count),
                    volatilePages: volatile, untouchedPages: untouched, refused: vm.refused,
                    targetPages: vm.on ? vm.target : 0, balloonPages: vm.balloonedPages,
                    balloonPeak: vm.balloonPeak, balloonFreedPages: vm.balloonFreedPages,
                    balloonFreedPeak: vm.balloonFreedPeak, swappedPages: vm.swappedPages, swappedPeak: vm.swappedPeak,
                    allocatedMean: vm.allocatedSamples > 0
                        ? vm.allocatedSum / Double(vm.allocatedSamples) : Double(vm.residentPages),
                    onSeconds: vm.allocatedSamples,
                    tracedCounters: vm.tracedCounters ?? vm.counters,
                    tracedOnSeconds: vm.tracedOnSeconds ?? vm.allocatedSamples,
                    samplePeriods: vm.periods, estimateSum: vm.estimateSum, trueSum: vm.trueSum,
                    absErrorSum: vm.absErrorSum, mechanisms: reports(vm)))
        }
        var zeroFrames: UInt64 = 0
        table.forEachMatch(ContentHash.zero.rawValue) { f in
            if table.kind(f) == .shared && table.hash(f) == ContentHash.zero.rawValue { zeroFrames += 1 }
            return true
        }
        return ReplaySnapshot(
            time: now, records: recordsApplied, scanTicks: scanTicks, host: host, policy: policy,
            freePages: memory.free, reservedOverheadPages: memory.reserved,
            sharedFrames: UInt64(table.sharedFrames), hintFrames: UInt64(table.hintFrames),
            overflowFrames: UInt64(table.overflow.count), zeroFrames: zeroFrames,
            vms: vmsOut, state: state, stateMicros: stateMicros,
            transitions: transitions, swapSlotsUsed: swap.used, thresholds: thresholds,
            overcommitted: overcommitted, hostBalloonPeak: hostBalloonPeak,
            hostBalloonFreedPeak: hostBalloonFreedPeak, tracedEnd: tracedEnd ?? now, hostSwappedPeak: hostSwappedPeak,
            refusals: refusals, mechanisms: hostReports(), tierPeakPages: tierOn ? tierPeak : nil)
    }

    private func reports(_ vm: VMState) -> MechanismReports {
        var r = MechanismReports()
        for m in mechanisms { if let x = m.report(self, vm) { r.add(x) } }
        if let t = vm.tier { r.add(t.report()) }
        return r
    }

    private func hostReports() -> MechanismReports {
        var r = MechanismReports()
        for m in mechanisms { if let x = m.hostReport(self) { r.add(x) } }
        return r
    }
}
