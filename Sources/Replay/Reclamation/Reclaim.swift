import TraceFormat

extension ReplayEngine {
    // MARK: the reclamation tick

    /// Once a simulated second (the balloon drivers' polling period): balloons move toward
    /// their targets, host paging takes what ballooning cannot, blocked time accrues in low.
    func reclaimTick() throws(ReplayError) {
        let seconds = ReplayEngine.tick.seconds
        for vm in vms where vm.on {
            vm.allocatedSum += Double(vm.residentPages)
            vm.allocatedSamples += 1
        }
        guard overcommitted else { return }
        // Free memory above high + margin that deflating balloons may hand back this tick: a
        // deflated page costs nothing until the guest touches it, so more would overshoot.
        let floor = thresholds.high + thresholds.margin
        var headroom = memory.free > floor ? memory.free - floor : 0
        for vm in vms where vm.on {
            // In low, every VM above its target has been blocked for the tick that just ended.
            if state == .low && vm.residentPages > vm.target {
                vm.counters.blockedMicros += ReplayEngine.tick.rawValue
            }
            let c = vm.config
            let maxBalloon = UInt64((Double(c.maxPages) * policy.maxBalloon).rounded(.down))
            let resident = vm.residentPages
            // Ballooning: inflate toward the target outside the high state; deflate, in any
            // state, while the VM is below its target and free memory is above high + margin.
            if c.balloon {
                vm.balloonCredit = min(vm.balloonCredit + policy.balloonRate * seconds, policy.balloonRate * seconds)
                var desired = vm.balloonedPages
                if resident > vm.target {
                    if state != .high { desired = min(maxBalloon, vm.balloonedPages + (resident - vm.target)) }
                } else if vm.balloonedPages > 0 && headroom > 0 {
                    let room = min(vm.target - resident, headroom, vm.balloonedPages, UInt64(vm.balloonCredit))
                    desired = vm.balloonedPages - room
                    headroom -= room
                }
                if desired > vm.balloonedPages {
                    let n = min(desired - vm.balloonedPages, UInt64(vm.balloonCredit))
                    for _ in 0..<n { if !(try inflateOne(vm)) { break } }
                    vm.balloonCredit -= Double(n)
                } else if desired < vm.balloonedPages {
                    let n = min(vm.balloonedPages - desired, UInt64(vm.balloonCredit))
                    for _ in 0..<n { deflateOne(vm) }
                    vm.balloonCredit -= Double(n)
                }
            }
            // Host paging.
            let now = vm.residentPages
            guard now > vm.target else { continue }
            let balloonCannot = !c.balloon || vm.balloonedPages >= maxBalloon
            if state >= .hard || (state == .soft && balloonCannot) {
                for _ in 0..<(now - vm.target) {
                    guard try swapOutVictim(vm) else { break }
                }
            }
        }
    }

    // MARK: ballooning and the guest model

    /// The guest gives its LRU page to the balloon. False if it has none left to give.
    @discardableResult
    func inflateOne(_ vm: VMState) throws(ReplayError) -> Bool {
        guard let q = vm.guestVictim() else { return false }
        try balloonPage(vm, q)
        vm.counters.balloonInflated += 1
        return true
    }

