import Foundation
import TraceFormat

/// Why a replay stopped.
public struct ReplayError: Error, CustomStringConvertible, Equatable {
    public var record: UInt64?
    public var time: UInt64
    public var message: String
    public var description: String {
        let at = record.map { "record \($0), " } ?? ""
        return "\(at)time \(time) us: \(message)"
    }
}

/// The model: host, VMs, pmaps, shadow tables and the sharing scan, driven record by record on
/// a simulated clock (DESIGN.md). One instance owns all mutable state; nothing here prints.
///
/// Contract: feed records in time order with `apply`; periodic work (the sharing scan) runs
/// between records at fixed times, in a fixed order, by `advance(to:)`; `finish(settleUntil:)`
/// runs the clock on after the last record. The same trace, policy and seed always give the
/// same state.
public final class ReplayEngine {
    public let policy: Policy
    public let host: HostConfig
    let vms: [VMState]
    private let vmIndex: VMIndexMap
    var memory: MachineMemory
    var table: ShareTable
    var vshadow = VirtualShadow()
    public private(set) var now: Micros = .zero
    public private(set) var recordsApplied: UInt64 = 0
    /// Run the cheap conservation check after every record (on in debug builds).
    public var checkEveryStep: Bool
    /// Run the full structural check after every record and scan tick (tests).
    public var checkFullEveryStep = false

    /// The sharing scan runs once per simulated second.
    public static let scanInterval = Micros(1_000_000)
    private var nextScan: Micros = ReplayEngine.scanInterval
    private var scanGlobalCredit: Double = 0
    private var scanRotation = 0
    private var scanTicks: UInt64 = 0

    public init(host: HostConfig, policy: Policy) throws(ReplayError) {
        do { try policy.validate() } catch { throw ReplayError(time: 0, message: error.description) }
        self.host = host
        self.policy = policy
        #if DEBUG
        checkEveryStep = true
        #else
        checkEveryStep = false
        #endif
        vms = host.vms.enumerated().map { VMState(config: $1, index: $0, seed: policy.seed) }
        vmIndex = VMIndexMap(host.vms.map { VMDecl(id: $0.id, name: $0.name, pages: $0.maxPages) })
        memory = MachineMemory(pages: host.machinePages)
        table = ShareTable(hashBits: policy.hashBits)
        for vm in vms where vm.on {
            guard memory.reserve(vm.config.overheadPages) else {
                throw ReplayError(time: 0, message: "host memory (\(host.machinePages) pages) cannot hold the overhead of VM \(vm.config.id) at power-on")
            }
        }
    }

