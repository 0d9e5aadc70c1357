import TraceFormat

extension ReplayEngine {
    // MARK: content

    func setContent(_ vm: VMState, ppn: UInt32, hash: UInt64) throws(ReplayError) {
        let i = Int(ppn)
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            // The page existed before the trace started (or comes back from the balloon): back it.
            try backPrivate(vm, ppn: ppn)
            vm.counters.contentBacked += 1
            vm.lruTouch(ppn)
        case .privateMPN:
            break
        case .shared:
            let frame = vm.frame(i)
            if table.hash(frame) == hash { return }
            // Content that contradicts the shared copy implies a write: break COW.
            vm.counters.impliedWrites += 1
            try breakCOW(vm, ppn: ppn)
            invalidateShadow(vm, ppn: ppn)
        case .swapped, .ballooned, .tiered:
            // New content means the guest touched the page: bring it back first.
            vm.counters.impliedWrites += 1
            _ = try resolveFault(vm, ppn: ppn, write: true)
            vm.lruTouch(ppn)
        }
        if vm.hash[i] != hash { vm.flags[i] &= ~PageFlag.scanStable }
        if vm.flags[i] & PageFlag.hinted != 0 && vm.hash[i] != hash {
            // The hinted content is gone: its hint can never validate again.
            vm.counters.staleHints += 1
            dropHint(vm, ppn: ppn)
        }
        vm.hash[i] = hash
        vm.flags[i] |= PageFlag.known | PageFlag.everBacked
    }
}
