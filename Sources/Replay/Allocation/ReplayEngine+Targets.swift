import TraceFormat

extension ReplayEngine {
    /// The active-memory estimate in pages (≤ max, not limited by what the VM holds), from the
    /// policy's activity estimator (ActivityEstimators: the sampler's estimate × max, the truth
    /// of the last period, or another registered estimator's).
    func activePages(_ vm: VMState) -> Double { estimator.activePages(vm) }

    /// Recomputes every VM's target (docs/MODEL.md "Targets"): memory
    /// for VMs = M − Σ overhead − (high threshold + hysteresis margin) + sharing savings;
    /// min-funding revocation with the idle tax over each VM's claim (what it holds, plus as
    /// much of its balloon as it faults on), so that only the deficit is reclaimed.
    func recomputeTargets() {
        let running = vms.filter { $0.on }
        let claims = targetClaims(running)
        let t = IdleTax.targets(claims, available: availableForVMs(running), tau: policy.idleTax)
        for i in running.indices {
            running[i].target = t[i]
            running[i].claim = claims[i].claimPages
        }
    }

    /// The memory targets aim to fit the VMs in, pages: M − Σ overhead − (aim + margin) + sharing
    /// savings. Above soft (high, vSphere 6's clear), where nothing is reclaimed for the host,
    /// free memory below the aim stays where it is: the targets share what the VMs hold.
    func availableForVMs(_ running: [VMState]) -> UInt64 {
        var shared: UInt64 = 0
        for vm in running { shared += vm.sharedPages }
        let savings = shared > UInt64(table.sharedFrames) ? shared - UInt64(table.sharedFrames) : 0
        var keep = thresholds.aim + thresholds.margin
        if overcommitted && state < .soft { keep = min(keep, memory.free) }
        let base = Int64(host.machinePages) - Int64(memory.reserved) - Int64(keep) + Int64(savings)
        return UInt64(max(0, base))
    }

    func targetClaims(_ running: [VMState]) -> [IdleTax.Claim] {
        running.map {
            IdleTax.Claim(
                shares: Double($0.config.shares), minPages: $0.config.minPages, maxPages: $0.config.maxPages,
                activePages: activePages($0), heldPages: $0.residentPages, balloonPages: $0.balloonedPages,
                balloonFaults: max($0.lastBalloonFaults, $0.balloonFaults))
        }
    }
}