    deinit { memory.deallocate() }

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
        vm.counters.records += 1
        recordsApplied += 1
        switch r.kind {
        case .powerOn:
            try powerOn(vm)
        case .powerOff:
            powerOff(vm)
        case _ where !vm.on:
            vm.counters.skippedRecords += 1
        case .read, .write:
            let write = r.kind == .write
            let stamp = UInt32(truncatingIfNeeded: r.time.rawValue >> 10)
            if r.hasVirtual {
                try accessVirtual(vm, ppn: r.ppn.rawValue, asid: r.asid.rawValue, vpn: r.vpn.rawValue, write: write, stamp: stamp)
            } else {
                var p = r.ppn.rawValue
                let end = p &+ r.count
                while p != end {
                    try access(vm, ppn: p, write: write, stamp: stamp)
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
        if checkEveryStep { try checkConservation() }
        if checkFullEveryStep { try checkInvariants() }
    }

    func fail(_ message: String) -> ReplayError {
        ReplayError(record: recordsApplied == 0 ? nil : recordsApplied - 1, time: now.rawValue, message: message)
    }

    // MARK: accesses and the shadow tables

    @inline(__always)
    private func access(_ vm: VMState, ppn: UInt32, write: Bool, stamp: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        vm.lastAccess[i] = stamp
        let f = vm.flags[i]
        if f & PageFlag.shadowValid != 0 && (!write || f & PageFlag.shadowWritable != 0) {
            vm.counters.shadowHits += 1
            if write { vm.flags[i] = f & ~(PageFlag.known | PageFlag.guestFreed) } else if f & PageFlag.guestFreed != 0 {
                vm.flags[i] = f & ~PageFlag.guestFreed
            }
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        var nf = vm.flags[i] | PageFlag.shadowValid
        nf = writable ? nf | PageFlag.shadowWritable : nf & ~PageFlag.shadowWritable
        nf &= ~PageFlag.guestFreed
        if write { nf &= ~PageFlag.known }
        vm.flags[i] = nf
    }

    private func accessVirtual(_ vm: VMState, ppn: UInt32, asid: UInt32, vpn: UInt64, write: Bool, stamp: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        vm.lastAccess[i] = stamp
        let key = VirtualShadow.Key(vm: UInt32(vm.index), asid: asid, vpn: vpn)
        if let e = vshadow.lookup(key), e.ppn == ppn, !write || e.writable {
            vm.counters.shadowHits += 1
            vm.flags[i] &= write ? ~(PageFlag.known | PageFlag.guestFreed) : ~PageFlag.guestFreed
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        vshadow.install(key, vm: vm.index, ppn: ppn, writable: writable)
        vm.flags[i] |= PageFlag.virtualMapped
        vm.flags[i] &= write ? ~(PageFlag.known | PageFlag.guestFreed) : ~PageFlag.guestFreed
    }

    /// A hidden fault: resolves the access through the pmap and says whether the new shadow
    /// entry may allow writes.
    private func resolveFault(_ vm: VMState, ppn: UInt32, write: Bool) throws(ReplayError) -> Bool {
        vm.counters.hiddenFaults += 1
        let i = Int(ppn)
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            // Demand-zero fill: a newly allocated machine page is zeroed.
            let m = try allocate(owner: MachineMemory.Owner.privatePage(vm: vm.index, ppn: ppn))
            vm.entry[i] = PageState.privateMPN.entry(m)
            vm.privatePages += 1
            vm.hash[i] = ContentHash.zero.rawValue
            vm.flags[i] |= PageFlag.known | PageFlag.everBacked
            vm.counters.demandZero += 1
            return true
        case .privateMPN:
            return true
        case .shared:
            if !write { return false }
            vm.counters.cowFaults += 1
            try breakCOW(vm, ppn: ppn)
            return true
        case .swapped, .ballooned:
            throw fail("VM \(vm.config.id) PPN \(ppn) is \(PageState.of(e)), which this version never produces")
        }
    }

    /// Copy-on-write: gives the PPN a private copy of its shared frame's content.
    private func breakCOW(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        let frame = PageState.payload(vm.entry[i])
        let m = try allocate(owner: MachineMemory.Owner.privatePage(vm: vm.index, ppn: ppn))
        vm.entry[i] = PageState.privateMPN.entry(m)
        vm.sharedPages -= 1
        vm.privatePages += 1
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

    /// Allocates a machine page. With no free page this version, which has no reclamation,
    /// stops with an error naming the record.
    private func allocate(owner: UInt64) throws(ReplayError) -> UInt32 {
        if let m = memory.allocate(owner: owner) { return m }
        throw fail("host memory exhausted (\(host.machinePages) pages, \(memory.reserved) reserved for overhead): this version does not model reclamation; raise --host-memory")
    }

    // MARK: content

    private func setContent(_ vm: VMState, ppn: UInt32, hash: UInt64) throws(ReplayError) {
        let i = Int(ppn)
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            // The page existed before the trace started: back it with its content.
            let m = try allocate(owner: MachineMemory.Owner.privatePage(vm: vm.index, ppn: ppn))
            vm.entry[i] = PageState.privateMPN.entry(m)
            vm.privatePages += 1
            vm.counters.contentBacked += 1
        case .privateMPN:
            break
        case .shared:
            let frame = PageState.payload(e)
            if table.fullHash[Int(frame)] == hash { return }
            // Content that contradicts the shared copy implies a write: break COW.
            vm.counters.impliedWrites += 1
            try breakCOW(vm, ppn: ppn)
            writeProtectShadow(vm, ppn: ppn)
            invalidateShadow(vm, ppn: ppn)
        case .swapped, .ballooned:
            throw fail("VM \(vm.config.id) PPN \(ppn) is \(PageState.of(e)), which this version never produces")
        }
        if vm.flags[i] & PageFlag.hinted != 0 && vm.hash[i] != hash {
            // The hinted content is gone: its hint can never validate again.
            vm.counters.staleHints += 1
            dropHint(vm, ppn: ppn)
        }
        vm.hash[i] = hash
        vm.flags[i] |= PageFlag.known | PageFlag.everBacked
    }

    // MARK: power

    private func powerOn(_ vm: VMState) throws(ReplayError) {
        vm.counters.powerOns += 1
        if vm.on { return }
        guard memory.reserve(vm.config.overheadPages) else {
            throw fail("VM \(vm.config.id) powers on but host memory cannot hold its \(vm.config.overheadPages)-page overhead")
        }
        vm.on = true
    }

    private func powerOff(_ vm: VMState) {
        vm.counters.powerOffs += 1
        guard vm.on else { return }
        for p in 0..<UInt32(vm.pageCount) {
            let i = Int(p)
            let e = vm.entry[i]
            if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
            switch PageState.of(e) {
            case .untouched: break
            case .privateMPN:
                memory.release(PageState.payload(e))
                vm.privatePages -= 1
            case .shared:
                let frame = PageState.payload(e)
                if table.fullHash[Int(frame)] == ContentHash.zero.rawValue { vm.zeroSharedPages -= 1 }
                vm.sharedPages -= 1
                releaseRef(frame)
            case .swapped, .ballooned: break
            }
            if vm.flags[i] & PageFlag.virtualMapped != 0 { _ = vshadow.invalidate(vm: vm.index, ppn: p) }
            vm.entry[i] = 0
            vm.flags[i] = 0
            vm.hash[i] = 0
        }
        memory.unreserve(vm.config.overheadPages)
        vm.on = false
    }

    // MARK: the clock

    /// Runs every periodic task due at or before `t`, in time order (ties in a fixed order),
    /// and moves the clock to `t`.
    public func advance(to t: Micros) throws(ReplayError) {
        while nextScan <= t {
            now = nextScan
            scanTick()
            nextScan = Micros(nextScan.rawValue + ReplayEngine.scanInterval.rawValue)
            if checkFullEveryStep { try checkInvariants() }
        }
        if t > now { now = t }
    }

    // MARK: the sharing scan

    /// One second of scanning: each powered-on VM earns `shareScanVM` candidates, all VMs
    /// together at most `shareScanTotal`; VMs are served in an order that rotates every tick.
    private func scanTick() {
        scanTicks += 1
        guard policy.sharing != .off, !vms.isEmpty else { return }
        let seconds = ReplayEngine.scanInterval.seconds
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

    /// Visits the VM's next candidate in this sweep's random order.
    private func scanNext(_ vm: VMState) {
        if vm.scanPosition >= UInt64(vm.pageCount) {
            vm.scanSweep += 1
            vm.scanPosition = 0
            var rng = SeededRandom.stream(seed: policy.seed, vm: vm.config.id, .shareScan, vm.scanSweep)
            vm.scanPermutation = Permutation(n: UInt64(vm.pageCount), rng: &rng)
        }
        let ppn = UInt32(vm.scanPermutation(vm.scanPosition))
        vm.scanPosition += 1
        vm.counters.pagesScanned += 1
        _ = tryShare(vm, ppn: ppn)
    }

    /// Offers one page to the sharing table (the scanner, and later share-before-swap).
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
            vm.counters.shareEvents += 1
            return true
        case .promote(let f, let owner, let q):
            // The hinted page's MPN becomes the shared copy; both PPNs map it copy-on-write.
            let qi = Int(q)
            let m = PageState.payload(owner.entry[qi])
            owner.flags[qi] &= ~PageFlag.hinted
            owner.hints -= 1
            table.promote(f, mpn: m, refs: 1)
            memory.setOwner(m, MachineMemory.Owner.sharedFrame(f))
            owner.entry[qi] = PageState.shared.entry(f)
            owner.privatePages -= 1
            owner.sharedPages += 1
            if h == ContentHash.zero.rawValue { owner.zeroSharedPages += 1 }
            writeProtectShadow(owner, ppn: q)
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            vm.counters.shareEvents += 1
            return true
        case .none:
            if vm.flags[i] & PageFlag.hinted != 0 {
                // Its old hint (other content) was removed above as stale.
                return false
            }
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
    private func dropHint(_ vm: VMState, ppn: UInt32) {
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

    /// Runs the clock (and so the scanner) on to `t` after the last record.
    public func finish(settleUntil t: Micros) throws(ReplayError) {
        try advance(to: t)
        try checkInvariants()
    }

    public var scanTicksRun: UInt64 { scanTicks }
}
