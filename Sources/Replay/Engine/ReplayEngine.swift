import CPrefetch
import TraceFormat

/// The model: host, VMs, pmaps, shadow tables, content-based sharing, idle sampling, targets
/// by min-funding revocation with the idle tax, admission control, the free-memory states,
/// ballooning with a guest LRU model and host paging, driven record by record on a simulated
/// clock (docs/MODEL.md; docs/ARCHITECTURE.md). One instance owns all mutable state; nothing here prints.
///
/// Contract: feed records in time order with `apply`; periodic work runs between records at
/// fixed times, in a fixed order (sampling, balancing, reclamation, the sharing scan, the
/// timeline), by `advance(to:)`; `finish(settleUntil:)` runs the clock on after the last
/// record. The same trace, policy and seed always give the same state.
public final class ReplayEngine {
    public let policy: Policy
    public let host: HostConfig
    /// The policy families' implementations (docs/ARCHITECTURE.md): the sharing scanner and
    /// the activity estimator; each VM holds its swap-victim chooser.
    let scanner: any SharingScanner
    let estimator: any ActivityEstimator
    let vms: [VMState]
    private let vmIndex: VMIndexMap
    @exclusivity(unchecked) var memory: MachineMemory
    @exclusivity(unchecked) var swap: SwapArea
    @exclusivity(unchecked) var table: ShareTable
    @exclusivity(unchecked) var vshadow = VirtualShadow()
    @exclusivity(unchecked) public internal(set) var now: Micros = .zero
    @exclusivity(unchecked) public internal(set) var recordsApplied: UInt64 = 0
    /// Run the cheap conservation check after every record (on in debug builds and in the
    /// checked build the tests run, `-DTRACETOOL_CHECKS`).
    @exclusivity(unchecked) public var checkEveryStep: Bool
    /// Run the full structural check after every record and periodic task (tests).
    @exclusivity(unchecked) public var checkFullEveryStep = false

    // The clock.
    public static let tick = Micros(1_000_000)
    @exclusivity(unchecked) var nextScan: Micros = ReplayEngine.tick
    @exclusivity(unchecked) var nextReclaim: Micros = ReplayEngine.tick
    @exclusivity(unchecked) var nextSample: Micros
    @exclusivity(unchecked) var nextBalance: Micros
    @exclusivity(unchecked) var nextTimeline: Micros?
    /// The earliest periodic task due (a cache of the minimum of the timers above).
    @exclusivity(unchecked) var nextDue: Micros = .zero
    @exclusivity(unchecked) public var timelineInterval: Micros? {
        didSet {
            nextTimeline = timelineInterval.map { Micros(now.rawValue + $0.rawValue) }
            nextDue = .zero
            // A timeline is drawn with the exact state changes beside it.
            if timelineInterval != nil { recordStates = true }
        }
    }
    @exclusivity(unchecked) public internal(set) var timeline: [TimelineRow] = []
    /// Keep a `PeriodRow` per powered-on VM at the end of every sample period (the three
    /// curves of the paper's Fig. 6). Turns fast-forward off, which folds periods together.
    @exclusivity(unchecked) public var recordPeriods = false {
        didSet { if recordPeriods { fastForward = false } }
    }
    @exclusivity(unchecked) public internal(set) var periods: [PeriodRow] = []
    /// Pages in all balloons now, and the most at any one moment (host-wide, simultaneous);
    /// the same for the ballooned pages whose inflation released machine memory.
    @exclusivity(unchecked) var balloonTotal: UInt64 = 0
    @exclusivity(unchecked) public internal(set) var hostBalloonPeak: UInt64 = 0
    @exclusivity(unchecked) var balloonFreedTotal: UInt64 = 0
    @exclusivity(unchecked) public internal(set) var hostBalloonFreedPeak: UInt64 = 0
    /// Every change of the free-memory state, in time order (`recordStates`; the HTML report's
    /// state band is drawn from it).
    @exclusivity(unchecked) public var recordStates = false
    @exclusivity(unchecked) public internal(set) var stateChanges: [(time: Micros, state: FreeState)] = []
    /// The memory budget stopped the state log before the end (its last entry is then not the
    /// last change).
    @exclusivity(unchecked) public internal(set) var stateLogTruncated = false
    /// The end of the traced span (the last record, or --until), once `finish` has passed it.
    @exclusivity(unchecked) public internal(set) var tracedEnd: Micros?
    /// The most swap slots in use at any one moment (host-wide, simultaneous).
    @exclusivity(unchecked) public internal(set) var hostSwappedPeak: UInt64 = 0
    /// Every power-on refused by admission control, in time order.
    @exclusivity(unchecked) public internal(set) var refusals: [AdmissionRefusal] = []
    @exclusivity(unchecked) var scanGlobalCredit: Double = 0
    @exclusivity(unchecked) var scanRotation = 0
    /// Bumped by every change that can alter what the sharing scanner finds (records, shares,
    /// hints, balloon and swap moves): a sweep that ends with the epoch it began with changed
    /// nothing.
    @exclusivity(unchecked) var changeEpoch: UInt64 = 0
    /// The mechanisms beside the core (Registrations; docs/ARCHITECTURE.md "Mechanisms"), the
    /// ones that watch pages, and the one that may gate sharing.
    let mechanisms: [any EngineMechanism]
    let pageWatchers: [any PageWatcher]
    let watchesPages: Bool
    let sharingGate: (any SharingGate)?
    /// An allocation that leaves free memory below this calls every mechanism's
    /// `freeBelowFloor` (0: never); mechanisms set it.
    @exclusivity(unchecked) var lowFreeFloor: UInt64 = 0
    @exclusivity(unchecked) var scanTicks: UInt64 = 0

