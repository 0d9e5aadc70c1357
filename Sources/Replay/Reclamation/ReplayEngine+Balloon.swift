import TraceFormat

extension ReplayEngine {
    // MARK: ballooning and the guest model

    /// The guest gives its LRU page to the balloon. False if it has none left to give.
    @discardableResult
    func inflateOne(_ vm: VMState) throws(ReplayError) -> Bool {
        guard let q = vm.guestVictim() else { return false }
        if try balloonPage(vm, q) { vm.counters.balloonInflatedFreeing += 1 }
        vm.counters.balloonInflated += 1
        return true
    }

    /// Puts PPN `q` in the balloon, freeing whatever backs it; true when that released machine
    /// memory (the page was private or shared).
    @discardableResult
    func balloonPage(_ vm: VMState, _ q: UInt32) throws(ReplayError) -> Bool {
        changeEpoch &+= 1
        let i = Int(q)
        let e = vm.entry[i]
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: q) }
        var freed = false
        switch PageState.of(e) {
        case .untouched:
            if e == PageState.returnedEntry { vm.returnedPages -= 1 }
            if watchesPages { for w in pageWatchers { w.ballooned(self, vm, q) } }
        case .privateMPN, .shared:
            releaseResident(vm, ppn: q, e)
            freed = true
        case .swapped:
            // The guest pages out a page ESX already swapped: read back in to be written out.
            vm.counters.doublePaging += 1
            vm.counters.swapIn += 1
            swap.release()
            vm.swappedPages -= 1
        case .tiered:
            // …or one its swap tier keeps: brought back to be handed over.
            vm.counters.doublePaging += 1
            vm.counters.tierIn += 1
            vm.tier?.remove(self, vm, q)
        case .ballooned:
            preconditionFailure("page already in the balloon")
        }
        invalidateShadow(vm, ppn: q)
        vm.lruForget(q)
        vm.entry[i] = freed ? PageState.balloonedFreedEntry : PageState.balloonedEntry
        vm.balloonedPages += 1
        vm.balloonPeak = max(vm.balloonPeak, vm.balloonedPages)
        balloonTotal += 1
        if balloonTotal > hostBalloonPeak { hostBalloonPeak = balloonTotal }
        if freed {
            vm.balloonFreedPages += 1
            vm.balloonFreedPeak = max(vm.balloonFreedPeak, vm.balloonFreedPages)
            balloonFreedTotal += 1
            if balloonFreedTotal > hostBalloonFreedPeak { hostBalloonFreedPeak = balloonFreedTotal }
        }
        vm.balloonStack.append(q)
        return freed
    }

    /// Page `i` leaves the balloon: if its inflation had freed memory, it no longer counts so.
    @inline(__always)
    func leftBalloon(_ vm: VMState, _ i: Int) {
        if vm.entry[i] == PageState.balloonedFreedEntry {
            vm.balloonFreedPages -= 1
            balloonFreedTotal -= 1
        }
    }

    /// The balloon gives one page back to the guest, as free memory (its LRU end).
    func deflateOne(_ vm: VMState) {
        changeEpoch &+= 1
        while let q = vm.balloonStack.popLast() {
            let i = Int(q)
            guard PageState.of(vm.entry[i]) == .ballooned else { continue }
            leftBalloon(vm, i)
            vm.entry[i] = PageState.returnedEntry
            vm.returnedPages += 1
            vm.balloonedPages -= 1
            balloonTotal -= 1
            vm.counters.balloonDeflated += 1
            vm.lruPushTail(q)
            return
        }
    }

    /// An access to a ballooned PPN: the guest gives up its current LRU page instead (the
    /// balloon keeps its size) and the PPN comes back with a fresh machine page.
    func guestFault(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        // Choose the victim while `ppn` is still in the balloon, so it cannot be chosen itself.
        let victim = vm.guestVictim()
        leftBalloon(vm, i)
        vm.entry[i] = 0
        vm.balloonedPages -= 1
        balloonTotal -= 1
        if let q = victim {
            try balloonPage(vm, q)
        } else {
            vm.counters.balloonDeflated += 1
        }
        let hadContent = vm.flags[i] & PageFlag.everBacked != 0
        try allocate(for: vm)
        makeResident(vm, ppn: ppn)
        if hadContent {
            vm.counters.guestRefaults += 1
        } else {
            vm.counters.guestAllocations += 1
            markZeroFilled(vm, i)
        }
        vm.lruTouch(ppn)
    }
}
