import Foundation
import TraceFormat

/// Why a replay stopped.
public struct ReplayError: Error, CustomStringConvertible, Equatable {
    /// The trace, when the caller knows it (the engine does not).
    public var file: String?
    public var record: UInt64?
    public var time: UInt64
    public var message: String
    public init(file: String? = nil, record: UInt64? = nil, time: UInt64, message: String) {
        self.file = file; self.record = record; self.time = time; self.message = message
    }
    /// "FILE: record N (time T µs): what" — the record last applied and the simulated time.
    public var description: String {
        let f = file.map { "\($0): " } ?? ""
        let at = record.map { "record \($0) (time \(time) µs)" } ?? "time \(time) µs"
        return "\(f)\(at): \(message)"
    }
}

/// A power-on that admission control refused (PAPER.md §6): which reservation fell short and
/// by how much, in pages.
public struct AdmissionRefusal: Equatable, Sendable {
    public var vm: UInt32
    public var time: Micros
    public var memoryShortPages: UInt64
    public var swapShortPages: UInt64
    public var memoryNeededPages: UInt64
    public var memoryUnreservedPages: UInt64
    public var swapNeededPages: UInt64
    public var swapUnreservedPages: UInt64
}

/// One row of `--timeline`.
public struct TimelineRow: Equatable, Sendable {
    public var time: Micros
    public var vm: UInt32
    public var allocated: UInt64
    public var target: UInt64
    public var balloon: UInt64
    public var swapped: UInt64
    public var sharedSaved: Double
    public var activeEstimate: UInt64
    public var activeTrue: UInt64
    public var free: UInt64
    public var state: FreeState
    public var guestRefaults: UInt64
    public var swapIns: UInt64

    /// What one row costs to keep and to render as a CSV line or an HTML chart point (measured
    /// ~205 bytes a row with 5 VMs at a 1 s interval; priced at its storage + 256).
    public static let plannedBytes = Double(MemoryLayout<TimelineRow>.stride + 256)
}

/// The model: host, VMs, pmaps, shadow tables, content-based sharing, idle sampling, targets
/// by min-funding revocation with the idle tax, admission control, the free-memory states,
/// ballooning with a guest LRU model and host paging, driven record by record on a simulated
/// clock (DESIGN.md). One instance owns all mutable state; nothing here prints.
///
/// Contract: feed records in time order with `apply`; periodic work runs between records at
/// fixed times, in a fixed order (sampling, balancing, reclamation, the sharing scan, the
/// timeline), by `advance(to:)`; `finish(settleUntil:)` runs the clock on after the last
/// record. The same trace, policy and seed always give the same state.
public final class ReplayEngine {
    public let policy: Policy
    public let host: HostConfig
    let vms: [VMState]
    private let vmIndex: VMIndexMap
    var memory: MachineMemory
    var swap: SwapArea
    var table: ShareTable
    var vshadow = VirtualShadow()
    public private(set) var now: Micros = .zero
    public private(set) var recordsApplied: UInt64 = 0
    /// Run the cheap conservation check after every record (on in debug builds).
    public var checkEveryStep: Bool
    /// Run the full structural check after every record and periodic task (tests).
    public var checkFullEveryStep = false

    // The clock.
    public static let tick = Micros(1_000_000)
    var nextScan: Micros = ReplayEngine.tick
    var nextReclaim: Micros = ReplayEngine.tick
    var nextSample: Micros
    var nextBalance: Micros
    var nextTimeline: Micros?
    /// The earliest periodic task due (a cache of the minimum of the timers above).
    var nextDue: Micros = .zero
    public var timelineInterval: Micros? {
        didSet {
            nextTimeline = timelineInterval.map { Micros(now.rawValue + $0.rawValue) }
            nextDue = .zero
        }
    }
    public internal(set) var timeline: [TimelineRow] = []
    /// Pages in all balloons now, and the most at any one moment (host-wide, simultaneous).
    var balloonTotal: UInt64 = 0
    public internal(set) var hostBalloonPeak: UInt64 = 0
    /// The most swap slots in use at any one moment (host-wide, simultaneous).
    public internal(set) var hostSwappedPeak: UInt64 = 0
    /// Every power-on refused by admission control, in time order.
    public private(set) var refusals: [AdmissionRefusal] = []
    var scanGlobalCredit: Double = 0
    var scanRotation = 0
    /// Bumped by every change that can alter what the sharing scanner finds (records, shares,
    /// hints, balloon and swap moves): a sweep that ends with the epoch it began with changed
    /// nothing.
    var changeEpoch: UInt64 = 0
    var scanTicks: UInt64 = 0