    // Reclamation state.
    public let thresholds: FreeState.Thresholds
    @exclusivity(unchecked) public internal(set) var state: FreeState = .high
    /// Free pages when `updateState` last ran and left the state as it was (else `.max`): the
    /// next state depends only on the state and free memory, so a record that left both as
    /// they were cannot change it.
    @exclusivity(unchecked) var stateCheckedFree: UInt64 = .max
    /// The VMs' swap tiers (SwapTier): whether there are any, the machine pages they hold now,
    /// and the most at one moment.
    let tierOn: Bool
    @exclusivity(unchecked) var tierPages: UInt64 = 0
    @exclusivity(unchecked) var tierPeak: UInt64 = 0
    /// Time spent in each state, indexed by level (high, clear, soft, hard, low).
    @exclusivity(unchecked) var stateTime: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    public var stateMicros: [FreeState: UInt64] {
        [.high: stateTime.0, .clear: stateTime.1, .soft: stateTime.2, .hard: stateTime.3, .low: stateTime.4]
    }
    @exclusivity(unchecked) public internal(set) var transitions: [String: UInt64] = [:]
    /// Skip steady spans in closed form (docs/MODEL.md "Fast-forward"); off only to check that
    /// skipping changes nothing.
    @exclusivity(unchecked) public var fastForward = true
    /// Called every 65,536 periodic steps of one span between records (or after the last)
    /// with the simulated time reached and the span's end: a progress line for spans that
    /// cannot be skipped in closed form.
    @exclusivity(unchecked) public var spanProgress: ((_ now: Micros, _ end: Micros) -> Void)?
    @exclusivity(unchecked) var stepsInSpan = 0
    @exclusivity(unchecked) var nextFastForwardTry: Micros = .zero
    /// Spans skipped so far (for tests).
    @exclusivity(unchecked) var fastForwards = 0
    /// Spans shorter than this are simulated tick by tick.
    var fastForwardMinSpan: Micros {
        let p = max(
            samplePeriod.rawValue, balancePeriod.rawValue, timelineInterval?.rawValue ?? 0, ReplayEngine.tick.rawValue)
        return Micros(4 * p + 10 * ReplayEngine.tick.rawValue)
    }
    /// Whether memory can ever be short (Σ max + overheads + high threshold > M).
    public let overcommitted: Bool
    @exclusivity(unchecked) var samplePeriod: Micros
    @exclusivity(unchecked) var balancePeriod: Micros

