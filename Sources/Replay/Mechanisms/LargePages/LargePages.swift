/// Large pages as a mechanism (docs/MODEL.md "Large pages"; the rules are LargePageMap's
/// contract): one map per VM, told when a page gains or loses private backing; it keeps pages
/// inside a large page out of the sharing table, and splits every large page when an
/// allocation leaves free memory below the break threshold or the state leaves high.
final class LargePages: EngineMechanism, PageWatcher, SharingGate {
    /// Per VM (by index).
    private(set) var maps: [LargePageMap] = []
    /// The free pages below which every large page is split, the large pages of all VMs now,
    /// and the most guest pages in them at once.
    private(set) var breakPages: UInt64 = 0
    private(set) var blocks = 0
    private(set) var peakPages: UInt64 = 0
    private let breakFree: Double

    init(policy: Policy) { breakFree = policy.largePageBreakFree }

    func attach(_ engine: ReplayEngine) {
        maps = engine.vms.map { LargePageMap(pages: $0.pageCount, pageSize: engine.host.pageSize) }
        let t = engine.thresholds
        breakPages = t.hasClear ? t.high : UInt64((Double(engine.host.machinePages) * breakFree).rounded(.up))
    }

    /// Large pages may form: the state is high and free memory is at or above the threshold.
    private func mayForm(_ engine: ReplayEngine) -> Bool { engine.state == .high && engine.memory.free >= breakPages }

    /// Allocations watch free memory against the threshold only while a large page exists.
    private func updateFloor(_ engine: ReplayEngine) { engine.lowFreeFloor = blocks > 0 ? breakPages : 0 }

    func becamePrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {
        if maps[vm.index].gained(Int(ppn), mayForm: mayForm(engine)) {
            blocks += 1
            peakPages = max(peakPages, UInt64(blocks * maps[vm.index].blockPages))
            updateFloor(engine)
        }
    }

    func leftPrivate(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32) {
        let before = maps[vm.index].largeCount
        maps[vm.index].lost(Int(ppn))
        if maps[vm.index].largeCount != before {
            blocks -= before - maps[vm.index].largeCount
            updateFloor(engine)
        }
    }

    /// The host splits every large page.
    private func splitAll(_ engine: ReplayEngine) {
        for i in maps.indices { blocks -= maps[i].splitAll() }
        updateFloor(engine)
    }

    func freeBelowFloor(_ engine: ReplayEngine) { splitAll(engine) }

    func stateChanged(_ engine: ReplayEngine) {
        if engine.state != .high && blocks > 0 { splitAll(engine) }
    }

    func poweredOff(_ engine: ReplayEngine, _ vm: VMState) {
        blocks -= maps[vm.index].largeCount
        maps[vm.index].reset()
        updateFloor(engine)
    }

    /// Inside a large page: hashed, not shared; counted, with whether it would have been.
    func blocksOffer(_ engine: ReplayEngine, _ vm: VMState, _ ppn: UInt32, hash: UInt64) -> Bool {
        guard maps[vm.index].isLarge(Int(ppn)) else { return false }
        maps[vm.index].counts.scanSkips += 1
        if wouldShare(engine, vm, ppn: ppn, hash: hash) { maps[vm.index].counts.lostShares += 1 }
        return true
    }

    /// A hinted page inside a large page cannot be shared until the large page is split; its
    /// hint stays.
    func blocksHint(_ vm: VMState, _ ppn: UInt32) -> Bool { maps[vm.index].isLarge(Int(ppn)) }

    /// Whether the sharing scan would have shared PPN `ppn` (content `h`) now were it not
    /// inside a large page: a shared frame of its share group holds `h`, or another page's
    /// valid hint does (itself not inside a large page). Reads only.
    private func wouldShare(_ engine: ReplayEngine, _ vm: VMState, ppn: UInt32, hash h: UInt64) -> Bool {
        var found = false
        let group = vm.shareGroup
        let table = engine.table
        engine.table.forEachMatch(h) { f in
            guard table.kind(f) != .free, table.group(f) == group, table.hash(f) == h else { return true }
            if table.kind(f) == .shared { found = true; return false }
            let owner = engine.vms[table.hintOwner(f)]
            let q = table.hintPPN(f)
            if owner === vm && q == ppn { return true }
            if engine.hintValid(f) && !maps[owner.index].isLarge(Int(q)) {
                found = true
                return false
            }
            return true
        }
        return found
    }

    /// Each block's private count is what the pmap says; a large page covers a wholly private
    /// block; the host-wide count is the sum; none remains where none may form.
    func checkInvariants(_ engine: ReplayEngine) throws(ReplayError) {
        var total = 0
        for vm in engine.vms {
            let lp = maps[vm.index]
            var large = 0
            for b in 0..<lp.blocks {
                var priv = 0
                for p in (b * lp.blockPages)..<((b + 1) * lp.blockPages) where PageState.of(vm.entry[p]) == .privateMPN
                { priv += 1 }
                guard priv == Int(lp.privateCount[b]) else {
                    throw engine.fail(
                        "VM \(vm.config.id) block \(b): \(lp.privateCount[b]) private pages counted, \(priv) in the pmap"
                    )
                }
                if lp.isLargeBlock(b) {
                    large += 1
                    if priv != lp.blockPages {
                        throw engine.fail(
                            "VM \(vm.config.id) block \(b) is a large page with only \(priv) of \(lp.blockPages) pages privately backed"
                        )
                    }
                }
            }
            guard large == lp.largeCount else {
                throw engine.fail("VM \(vm.config.id): \(lp.largeCount) large pages counted, \(large) found")
            }
            total += large
        }
        guard total == blocks else { throw engine.fail("\(blocks) large pages counted host-wide, \(total) found") }
        if total > 0 && !mayForm(engine) {
            throw engine.fail(
                "\(total) large pages remain while free memory is \(engine.memory.free) pages (threshold \(breakPages)) in state \(engine.state.rawValue)"
            )
        }
    }

    func report(_ engine: ReplayEngine, _ vm: VMState) -> (any Sendable)? {
        let lp = maps[vm.index]
        var c = lp.counts
        c.pagesAtEnd = UInt64(lp.largeCount * lp.blockPages)
        return c
    }

    func hostReport(_ engine: ReplayEngine) -> (any Sendable)? { LargePagePeak(pages: peakPages) }
}

/// The most guest pages inside large pages at one moment, host-wide (`MechanismReports`).
public struct LargePagePeak: Sendable, Equatable {
    public var pages: UInt64
}
