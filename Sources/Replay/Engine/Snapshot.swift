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
        public var swappedPages: UInt64
        public var swappedPeak: UInt64
        /// Mean resident pages over the 1-s reclamation ticks while on.
        public var allocatedMean: Double
        /// Sample periods completed, and sums over them of the estimate, the truth and |error|
        /// (pages).
        public var samplePeriods: UInt64
        public var estimateSum: Double
        public var trueSum: Double
        public var absErrorSum: Double
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
    /// The most pages in all balloons, and in swap, at any one moment.
    public var hostBalloonPeak: UInt64
    public var hostSwappedPeak: UInt64
    /// Power-ons refused by admission control, in time order.
    public var refusals: [AdmissionRefusal]
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
                    let f = PageState.payload(e)
                    share += 1 / Double(table.refcount(f))
                    if table.overflow[f] != nil { overflowSeen.insert(f) }
                case .privateMPN:
                    if vm.flags[i] & PageFlag.known == 0 { volatile += 1 }
                case .untouched:
                    untouched += 1
                default:
                    break
                }
            }
            vmsOut.append(ReplaySnapshot.VM(config: vm.config, on: vm.on, counters: vm.counters, privatePages: vm.privatePages,
                                            sharedPages: vm.sharedPages, zeroSharedPages: vm.zeroSharedPages, hintFrames: vm.hints,
                                            sharedFramesShare: share, overflowFramesReached: UInt64(overflowSeen.count),
                                            volatilePages: volatile, untouchedPages: untouched, refused: vm.refused,
                                            targetPages: vm.on ? vm.target : 0, balloonPages: vm.balloonedPages,
                                            balloonPeak: vm.balloonPeak, swappedPages: vm.swappedPages, swappedPeak: vm.swappedPeak,
                                            allocatedMean: vm.allocatedSamples > 0 ? vm.allocatedSum / Double(vm.allocatedSamples) : Double(vm.residentPages),
                                            samplePeriods: vm.periods, estimateSum: vm.estimateSum, trueSum: vm.trueSum,
                                            absErrorSum: vm.absErrorSum))
        }
        var zeroFrames: UInt64 = 0
        table.forEachMatch(ContentHash.zero.rawValue) { f in
            if table.kind[Int(f)] == .shared && table.fullHash[Int(f)] == ContentHash.zero.rawValue { zeroFrames += 1 }
            return true
        }
        return ReplaySnapshot(time: now, records: recordsApplied, scanTicks: scanTicks, host: host, policy: policy,
                              freePages: memory.free, reservedOverheadPages: memory.reserved,
                              sharedFrames: UInt64(table.sharedFrames), hintFrames: UInt64(table.hintFrames),
                              overflowFrames: UInt64(table.overflow.count), zeroFrames: zeroFrames,
                              vms: vmsOut, state: state, stateMicros: stateMicros,
                              transitions: transitions, swapSlotsUsed: swap.used, thresholds: thresholds,
                              overcommitted: overcommitted, hostBalloonPeak: hostBalloonPeak, hostSwappedPeak: hostSwappedPeak,
                              refusals: refusals)
    }
}

/// Drives an engine from a trace reader: batches in, `--until` and `--settle` honoured.
public struct Replayer {
    public var until: Micros?
    public var settle: Micros = .zero
    /// Called after every batch with the reader's progress (for a progress line).
    public var progress: ((any TraceReader) -> Void)?
    public init() {}

    /// VMs whose first record is a power-on start off (FORMAT.md: a VM with no ON is on from
    /// time 0). Found from the binary footer when it says so, else by one pass over the trace.
    public static func vmsStartingOff(path: String) throws(TraceError) -> Set<UInt32> {
        let reader = try TraceFile.open(path)
        var firstSeen = Set<UInt32>()
        var off = Set<UInt32>()
        var batch: [TraceRecord] = []
        let n = reader.header.vms.count
        // A stored footer with no power-on record answers without a pass over the trace.
        if reader.encoding == .binary, let footer = try TraceFile.storedFooter(path), footer.kinds.powerOn == 0 {
            return []
        }
        while try reader.next(into: &batch) {
            for r in batch where firstSeen.insert(r.vm.rawValue).inserted {
                if r.kind == .powerOn { off.insert(r.vm.rawValue) }
            }
            if firstSeen.count == n { break }
        }
        return off
    }

    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        case model(ReplayError)
        public var description: String {
            switch self {
            case .trace(let e): return e.description
            case .model(let e): return e.description
            }
        }
    }

    /// Replays every record of `reader` (up to `until`), then runs the clock on for `settle`.
    public func run(_ reader: any TraceReader, engine: ReplayEngine) throws(Failure) {
        var batch: [TraceRecord] = []
        var last = Micros.zero
        outer: while true {
            let more: Bool
            do { more = try reader.next(into: &batch) } catch { throw .trace(error) }
            if !more { break }
            var end = batch.endIndex
            if let until, let cut = batch.firstIndex(where: { $0.time > until }) { end = cut }
            do { try engine.apply(contentsOf: batch[..<end]) } catch {
                var e = error
                e.file = reader.path
                throw .model(e)
            }
            if end > 0 { last = batch[end - 1].time }
            progress?(reader)
            if end < batch.endIndex { break outer }
        }
        let end: Micros
        if let until { end = Micros(until.rawValue + settle.rawValue) } else { end = Micros(last.rawValue + settle.rawValue) }
        do { try engine.finish(settleUntil: end) } catch {
            var e = error
            e.file = reader.path
            throw .model(e)
        }
    }
}