    // Reclamation state.
    public let thresholds: FreeState.Thresholds
    public private(set) var state: FreeState = .high
    /// Time spent in each state, indexed by level (high, soft, hard, low).
    private var stateTime: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public var stateMicros: [FreeState: UInt64] {
        [.high: stateTime.0, .soft: stateTime.1, .hard: stateTime.2, .low: stateTime.3]
    }
    public private(set) var transitions: [String: UInt64] = [:]
    private var stateSince: Micros = .zero
    /// Skip steady spans in closed form (docs/MODEL.md "Fast-forward"); off only to check that
    /// skipping changes nothing.
    public var fastForward = true
    /// Called every 65,536 periodic steps of one span between records (or after the last)
    /// with the simulated time reached and the span's end: a progress line for spans that
    /// cannot be skipped in closed form.
    public var spanProgress: ((_ now: Micros, _ end: Micros) -> Void)?
    private var stepsInSpan = 0
    var nextFastForwardTry: Micros = .zero
    /// Spans skipped so far (for tests).
    var fastForwards = 0
    /// Spans shorter than this are simulated tick by tick.
    var fastForwardMinSpan: Micros {
        let p = max(samplePeriod.rawValue, balancePeriod.rawValue, timelineInterval?.rawValue ?? 0, ReplayEngine.tick.rawValue)
        return Micros(4 * p + 10 * ReplayEngine.tick.rawValue)
    }
    /// Whether memory can ever be short (Σ max + overheads + high threshold > M).
    public let overcommitted: Bool
    var samplePeriod: Micros
    var balancePeriod: Micros

    public init(host: HostConfig, policy: Policy) throws(ReplayError) {
        do { try policy.validate() } catch { throw ReplayError(time: 0, message: error.description) }
        if let problem = MemoryBudget.problem(ReplayEngine.plannedBytes(host), for: "the model's page state for \(host.vms.reduce(0) { $0 + $1.maxPages }) guest pages (about \(ReplayEngine.bytesPerGuestPage) bytes each)") {
            throw ReplayError(time: 0, message: problem)
        }
        self.host = host
        self.policy = policy
        #if DEBUG
        checkEveryStep = true
        #else
        checkEveryStep = false
        #endif
        let arena = PageArena(bytes: PageArena.bytes(for: host.vms))
        vms = host.vms.enumerated().map { VMState(config: $1, index: $0, policy: policy, arena: arena) }
        vmIndex = VMIndexMap(host.vms.map { VMDecl(id: $0.id, name: $0.name, pages: $0.maxPages) })
        memory = MachineMemory(pages: host.machinePages)
        swap = SwapArea(slots: host.swapPages)
        table = ShareTable(hashBits: policy.hashBits)
        thresholds = FreeState.Thresholds(machinePages: host.machinePages, policy: policy)
        samplePeriod = Micros.seconds(policy.samplePeriod)
        balancePeriod = Micros.seconds(policy.balancePeriod)
        nextSample = samplePeriod
        nextBalance = balancePeriod
        let need = host.vms.reduce(UInt64(0)) { $0 + $1.maxPages + $1.overheadPages } + thresholds.high
        overcommitted = need > host.machinePages
        let anyBalloon = host.vms.contains { $0.balloon }
        for vm in vms {
            if overcommitted && (anyBalloon || policy.swapVictim == .lru) { vm.enableLRU() }
            if overcommitted && policy.swapVictim == .fifo { vm.enableFIFO() }
        }
        for vm in vms where !vm.config.startsOff {
            do { try powerOn(vm) } catch { throw error }
        }
        recomputeTargets()
    }

    /// What the model may hold per guest page at most: the pmap entry, hash and metadata
    /// word (24 bytes in the arena), FIFO order (4), shadow and sharing-table entries.
    public static let bytesPerGuestPage = 48

