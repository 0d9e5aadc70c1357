import TraceFormat

/// A power-on that admission control refused (docs/PAPER.md §6): which reservation fell short and
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

extension ReplayEngine {
    // MARK: power and admission control

    /// Powers a VM on if admission control allows: unreserved memory ≥ min + overhead and
    /// unreserved swap ≥ max − min (docs/PAPER.md §6), where unreserved = total − what powered-on
    /// VMs reserved. Current free memory plays no part: if it is short of the overhead, pages
    /// are reclaimed synchronously from VMs above their min. A refused VM stays off (its
    /// records are skipped) until a later power-on succeeds; the refusal is recorded.
    func powerOn(_ vm: VMState) throws(ReplayError) {
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
            refusals.append(
                AdmissionRefusal(
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

    func powerOff(_ vm: VMState) {
        for m in mechanisms { m.poweredOff(self, vm) }
        for p in 0..<UInt32(vm.pageCount) {
            let i = Int(p)
            let e = vm.entry[i]
            if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
            switch PageState.of(e) {
            case .untouched, .ballooned: break
            case .privateMPN:
                memory.release()
            case .shared:
                releaseRef(vm.frame(i))
            case .swapped:
                swap.release()
            case .tiered:
                break  // the tier is dropped whole below
            }
            if vm.flags[i] & PageFlag.virtualMapped != 0 { _ = vshadow.invalidate(vm: vm.index, ppn: p) }
            vm.entry[i] = 0
            vm.flags[i] = 0
            vm.hash[i] = 0
            if vm.trackLRU { vm.seq[i] = 0 }
        }
        vm.privatePages = 0; vm.sharedPages = 0; vm.zeroSharedPages = 0; vm.swappedPages = 0
        vm.tier?.drop(self, vm)
        balloonTotal -= vm.balloonedPages
        balloonFreedTotal -= vm.balloonFreedPages
        vm.balloonedPages = 0; vm.balloonFreedPages = 0; vm.returnedPages = 0; vm.hints = 0
        vm.lruReset()
        vm.balloonStack.removeAll()
        vm.victim.reset()
        vm.sampledPPNs.removeAll()
        vm.balloonFaults = 0; vm.lastBalloonFaults = 0; vm.claim = 0
        memory.unreserve(vm.config.overheadPages)
        vm.on = false
    }
}
