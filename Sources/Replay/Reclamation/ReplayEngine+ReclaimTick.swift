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
        let floor = thresholds.aim + thresholds.margin
        var headroom = memory.free > floor ? memory.free - floor : 0
        let inflates = thresholds.hasClear ? state == .soft : state >= .soft
        for vm in vms where vm.on {
            // In low, every VM above its target has been blocked for the tick that just ended.
            if state == .low && vm.residentPages > vm.target {
                vm.counters.blockedMicros += ReplayEngine.tick.rawValue
            }
            let c = vm.config
            let maxBalloon = UInt64((Double(c.maxPages) * policy.maxBalloon).rounded(.down))
            let resident = vm.residentPages
            // Ballooning: inflate toward the target in soft and below (vSphere 6: in soft only,
            // the balloon stops in hard); deflate, in any state, while the VM is below its
            // target and free memory is above the aim (high, or vSphere 6's clear) + margin.
            if c.balloon {
                vm.balloonCredit = min(vm.balloonCredit + policy.balloonRate * seconds, policy.balloonRate * seconds)
                var desired = vm.balloonedPages
                if resident > vm.target {
                    if inflates { desired = min(maxBalloon, vm.balloonedPages + (resident - vm.target)) }
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
}