    /// Puts PPN `q` in the balloon, freeing whatever backs it.
    func balloonPage(_ vm: VMState, _ q: UInt32) throws(ReplayError) {
        changeEpoch &+= 1
        let i = Int(q)
        let e = vm.entry[i]
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: q) }
        switch PageState.of(e) {
        case .untouched:
            break
        case .privateMPN:
            memory.release(PageState.payload(e))
            vm.privatePages -= 1
        case .shared:
            let f = PageState.payload(e)
            if table.fullHash[Int(f)] == ContentHash.zero.rawValue { vm.zeroSharedPages -= 1 }
            vm.sharedPages -= 1
            if table.dropRef(f) == 0 {
                memory.release(table.target[Int(f)])
                table.removeFrame(f)
            }
        case .swapped:
            // The guest pages out a page ESX already swapped: read back in to be written out.
            vm.counters.doublePaging += 1
            vm.counters.swapIn += 1
            swap.release(PageState.payload(e))
            vm.swappedPages -= 1
        case .ballooned:
            preconditionFailure("page already in the balloon")
        }
        invalidateShadow(vm, ppn: q)
        vm.lruForget(q)
        vm.entry[i] = PageState.ballooned.entry(0)
        vm.balloonedPages += 1
        vm.balloonPeak = max(vm.balloonPeak, vm.balloonedPages)
        balloonTotal += 1
        if balloonTotal > hostBalloonPeak { hostBalloonPeak = balloonTotal }
        vm.balloonStack.append(q)
    }

    /// The balloon gives one page back to the guest, as free memory (its LRU end).
    func deflateOne(_ vm: VMState) {
        changeEpoch &+= 1
        while let q = vm.balloonStack.popLast() {
            let i = Int(q)
            guard PageState.of(vm.entry[i]) == .ballooned else { continue }
            vm.entry[i] = 0
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
        vm.entry[i] = 0
        vm.balloonedPages -= 1
        balloonTotal -= 1
        if let q = victim {
            try balloonPage(vm, q)
        } else {
            vm.counters.balloonDeflated += 1
        }
        let hadContent = vm.flags[i] & PageFlag.everBacked != 0
        let m = try allocate(for: vm)
        vm.entry[i] = PageState.privateMPN.entry(m)
        vm.privatePages += 1
        fifoPush(vm, ppn)
        if hadContent {
            vm.counters.guestRefaults += 1
        } else {
            vm.counters.guestAllocations += 1
            vm.hash[i] = ContentHash.zero.rawValue
            vm.flags[i] |= PageFlag.known | PageFlag.everBacked
        }
        vm.lruTouch(ppn)
    }

    // MARK: host paging

    /// Brings a swapped page back on access.
    func swapIn(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        let slot = PageState.payload(vm.entry[i])
        let m = try allocate(for: vm)
        swap.release(slot)
        vm.swappedPages -= 1
        vm.entry[i] = PageState.privateMPN.entry(m)
        vm.privatePages += 1
        vm.counters.swapIn += 1
        fifoPush(vm, ppn)
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
            throw fail("out of machine memory and no page can be paged out (\(memory.total) pages, \(memory.reserved) reserved)")
        }
    }

    /// Pages out one victim of `vm` chosen by `swapVictim`, offering it to the sharing table
    /// first (share before swap). False if the VM has no private page.
    func swapOutVictim(_ vm: VMState) throws(ReplayError) -> Bool {
        guard let p = chooseSwapVictim(vm) else { return false }
        changeEpoch &+= 1
        let i = Int(p)
        if policy.sharing != .off && vm.flags[i] & PageFlag.known != 0 {
            if tryShare(vm, ppn: p) {
                vm.counters.sharedBeforeSwap += 1
                return true
            }
        }
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: p) }
        guard let slot = swap.allocate() else {
            throw fail("swap exhausted (\(swap.total) slots): cannot page out VM \(vm.config.id); admission control reserves max − min per VM, so a smaller --swap or min is the cause")
        }
        memory.release(PageState.payload(vm.entry[i]))
        vm.privatePages -= 1
        vm.entry[i] = PageState.swapped.entry(slot)
        vm.swappedPages += 1
        vm.swappedPeak = max(vm.swappedPeak, vm.swappedPages)
        if swap.used > hostSwappedPeak { hostSwappedPeak = swap.used }
        vm.counters.swapOut += 1
        invalidateShadow(vm, ppn: p)
        return true
    }

    /// A private page of `vm` by the host's victim policy.
    func chooseSwapVictim(_ vm: VMState) -> UInt32? {
        guard vm.privatePages > 0 else { return nil }
        func isPrivate(_ p: UInt32) -> Bool { PageState.of(vm.entry[Int(p)]) == .privateMPN }
        switch policy.swapVictim {
        case .random:
            // Randomized page replacement (PAPER.md §3.3): uniform over the VM's PPNs until a
            // private one comes up; a scan from a random start guarantees termination.
            for _ in 0..<64 {
                let p = UInt32(vm.swapRNG.below(UInt64(vm.pageCount)))
                if isPrivate(p) { return p }
            }
            let start = Int(vm.swapRNG.below(UInt64(vm.pageCount)))
            for k in 0..<vm.pageCount {
                let p = UInt32((start + k) % vm.pageCount)
                if isPrivate(p) { return p }
            }
            return nil
        case .lru:
            var found: UInt32?
            vm.lruWalk { p in
                if isPrivate(p) { found = p; return false }
                return true
            }
            if found != nil { return found }
            return (0..<UInt32(vm.pageCount)).first(where: isPrivate)
        case .fifo:
            guard let seq = vm.fifoSeq else { return (0..<UInt32(vm.pageCount)).first(where: isPrivate) }
            while vm.fifoHead < vm.fifoQueue.count {
                let item = vm.fifoQueue[vm.fifoHead]
                vm.fifoHead += 1
                let p = UInt32(item >> 32)
                if isPrivate(p) && seq[Int(p)] == UInt32(truncatingIfNeeded: item) {
                    compactFIFO(vm)
                    return p
                }
            }
            compactFIFO(vm)
            return (0..<UInt32(vm.pageCount)).first(where: isPrivate)
        }
    }

    private func compactFIFO(_ vm: VMState) {
        if vm.fifoHead > 4096 && vm.fifoHead * 2 > vm.fifoQueue.count {
            vm.fifoQueue.removeFirst(vm.fifoHead)
            vm.fifoHead = 0
        }
    }

    /// Notes that `ppn` became private now (FIFO host paging order).
    @inline(__always)
    func fifoPush(_ vm: VMState, _ ppn: UInt32) {
        guard let seq = vm.fifoSeq else { return }
        vm.fifoCounter &+= 1
        seq[Int(ppn)] = vm.fifoCounter
        vm.fifoQueue.append(UInt64(ppn) << 32 | UInt64(vm.fifoCounter))
    }

    // MARK: the timeline

    func recordTimeline() {
        for vm in vms {
            var saved = 0.0
            if vm.sharedPages > 0 {
                for i in 0..<vm.pageCount where PageState.of(vm.entry[i]) == .shared {
                    saved += 1 - 1 / Double(table.refcount(PageState.payload(vm.entry[i])))
                }
            }
            timeline.append(TimelineRow(
                time: now, vm: vm.config.id, allocated: vm.residentPages, target: vm.on ? vm.target : 0,
                balloon: vm.balloonedPages, swapped: vm.swappedPages, sharedSaved: saved,
                activeEstimate: vm.on ? UInt64(activePages(vm).rounded()) : 0, activeTrue: vm.lastTruePages ?? 0,
                free: memory.free, state: state, guestRefaults: vm.counters.guestRefaults, swapIns: vm.counters.swapIn))
        }
    }
}
