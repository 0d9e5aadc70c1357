import TraceFormat

extension ReplayEngine {
    // MARK: the sharing scan

    /// One second of scanning: each powered-on VM earns `shareScanVM` candidates, all VMs
    /// together at most `shareScanTotal`; VMs are served in an order that rotates every tick.
    func scanTick() {
        scanTicks += 1
        guard scanner.offersPages, !vms.isEmpty else { return }
        let seconds = ReplayEngine.tick.seconds
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

    /// Visits the VM's next candidate in this sweep's random order. Also notes whether a whole
    /// sweep went by without changing anything (for fast-forward: then every later sweep does
    /// the same until something else changes).
    func scanNext(_ vm: VMState) {
        if vm.scanPosition >= UInt64(vm.pageCount) {
            vm.scanSweep += 1
            vm.scanPosition = 0
            scanner.beginSweep(vm, sweep: vm.scanSweep, seed: policy.seed)
        }
        if vm.scanPosition == 0 {
            vm.countingSweep = vm.scanSweep
            vm.countingEpoch = changeEpoch
            vm.countingVolatile = 0
            vm.countingFalse = 0
        }
        let before = (table.sharedFrames, table.hintFrames, vm.sharedPages, vm.counters.staleHints)
        let volatile0 = vm.counters.volatileSkipped, false0 = vm.counters.falseMatches
        // The scanner picks the page (ESX: a random order; KSM: in order) and may pass it over.
        let ppn = scanner.page(vm, at: vm.scanPosition)
        vm.scanPosition += 1
        vm.counters.pagesScanned += 1
        var changed = false
        switch scanner.admit(vm, ppn: ppn) {
        case .offer:
            _ = tryShare(vm, ppn: ppn)
        case .skip(let marked):
            changed = marked
            vm.counters.volatileSkipped += 1
        }
        if changed || before != (table.sharedFrames, table.hintFrames, vm.sharedPages, vm.counters.staleHints) {
            changeEpoch &+= 1
        }
        vm.countingVolatile += vm.counters.volatileSkipped - volatile0
        vm.countingFalse += vm.counters.falseMatches - false0
        if vm.scanPosition == UInt64(vm.pageCount) && vm.countingSweep == vm.scanSweep
            && vm.countingEpoch == changeEpoch
        {
            vm.steadyEpoch = changeEpoch
            vm.steadyVolatile = vm.countingVolatile
            vm.steadyFalse = vm.countingFalse
        }
    }
}