    public init(host: HostConfig, policy: Policy) throws(ReplayError) {
        do { try policy.validate() } catch { throw ReplayError(time: 0, message: error.description) }
        if let problem = MemoryBudget.problem(
            ReplayEngine.plannedBytes(host),
            for:
                "the model's page state for \(host.vms.reduce(0) { $0 + $1.maxPages }) guest pages (about \(ReplayEngine.bytesPerGuestPage) bytes each)"
        ) {
            throw ReplayError(time: 0, message: problem)
        }
        self.host = host
        self.policy = policy
        #if DEBUG || TRACETOOL_CHECKS
        checkEveryStep = true
        #else
        checkEveryStep = false
        #endif
        let arena = PageArena(bytes: PageArena.bytes(for: host.vms))
        vmIndex = VMIndexMap(host.vms.map { VMDecl(id: $0.id, name: $0.name, pages: $0.maxPages) })
        memory = MachineMemory(pages: host.machinePages)
        swap = SwapArea(slots: host.swapPages)
        table = ShareTable(hashBits: policy.hashBits)
        thresholds = FreeState.Thresholds(machinePages: host.machinePages, policy: policy, pageSize: host.pageSize)
        samplePeriod = Micros.seconds(policy.samplePeriod)
        balancePeriod = Micros.seconds(policy.balancePeriod)
        nextSample = samplePeriod
        nextBalance = balancePeriod
        let need = host.vms.reduce(UInt64(0)) { $0 + $1.maxPages + $1.overheadPages } + thresholds.aim
        overcommitted = need > host.machinePages
        let tracking = overcommitted
        vms = host.vms.enumerated().map {
            VMState(config: $1, index: $0, policy: policy, arena: arena, tracking: tracking)
        }
        scanner = SharingScanners.make(policy.sharing, policy: policy)
        estimator = ActivityEstimators.make(policy.estimator, policy: policy)
        mechanisms = Registrations.mechanisms(policy) + [estimator as? any EngineMechanism].compactMap { $0 }
        pageWatchers = mechanisms.compactMap { $0 as? any PageWatcher }
        watchesPages = !pageWatchers.isEmpty
        sharingGate = mechanisms.lazy.compactMap { $0 as? any SharingGate }.first
        let victims = SwapVictims.registration(policy.swapVictim)
        let tiers = SwapTiers.registration(for: policy)
        let anyBalloon = host.vms.contains { $0.balloon }
        for vm in vms {
            if overcommitted && (anyBalloon || victims.usesGuestLRU) { vm.enableLRU() }
            vm.tier = tiers.make(vm.config, policy, host.pageSize)
        }
        tierOn = vms.contains { $0.tier != nil }
        for m in mechanisms { m.attach(self) }
        for vm in vms { scanner.beginSweep(vm, sweep: 0, seed: policy.seed) }
        for vm in vms where !vm.config.startsOff {
            do { try powerOn(vm) } catch { throw error }
        }
        recomputeTargets()
    }

    /// What the model may hold per guest page at most: the page word and hash (12 bytes in
    /// the arena), FIFO order (4), shadow and sharing-table entries.
    public static let bytesPerGuestPage = 48

    /// The most memory one engine may use, planned from the configuration alone.
    public static func plannedBytes(_ host: HostConfig) -> Double {
        plannedBytes(guestPages: Double(host.vms.reduce(0) { $0 + $1.maxPages }), vms: host.vms.count)
    }

    /// The same for VMs of `guestPages` pages in all (a trace header's declared sizes).
    public static func plannedBytes(guestPages: Double, vms: Int) -> Double {
        guestPages * Double(bytesPerGuestPage) + Double(vms) * 4096
    }

    // MARK: records

    /// Applies one record, first running every periodic task due at or before its time.
    public func apply(_ r: TraceRecord) throws(ReplayError) {
        try apply(r, vm: try vmState(r.vm))
    }

    /// Applies records in order (the fast path: the VM lookup is reused across a VM's burst).
    public func apply(contentsOf batch: ArraySlice<TraceRecord>) throws(ReplayError) {
        guard let first = batch.first else { return }
        var id = first.vm
        var vm = try vmState(id)
        var aheadID = id
        var ahead = vm
        var i = batch.startIndex
        let end = batch.endIndex
        while i < end {
            // Start loading the page state of the record `prefetchDistance` ahead, so that
            // the loads of several records' pages overlap (a hint; it changes nothing).
            if i + ReplayEngine.prefetchDistance < end {
                let f = batch[i + ReplayEngine.prefetchDistance]
                if f.vm != aheadID, let vi = vmIndex[f.vm.rawValue] {
                    aheadID = f.vm
                    ahead = vms[vi]
                }
                if f.vm == aheadID, Int(f.ppn.rawValue) < ahead.pageCount {
                    let p = Int(f.ppn.rawValue)
                    tt_prefetch_write(ahead.word + p)
                    if ahead.trackLRU { tt_prefetch_write(ahead.seq + p) }
                    if f.kind == .content { tt_prefetch_write(ahead.hash + p) }
                }
            }
            let r = batch[i]
            if r.vm != id {
                id = r.vm
                vm = try vmState(id)
            }
            try apply(r, vm: vm)
            i += 1
        }
    }

