import TraceFormat

extension ReplayEngine {
    // MARK: the reclamation tick

    /// Once a simulated second (the balloon drivers' polling period): VMs above their targets
    /// give memory (balloon, or host paging where the state or the VM requires it), blocked time
    /// accrues in low, then VMs below their targets take memory back from their balloons
    /// (docs/MODEL.md "Reclamation").
    func reclaimTick() throws(ReplayError) {
        let seconds = ReplayEngine.tick.seconds
        for vm in vms where vm.on {
            vm.allocatedSum += Double(vm.residentPages)
            vm.allocatedSamples += 1
        }
        guard overcommitted else { return }
        let floor = thresholds.aim + thresholds.margin
        // Soft and below reclaim for the host's sake: every VM above its target gives. Above
        // soft (high, and vSphere 6's clear) nothing is reclaimed for the host, but memory still
        // moves between VMs: VMs above their targets give as much as VMs below theirs wait to
        // take back from their balloons (`transfer`), and those take it in the same tick.
        let reclaiming = state >= .soft
        let freeBefore = memory.free
        var transfer = reclaiming ? UInt64.max : transferNeed(floor: floor)
        for vm in vms where vm.on {
            // In low, every VM above its target has been blocked for the tick that just ended.
            if state == .low && vm.residentPages > vm.target {
                vm.counters.blockedMicros += ReplayEngine.tick.rawValue
            }
            let c = vm.config
            if c.balloon {
                vm.balloonCredit = min(vm.balloonCredit + policy.balloonRate * seconds, policy.balloonRate * seconds)
            }
            let resident = vm.residentPages
            guard resident > vm.target && transfer > 0 else { continue }
            let give = min(resident - vm.target, transfer)
            if transfer != .max { transfer -= give }
            let maxBalloon = UInt64((Double(c.maxPages) * policy.maxBalloon).rounded(.down))
            // Ballooning: in soft and below, or soft only when the scheme has a clear state
            // (vSphere 6: the balloon stops in hard); and in a transfer.
            let inflates = !reclaiming || (thresholds.hasClear ? state == .soft : true)
            if c.balloon && inflates {
                let desired = min(maxBalloon, vm.balloonedPages + give)
                if desired > vm.balloonedPages {
                    let n = min(desired - vm.balloonedPages, UInt64(vm.balloonCredit))
                    for _ in 0..<n { if !(try inflateOne(vm)) { break } }
                    vm.balloonCredit -= Double(n)
                }
            }
            // Host paging: in hard and low, what ballooning has not taken; in soft and in a
            // transfer, only from a VM whose balloon cannot (no driver, or at its cap).
            let now = vm.residentPages
            let target = resident - give
            guard now > target else { continue }
            let balloonCannot = !c.balloon || vm.balloonedPages >= maxBalloon
            if state >= .hard || ((state == .soft || !reclaiming) && balloonCannot) {
                for _ in 0..<(now - target) {
                    guard try swapOutVictim(vm) else { break }
                }
            }
        }
        // Deflation, in any state: a VM below its target takes pages back from its balloon while
        // free memory is above the aim (high, or vSphere 6's clear) + margin, by at most that
        // excess per tick in all (VMs in index order): a deflated page costs nothing until the
        // guest touches it, so more would overshoot. Above soft, what a transfer freed this tick
        // goes first to the VMs that wait for it, even when free memory is below the aim.
        var spare = memory.free > floor ? memory.free - floor : 0
        let kept = min(memory.free, floor)
        var transferred = !reclaiming && kept > freeBefore ? kept - freeBefore : 0
        for vm in vms where vm.on && vm.config.balloon && (spare > 0 || transferred > 0) {
            let resident = vm.residentPages
            guard vm.balloonedPages > 0 && vm.target > resident else { continue }
            let cap = min(vm.target - resident, vm.balloonedPages, UInt64(vm.balloonCredit))
            let fromTransfer = min(waiting(vm), transferred, cap)
            transferred -= fromTransfer
            let fromSpare = min(cap - fromTransfer, spare)
            spare -= fromSpare
            let n = fromTransfer + fromSpare
            for _ in 0..<n { deflateOne(vm) }
            vm.balloonCredit -= Double(n)
        }
    }

    /// The pages a VM below its target waits to take back from its balloon: up to its target and
    /// to what it claims (a VM that does not refault its ballooned pages waits for nothing), less
    /// what it holds and the pages already given back that it has not touched yet.
    func waiting(_ vm: VMState) -> UInt64 {
        guard vm.config.balloon && vm.balloonedPages > 0 else { return 0 }
        let wants = min(vm.target, vm.claim), has = vm.residentPages + vm.returnedPages
        return wants > has ? min(wants - has, vm.balloonedPages) : 0
    }

    /// Above soft, the pages VMs above their targets give this tick: what VMs below their targets
    /// wait for (`waiting`), less free memory above `floor`.
    func transferNeed(floor: UInt64) -> UInt64 {
        var need: UInt64 = 0
        for vm in vms where vm.on { need += waiting(vm) }
        let spare = memory.free > floor ? memory.free - floor : 0
        return need > spare ? need - spare : 0
    }
}