    /// The most memory one engine may use, planned from the configuration alone.
    public static func plannedBytes(_ host: HostConfig) -> Double {
        Double(host.vms.reduce(0) { $0 + $1.maxPages }) * Double(bytesPerGuestPage) + Double(host.vms.count) * 4096
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
        for r in batch {
            if r.vm != id {
                id = r.vm
                vm = try vmState(id)
            }
            try apply(r, vm: vm)
        }
    }

    @inline(__always)
    private func vmState(_ id: VMID) throws(ReplayError) -> VMState {
        guard let vi = vmIndex[id.rawValue] else {
            throw fail("record for VM \(id) that the replay does not know")
        }
        return vms[vi]
    }

    @inline(__always)
    private func apply(_ r: TraceRecord, vm: VMState) throws(ReplayError) {
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
        case .zero:
            var p = r.ppn.rawValue
            let end = p &+ r.count
            while p != end {
                try setContent(vm, ppn: p, hash: ContentHash.zero.rawValue)
                p &+= 1
            }
        case .free:
            for p in r.ppn.rawValue..<(r.ppn.rawValue &+ r.count) {
                vm.flags[Int(p)] |= PageFlag.guestFreed
            }
            vm.counters.guestFreed += UInt64(r.count)
        }
        if overcommitted { updateState() }
        if checkEveryStep { try checkConservation() }
        if checkFullEveryStep { try checkInvariants() }
    }

    func fail(_ message: String) -> ReplayError {
        ReplayError(record: recordsApplied == 0 ? nil : recordsApplied - 1, time: now.rawValue, message: message)
    }

    // MARK: accesses and the shadow tables

    /// Notes a touch for the true working set and the guest's LRU order (one word written).
    @inline(__always)
    private func touch(_ vm: VMState, _ i: Int) {
        var f = vm.flags[i]
        let stamp = UInt64(vm.stamp)
        if PageFlag.stamp(f) != stamp {
            f = f & ~PageFlag.stampMask | stamp << PageFlag.stampShift
            vm.touchedThisPeriod += 1
        }
        if vm.trackLRU {
            if vm.seqCounter == UInt32.max {
                vm.flags[i] = f
                vm.lruTouch(UInt32(i))
                return
            }
            f = PageFlag.withSeq(f, vm.seqCounter)
            vm.seqCounter += 1
        }
        vm.flags[i] = f
    }

    @inline(__always)
    private func access(_ vm: VMState, ppn: UInt32, write: Bool) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        touch(vm, i)
        let f = vm.flags[i]
        if f & PageFlag.shadowValid != 0 && (!write || f & PageFlag.shadowWritable != 0) {
            vm.counters.shadowHits += 1
            vm.flags[i] = f & (write ? ~PageFlag.writeClears : ~PageFlag.guestFreed)
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        var nf = vm.flags[i] | PageFlag.shadowValid
        nf = writable ? nf | PageFlag.shadowWritable : nf & ~PageFlag.shadowWritable
        nf &= ~PageFlag.guestFreed
        if write { nf &= ~PageFlag.writeClears }
        vm.flags[i] = nf
    }

    private func accessVirtual(_ vm: VMState, ppn: UInt32, asid: UInt32, vpn: UInt64, write: Bool) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        touch(vm, i)
        let key = VirtualShadow.Key(vm: UInt32(vm.index), asid: asid, vpn: vpn)
        if let e = vshadow.lookup(key), e.ppn == ppn, !write || e.writable, vm.flags[i] & PageFlag.virtualMapped != 0 {
            vm.counters.shadowHits += 1
            vm.flags[i] &= write ? ~PageFlag.writeClears : ~PageFlag.guestFreed
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        vshadow.install(key, vm: vm.index, ppn: ppn, writable: writable)
        vm.flags[i] |= PageFlag.virtualMapped
        vm.flags[i] &= write ? ~PageFlag.writeClears : ~PageFlag.guestFreed
    }

    /// A hidden fault: resolves the access through the pmap and says whether the new shadow
    /// entry may allow writes.
    private func resolveFault(_ vm: VMState, ppn: UInt32, write: Bool) throws(ReplayError) -> Bool {
        vm.counters.hiddenFaults += 1
        let i = Int(ppn)
        if vm.flags[i] & PageFlag.sampled != 0 {
            vm.flags[i] &= ~PageFlag.sampled
            vm.traps += 1
            vm.counters.samplingTraps += 1
        }
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            let hadContent = vm.flags[i] & PageFlag.everBacked != 0
            try backPrivate(vm, ppn: ppn)
            if hadContent {
                // The guest gave this page to its balloon earlier: it reads the data back.
                vm.counters.guestRefaults += 1
            } else {
                // Demand-zero fill: a newly allocated machine page is zeroed.
                vm.hash[i] = ContentHash.zero.rawValue
                vm.flags[i] |= PageFlag.known | PageFlag.everBacked
                vm.counters.demandZero += 1
            }
            return true
        case .privateMPN:
            return true
        case .shared:
            if !write { return false }
            vm.counters.cowFaults += 1
            try breakCOW(vm, ppn: ppn)
            return true
        case .swapped:
            try swapIn(vm, ppn: ppn)
            return true
        case .ballooned:
            try guestFault(vm, ppn: ppn)
            return true
        }
    }

    /// Gives an untouched PPN a private machine page (its content flags are the caller's).
    private func backPrivate(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let m = try allocate(for: vm)
        vm.entry[Int(ppn)] = PageState.privateMPN.entry(m)
        vm.privatePages += 1
        fifoPush(vm, ppn)
    }

    /// Copy-on-write: gives the PPN a private copy of its shared frame's content.
    private func breakCOW(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        let frame = PageState.payload(vm.entry[i])
        let m = try allocate(for: vm)
        // Allocation may have reclaimed synchronously, but never a shared page: still ours.
        vm.entry[i] = PageState.privateMPN.entry(m)
        vm.sharedPages -= 1
        vm.privatePages += 1
        fifoPush(vm, ppn)
        if table.fullHash[Int(frame)] == ContentHash.zero.rawValue { vm.zeroSharedPages -= 1 }
        vm.counters.cowBreaks += 1
        releaseRef(frame)
        // The copy holds the frame's content until the write lands; the caller marks it unknown.
        vm.hash[i] = table.fullHash[Int(frame)]
        vm.flags[i] |= PageFlag.known
    }

    private func releaseRef(_ frame: UInt32) {
        if table.dropRef(frame) == 0 {
            memory.release(table.target[Int(frame)])
            table.removeFrame(frame)
        }
    }

    /// Invalidates every shadow entry reaching the PPN (a remap).
    func invalidateShadow(_ vm: VMState, ppn: UInt32) {
        let i = Int(ppn)
        var n = 0
        if vm.flags[i] & PageFlag.shadowValid != 0 { n += 1 }
        vm.flags[i] &= ~(PageFlag.shadowValid | PageFlag.shadowWritable)
        if vm.flags[i] & PageFlag.virtualMapped != 0 {
            n += vshadow.invalidate(vm: vm.index, ppn: ppn)
            vm.flags[i] &= ~PageFlag.virtualMapped
        }
        vm.counters.invalidations += UInt64(n)
    }

    /// Write-protects every shadow entry reaching the PPN (sharing it).
    func writeProtectShadow(_ vm: VMState, ppn: UInt32) {
        let i = Int(ppn)
        var n = 0
        if vm.flags[i] & PageFlag.shadowWritable != 0 { n += 1 }
        vm.flags[i] &= ~PageFlag.shadowWritable
        if vm.flags[i] & PageFlag.virtualMapped != 0 {
            n += vshadow.writeProtect(vm: vm.index, ppn: ppn)
        }
        vm.counters.invalidations += UInt64(n)
    }

    /// Allocates a machine page for `vm`; with none free, reclaims synchronously (host paging
    /// of a victim, VMs above target first) and counts it.
    func allocate(for vm: VMState) throws(ReplayError) -> UInt32 {
        if let m = memory.allocate() { return m }
        vm.counters.syncReclaims += 1
        while memory.free == 0 {
            try reclaimOnePage()
        }
        return memory.allocate()!
    }

    // MARK: content

    private func setContent(_ vm: VMState, ppn: UInt32, hash: UInt64) throws(ReplayError) {
        let i = Int(ppn)
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            // The page existed before the trace started (or comes back from the balloon): back it.
            try backPrivate(vm, ppn: ppn)
            vm.counters.contentBacked += 1
            vm.lruTouch(ppn)
        case .privateMPN:
            break
        case .shared:
            let frame = PageState.payload(e)
            if table.fullHash[Int(frame)] == hash { return }
            // Content that contradicts the shared copy implies a write: break COW.
            vm.counters.impliedWrites += 1
            try breakCOW(vm, ppn: ppn)
            invalidateShadow(vm, ppn: ppn)
        case .swapped, .ballooned:
            // New content means the guest touched the page: bring it back first.
            vm.counters.impliedWrites += 1
            _ = try resolveFault(vm, ppn: ppn, write: true)
            vm.lruTouch(ppn)
        }
        if vm.hash[i] != hash { vm.flags[i] &= ~PageFlag.scanStable }
        if vm.flags[i] & PageFlag.hinted != 0 && vm.hash[i] != hash {
            // The hinted content is gone: its hint can never validate again.
            vm.counters.staleHints += 1
            dropHint(vm, ppn: ppn)
        }
        vm.hash[i] = hash
        vm.flags[i] |= PageFlag.known | PageFlag.everBacked
    }

    // MARK: power and admission control

    /// Powers a VM on if admission control allows: unreserved memory ≥ min + overhead and
    /// unreserved swap ≥ max − min (PAPER.md §6), where unreserved = total − what powered-on
    /// VMs reserved. Current free memory plays no part: if it is short of the overhead, pages
    /// are reclaimed synchronously from VMs above their min. A refused VM stays off (its
    /// records are skipped) until a later power-on succeeds; the refusal is recorded.
    private func powerOn(_ vm: VMState) throws(ReplayError) {
        let c = vm.config
        var reservedMem: UInt64 = 0, reservedSwap: UInt64 = 0
        for o in vms where o.on {
            reservedMem += o.config.minPages + o.config.overheadPages
            reservedSwap += o.config.maxPages - o.config.minPages
        }
        let unreservedMem = host.machinePages > reservedMem ? host.machinePages - reservedMem : 0
        let unreservedSwap = host.swapPages > reservedSwap ? host.swapPages - reservedSwap : 0
        let needMem = c.minPages + c.overheadPages, needSwap = c.maxPages - c.minPages
        guard unreservedMem >= needMem, unreservedSwap >= needSwap else {
            vm.refused = true
            refusals.append(AdmissionRefusal(
                vm: c.id, time: now, memoryShortPages: needMem > unreservedMem ? needMem - unreservedMem : 0,
                swapShortPages: needSwap > unreservedSwap ? needSwap - unreservedSwap : 0,
                memoryNeededPages: needMem, memoryUnreservedPages: unreservedMem,
                swapNeededPages: needSwap, swapUnreservedPages: unreservedSwap))
            return
        }
        var reclaimed: UInt64 = 0
        while memory.free < c.overheadPages {
            try reclaimOnePage()
            reclaimed += 1
        }
        if reclaimed > 0 { vm.counters.syncReclaims += 1 }
        let ok = memory.reserve(c.overheadPages)
        precondition(ok, "overhead reservation after reclaiming")
        vm.on = true
    }

    private func powerOff(_ vm: VMState) {
        for p in 0..<UInt32(vm.pageCount) {
            let i = Int(p)
            let e = vm.entry[i]
            if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
            switch PageState.of(e) {
            case .untouched, .ballooned: break
            case .privateMPN:
                memory.release(PageState.payload(e))
            case .shared:
                releaseRef(PageState.payload(e))
            case .swapped:
                swap.release(PageState.payload(e))
            }
            if vm.flags[i] & PageFlag.virtualMapped != 0 { _ = vshadow.invalidate(vm: vm.index, ppn: p) }
            vm.entry[i] = 0
            vm.flags[i] = 0
            vm.hash[i] = 0
        }
        vm.privatePages = 0; vm.sharedPages = 0; vm.zeroSharedPages = 0; vm.swappedPages = 0
        balloonTotal -= vm.balloonedPages
        vm.balloonedPages = 0; vm.hints = 0
        vm.victimQueue.removeAll(); vm.victimHead = 0; vm.tailStack.removeAll()
        vm.balloonStack.removeAll()
        vm.fifoQueue.removeAll(); vm.fifoHead = 0
        vm.sampledPPNs.removeAll()
        memory.unreserve(vm.config.overheadPages)
        vm.on = false
    }

    // MARK: the clock

    /// Runs every periodic task due at or before `t` in time order (at equal times: sampling,
    /// balancing, reclamation, scanning, timeline) and moves the clock to `t`. A timeline row
    /// stamped T describes the state after every record stamped ≤ T (docs/REPORT.md
    /// "Intervals"), so a row due at `t` itself waits for the records at `t`, unless
    /// `finishing` (no record follows).
    public func advance(to t: Micros) throws(ReplayError) {
        try advance(to: t, finishing: false)
    }

    private func advance(to t: Micros, finishing: Bool) throws(ReplayError) {
        if t < nextDue {
            accountTime(to: t)
            return
        }
        stepsInSpan = 0
        while true {
            stepsInSpan &+= 1
            if stepsInSpan & 0xFFFF == 0, let spanProgress { spanProgress(now, t) }
            if fastForward, t.rawValue > now.rawValue + fastForwardMinSpan.rawValue, now >= nextFastForwardTry {
                if try !fastForwardSteady(before: t, finishing: finishing) { nextFastForwardTry = Micros(now.rawValue + samplePeriod.rawValue) }
            }
            var next = nextSample
            if nextBalance < next { next = nextBalance }
            if nextReclaim < next { next = nextReclaim }
            if nextScan < next { next = nextScan }
            let others = next
            if let tl = nextTimeline, tl < next { next = tl }
            nextDue = next
            if next > t { break }
            let timelineNow = nextTimeline == next && (next < t || finishing)
            if others != next && !timelineNow { break }   // only a timeline row at t: it waits
            accountTime(to: next)
            if nextSample == next {
                samplePeriodEnd()
                nextSample = Micros(next.rawValue + samplePeriod.rawValue)
            }
            if nextBalance == next {
                recomputeTargets()
                nextBalance = Micros(next.rawValue + balancePeriod.rawValue)
            }
            if nextReclaim == next {
                try reclaimTick()
                nextReclaim = Micros(next.rawValue + ReplayEngine.tick.rawValue)
            }
            if nextScan == next {
                scanTick()
                nextScan = Micros(next.rawValue + ReplayEngine.tick.rawValue)
            }
            if timelineNow, let iv = timelineInterval {
                let rows = Double(timeline.count + vms.count) * TimelineRow.plannedBytes
                if let problem = MemoryBudget.problem(rows, for: "the timeline (\(timeline.count + vms.count) rows so far at one per VM per \(Units.formatDuration(iv)))") {
                    throw fail(problem + ", or a longer --timeline-interval")
                }
                recordTimeline()
                nextTimeline = Micros(next.rawValue + iv.rawValue)
            }
            if overcommitted { updateState() }
            if checkFullEveryStep { try checkInvariants() }
        }
        accountTime(to: t)
    }

    @inline(__always)
    func accountTime(to t: Micros) {
        if t > now {
            let d = t.rawValue - now.rawValue
            switch state {
            case .high: stateTime.0 += d
            case .soft: stateTime.1 += d
            case .hard: stateTime.2 += d
            case .low: stateTime.3 += d
            }
            now = t
        }
    }

    /// Moves between the free-memory states; a change recomputes targets.
    func updateState() {
        let s = state.next(free: memory.free, thresholds)
        if s != state {
            transitions["\(state.rawValue)->\(s.rawValue)", default: 0] += 1
            state = s
            recomputeTargets()
        }
    }

    // MARK: the sharing scan

    /// One second of scanning: each powered-on VM earns `shareScanVM` candidates, all VMs
    /// together at most `shareScanTotal`; VMs are served in an order that rotates every tick.
    func scanTick() {
        scanTicks += 1
        guard policy.sharing != .off, !vms.isEmpty else { return }
        let seconds = ReplayEngine.tick.seconds
        scanGlobalCredit = min(scanGlobalCredit + policy.shareScanTotal * seconds, policy.shareScanTotal * seconds + 1)
        let n = vms.count
        let start = scanRotation % n
        scanRotation += 1
        for k in 0..<n {
            let vm = vms[(start + k) % n]
            guard vm.on else { continue }
            vm.scanCredit = min(vm.scanCredit + policy.shareScanVM * seconds, policy.shareScanVM * seconds + 1)
            let budget = min(Int(vm.scanCredit.rounded(.down)), Int(scanGlobalCredit.rounded(.down)))
            guard budget > 0 else { continue }
            vm.scanCredit -= Double(budget)
            scanGlobalCredit -= Double(budget)
            for _ in 0..<budget { scanNext(vm) }
        }
    }

    /// Visits the VM's next candidate in this sweep's random order. Also notes whether a whole
    /// sweep went by without changing anything (for fast-forward: then every later sweep does
    /// the same until something else changes).
    func scanNext(_ vm: VMState) {
        if vm.scanPosition >= UInt64(vm.pageCount) {
            vm.scanSweep += 1
            vm.scanPosition = 0
            var rng = SeededRandom.stream(seed: policy.seed, vm: vm.config.id, .shareScan, vm.scanSweep)
            vm.scanPermutation = Permutation(n: UInt64(vm.pageCount), rng: &rng)
        }
        if vm.scanPosition == 0 {
            vm.countingSweep = vm.scanSweep
            vm.countingEpoch = changeEpoch
            vm.countingVolatile = 0
            vm.countingFalse = 0
        }
        let before = (table.sharedFrames, table.hintFrames, vm.sharedPages, vm.counters.staleHints)
        let volatile0 = vm.counters.volatileSkipped, false0 = vm.counters.falseMatches
        // ESX picks candidates at random; KSM walks memory in order.
        let ppn = policy.sharing == .ksm ? UInt32(vm.scanPosition) : UInt32(vm.scanPermutation(vm.scanPosition))
        vm.scanPosition += 1
        vm.counters.pagesScanned += 1
        var changed = false
        visit: do {
            if policy.sharing == .ksm {
                // KSM merges a page only if its checksum is unchanged since the scanner's last visit.
                let i = Int(ppn)
                let f = vm.flags[i]
                if PageState.of(vm.entry[i]) == .privateMPN && f & PageFlag.scanStable == 0 {
                    if f & PageFlag.known != 0 { vm.flags[i] = f | PageFlag.scanStable; changed = true }
                    vm.counters.volatileSkipped += 1
                    break visit
                }
            }
            _ = tryShare(vm, ppn: ppn)
        }
        if changed || before != (table.sharedFrames, table.hintFrames, vm.sharedPages, vm.counters.staleHints) {
            changeEpoch &+= 1
        }
        vm.countingVolatile += vm.counters.volatileSkipped - volatile0
        vm.countingFalse += vm.counters.falseMatches - false0
        if vm.scanPosition == UInt64(vm.pageCount) && vm.countingSweep == vm.scanSweep && vm.countingEpoch == changeEpoch {
            vm.steadyEpoch = changeEpoch
            vm.steadyVolatile = vm.countingVolatile
            vm.steadyFalse = vm.countingFalse
        }
    }

    /// Offers one page to the sharing table (the scanner, and share-before-swap).
    /// Returns true if the page ends up mapped to a shared frame.
    @discardableResult
    func tryShare(_ vm: VMState, ppn: UInt32) -> Bool {
        let i = Int(ppn)
        let e = vm.entry[i]
        guard PageState.of(e) == .privateMPN else { return PageState.of(e) == .shared }
        guard vm.flags[i] & PageFlag.known != 0 else {
            vm.counters.volatileSkipped += 1
            return false
        }
        let h = vm.hash[i]
        if policy.sharing == .zeroOnly && h != ContentHash.zero.rawValue { return false }
        if policy.sharing == .off { return false }
        enum Outcome { case shareWith(UInt32), promote(UInt32, VMState, UInt32), own, none }
        var outcome = Outcome.none
        var stale: [UInt32] = []
        table.forEachMatch(h) { f in
            let fi = Int(f)
            switch table.kind[fi] {
            case .shared:
                if table.fullHash[fi] == h { outcome = .shareWith(f); return false }
                vm.counters.falseMatches += 1
            case .hint:
                let owner = vms[Int(table.hintVM[fi])]
                let q = table.target[fi]
                if owner === vm && q == ppn {
                    if table.fullHash[fi] == h { outcome = .own; return false }
                    stale.append(f)
                    return true
                }
                // Re-validate the hinted page: still private, content unchanged.
                let qi = Int(q)
                let valid = PageState.of(owner.entry[qi]) == .privateMPN && owner.flags[qi] & PageFlag.known != 0
                    && owner.hash[qi] == table.fullHash[fi]
                if !valid { stale.append(f); return true }
                if table.fullHash[fi] == h { outcome = .promote(f, owner, q); return false }
                vm.counters.falseMatches += 1
            case .free:
                break
            }
            return true
        }
        for f in stale {
            vm.counters.staleHints += 1
            let owner = vms[Int(table.hintVM[Int(f)])]
            owner.flags[Int(table.target[Int(f)])] &= ~PageFlag.hinted
            owner.hints -= 1
            table.removeFrame(f)
        }
        switch outcome {
        case .own:
            return false
        case .shareWith(let f):
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            return true
        case .promote(let f, let owner, let q):
            // The hinted page's MPN becomes the shared copy; both PPNs map it copy-on-write.
            let qi = Int(q)
            let m = PageState.payload(owner.entry[qi])
            owner.flags[qi] &= ~PageFlag.hinted
            owner.hints -= 1
            table.promote(f, mpn: m, refs: 1)
            owner.entry[qi] = PageState.shared.entry(f)
            owner.privatePages -= 1
            owner.sharedPages += 1
            if h == ContentHash.zero.rawValue { owner.zeroSharedPages += 1 }
            writeProtectShadow(owner, ppn: q)
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            return true
        case .none:
            if vm.flags[i] & PageFlag.hinted != 0 { return false }
            _ = table.addHint(hash: h, vm: UInt32(vm.index), ppn: ppn)
            vm.flags[i] |= PageFlag.hinted
            vm.hints += 1
            return false
        }
    }

    /// Maps a private PPN to shared frame `f` (reference already counted), freeing its MPN.
    private func mapShared(_ vm: VMState, ppn: UInt32, frame f: UInt32) {
        let i = Int(ppn)
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: ppn) }
        memory.release(PageState.payload(vm.entry[i]))
        vm.entry[i] = PageState.shared.entry(f)
        vm.privatePages -= 1
        vm.sharedPages += 1
        if table.fullHash[Int(f)] == ContentHash.zero.rawValue { vm.zeroSharedPages += 1 }
        writeProtectShadow(vm, ppn: ppn)
    }

    /// Removes the hint frame that points at (vm, ppn). A hinted page's `hash` always holds the
    /// content it was hinted with (a write only clears `known`; a new content report drops the
    /// hint first), so the frame is found under that key.
    func dropHint(_ vm: VMState, ppn: UInt32) {
        var found: UInt32?
        table.forEachMatch(vm.hash[Int(ppn)]) { f in
            if table.kind[Int(f)] == .hint && table.hintVM[Int(f)] == UInt32(vm.index) && table.target[Int(f)] == ppn {
                found = f
                return false
            }
            return true
        }
        precondition(found != nil, "hint of VM \(vm.config.id) PPN \(ppn) missing from the sharing table")
        table.removeFrame(found!)
        vm.flags[Int(ppn)] &= ~PageFlag.hinted
        vm.hints -= 1
    }

    // MARK: finishing

    /// Runs the clock on to `t` after the last record, ends the timeline (when on) with a row
    /// per VM at that time unless one was just recorded there, so its last rows equal the
    /// final report, then checks every invariant.
    public func finish(settleUntil t: Micros) throws(ReplayError) {
        try advance(to: t, finishing: true)
        if timelineInterval != nil && timeline.last?.time != now { recordTimeline() }
        try checkInvariants()
    }
}