    /// Records between a page-state prefetch and the record that uses it.
    static let prefetchDistance = 16

    @inline(__always)
    func vmState(_ id: VMID) throws(ReplayError) -> VMState {
        guard let vi = vmIndex[id.rawValue] else {
            throw fail("record for VM \(id) that the replay does not know")
        }
        return vms[vi]
    }

    @inline(__always)
    func apply(_ r: TraceRecord, vm: VMState) throws(ReplayError) {
        if r.time > now { try advance(to: r.time) }
        changeEpoch &+= 1
        vm.counters.records += 1
        recordsApplied += 1
        switch r.kind {
        case .powerOn:
            vm.counters.powerOns += 1
            if !vm.on {
                try powerOn(vm)
                recomputeTargets()
            }
        case .powerOff:
            vm.counters.powerOffs += 1
            if vm.on {
                powerOff(vm)
                recomputeTargets()
            }
        case _ where !vm.on:
            vm.counters.skippedRecords += 1
        case .read, .write:
            let write = r.kind == .write
            if r.hasVirtual {
                try accessVirtual(vm, ppn: r.ppn.rawValue, asid: r.asid.rawValue, vpn: r.vpn.rawValue, write: write)
            } else {
                var p = r.ppn.rawValue
                let end = p &+ r.count
                while p != end {
                    try access(vm, ppn: p, write: write)
                    p &+= 1
                }
            }
        case .content:
            try setContent(vm, ppn: r.ppn.rawValue, hash: r.hash.rawValue)
            vm.tier?.contentReported(vm, Int(r.ppn.rawValue), r)
        case .zero:
            var p = r.ppn.rawValue
            let end = p &+ r.count
            while p != end {
                try setContent(vm, ppn: p, hash: ContentHash.zero.rawValue)
                vm.tier?.zeroFilled(Int(p))
                p &+= 1
            }
        case .free:
            for p in r.ppn.rawValue..<(r.ppn.rawValue &+ r.count) {
                vm.flags[Int(p)] |= PageFlag.guestFreed
            }
            vm.counters.guestFreed += UInt64(r.count)
            for m in mechanisms { m.guestFreed(self, vm, first: Int(r.ppn.rawValue), count: Int(r.count)) }
        }
        if overcommitted && memory.free != stateCheckedFree { updateState() }
        if checkEveryStep { try checkConservation() }
        if checkFullEveryStep { try checkInvariants() }
    }

    func fail(_ message: String) -> ReplayError {
        ReplayError(record: recordsApplied == 0 ? nil : recordsApplied - 1, time: now.rawValue, message: message)
    }

    // MARK: finishing

    /// Runs the clock on to `t` after the last record, ends the timeline (when on) with a row
    /// per VM at that time unless one was just recorded there, so its last rows equal the
    /// final report, then checks every invariant.
    /// Runs the clock to the end of the traced span (`tracedUntil`: the last record's time, or
    /// --until), notes each VM's counters and powered-on time there (a report's stall and
    /// slowdown count the traced span only), then runs it on to `settleUntil` (the settle time
    /// after it), and checks the invariants.
    public func finish(tracedUntil traced: Micros? = nil, settleUntil t: Micros) throws(ReplayError) {
        let end = min(traced ?? t, t)
        try advance(to: max(end, now), finishing: true)
        tracedEnd = now
        for vm in vms {
            vm.tracedCounters = vm.counters
            vm.tracedOnSeconds = vm.allocatedSamples
        }
        try advance(to: t, finishing: true)
        if timelineInterval != nil && timeline.last?.time != now { recordTimeline() }
        try checkInvariants()
    }
}

/// An engine is used by one thread at a time: a replay runner hands it to one worker at a
/// time, and it is read only once its replay has finished.
extension ReplayEngine: @unchecked Sendable {}
