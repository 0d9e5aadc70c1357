import TraceFormat

extension ReplayEngine {
    /// The active-memory estimate in pages, A ≤ P, from the policy's activity estimator
    /// (ActivityEstimators: the sampler's estimate × max, or the truth of the last period).
    func activePages(_ vm: VMState) -> Double { estimator.activePages(vm) }

    /// Recomputes every VM's target (docs/MODEL.md "Targets"): memory
    /// for VMs = M − Σ overhead − (high threshold + hysteresis margin) + sharing savings;
    /// min-funding revocation with the idle tax over what each VM holds (plus its balloon up
    /// to its fair share), so that only the deficit is reclaimed.
    func recomputeTargets() {
        let running = vms.filter { $0.on }
        let t = IdleTax.targets(targetClaims(running), available: availableForVMs(running), tau: policy.idleTax)
        for (vm, target) in zip(running, t) { vm.target = target }
    }

    /// The memory targets aim to fit the VMs in, pages.
    func availableForVMs(_ running: [VMState]) -> UInt64 {
        var shared: UInt64 = 0
        for vm in running { shared += vm.sharedPages }
        let savings = shared > UInt64(table.sharedFrames) ? shared - UInt64(table.sharedFrames) : 0
        let base = Int64(host.machinePages) - Int64(memory.reserved) - Int64(thresholds.aim + thresholds.margin) + Int64(savings)
        return UInt64(max(0, base))
    }

    func targetClaims(_ running: [VMState]) -> [IdleTax.Claim] {
        running.map {
            IdleTax.Claim(shares: Double($0.config.shares), minPages: $0.config.minPages, maxPages: $0.config.maxPages,
                          activePages: activePages($0), heldPages: $0.residentPages, balloonPages: $0.balloonedPages)
        }
    }
}
