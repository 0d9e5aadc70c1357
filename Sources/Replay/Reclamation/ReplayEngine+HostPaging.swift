import TraceFormat

extension ReplayEngine {
    // MARK: host paging

    /// Brings a swapped page back on access.
    func swapIn(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        try allocate(for: vm)
        swap.release()
        vm.swappedPages -= 1
        vm.counters.swapIn += 1
        makeResident(vm, ppn: ppn)
    }

    /// Reclaims one machine page synchronously: a victim from the VM furthest above its target
    /// among those above their min (else among all with private pages). Errors when nothing
    /// can be paged.
    func reclaimOnePage() throws(ReplayError) {
        var best: VMState?
        var bestKey: (Int, Int64) = (0, 0)
        for vm in vms where vm.on && vm.privatePages > 0 {
            let key = (vm.residentPages > vm.config.minPages ? 1 : 0, Int64(vm.residentPages) - Int64(vm.target))
            if best == nil || key > bestKey { best = vm; bestKey = key }
        }
        guard let vm = best, try swapOutVictim(vm) else {
            throw fail(
                "out of machine memory and no page can be paged out (\(memory.total) pages, \(memory.reserved) reserved)"
            )
        }
    }

    /// Pages out one victim of `vm` chosen by its swap-victim chooser (SwapVictims), offering it to the sharing table
    /// first (share before swap). False if the VM has no private page.
    func swapOutVictim(_ vm: VMState) throws(ReplayError) -> Bool {
        guard vm.privatePages > 0, let p = vm.victim.choose(vm) else { return false }
        changeEpoch &+= 1
        let i = Int(p)
        if scanner.offersPages && vm.flags[i] & PageFlag.known != 0 {
            if tryShare(vm, ppn: p) {
                vm.counters.sharedBeforeSwap += 1
                return true
            }
        }
        if let tier = vm.tier, try tier.pageOut(self, vm, p) { return true }
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
        try takeSwapSlot(vm, "page out VM \(vm.config.id)")
        releaseResident(vm, ppn: p, vm.entry[i])
        markSwapped(vm, p)
        invalidateShadow(vm, ppn: p)
        return true
    }

    /// A swap slot for a page of `vm`; errors, naming what could not be done, when swap is full.
    func takeSwapSlot(_ vm: VMState, _ what: @autoclosure () -> String) throws(ReplayError) {
        guard swap.allocate() else {
            throw fail(
                "swap exhausted (\(swap.total) slots): cannot \(what()); admission control reserves max − min per VM, so a smaller --swap or min is the cause"
            )
        }
    }

    /// PPN `p` of `vm` (whose backing the caller released) now lives in the swap slot the
    /// caller took: one page-out, counted with the VM's and the host's swap peaks.
    func markSwapped(_ vm: VMState, _ p: UInt32) {
        vm.entry[Int(p)] = PageState.swappedEntry
        vm.swappedPages += 1
        vm.swappedPeak = max(vm.swappedPeak, vm.swappedPages)
        if swap.used > hostSwappedPeak { hostSwappedPeak = swap.used }
        vm.counters.swapOut += 1
    }
}
