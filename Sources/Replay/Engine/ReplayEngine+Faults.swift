import TraceFormat

extension ReplayEngine {
    // MARK: accesses and the shadow tables

    /// Notes a touch for the true working set and the guest's LRU order (one word written).
    @inline(__always)
    func touch(_ vm: VMState, _ i: Int) {
        if let o = vm.accessObserver { o.accessed(i) }
        let f = vm.flags[i]
        let stamp = vm.stamp
        if PageFlag.stamp(f) != stamp {
            vm.flags[i] = f & ~PageFlag.stampMask | stamp << PageFlag.stampShift
            vm.touchedThisPeriod += 1
        }
        if vm.trackLRU {
            if vm.seqCounter == UInt32.max {
                vm.lruTouch(UInt32(i))
                return
            }
            vm.seq[i] = vm.seqCounter
            vm.seqCounter += 1
        }
    }

    @inline(__always)
    func access(_ vm: VMState, ppn: UInt32, write: Bool) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        touch(vm, i)
        let f = vm.flags[i]
        if f & PageFlag.shadowValid != 0 && (!write || f & PageFlag.shadowWritable != 0) {
            vm.counters.shadowHits += 1
            vm.flags[i] = f & (write ? ~PageFlag.writeClears : ~PageFlag.guestFreed)
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        var nf = vm.flags[i] | PageFlag.shadowValid
        nf = writable ? nf | PageFlag.shadowWritable : nf & ~PageFlag.shadowWritable
        nf &= ~PageFlag.guestFreed
        if write { nf &= ~PageFlag.writeClears }
        vm.flags[i] = nf
    }

    func accessVirtual(_ vm: VMState, ppn: UInt32, asid: UInt32, vpn: UInt64, write: Bool) throws(ReplayError) {
        let i = Int(ppn)
        vm.counters.accessedPages += 1
        touch(vm, i)
        let key = VirtualShadow.Key(vm: UInt32(vm.index), asid: asid, vpn: vpn)
        if let e = vshadow.lookup(key), e.ppn == ppn, !write || e.writable, vm.flags[i] & PageFlag.virtualMapped != 0 {
            vm.counters.shadowHits += 1
            vm.flags[i] &= write ? ~PageFlag.writeClears : ~PageFlag.guestFreed
            return
        }
        let writable = try resolveFault(vm, ppn: ppn, write: write)
        vshadow.install(key, vm: vm.index, ppn: ppn, writable: writable)
        vm.flags[i] |= PageFlag.virtualMapped
        vm.flags[i] &= write ? ~PageFlag.writeClears : ~PageFlag.guestFreed
    }

    /// A hidden fault: resolves the access through the pmap and says whether the new shadow
    /// entry may allow writes.
    func resolveFault(_ vm: VMState, ppn: UInt32, write: Bool) throws(ReplayError) -> Bool {
        vm.counters.hiddenFaults += 1
        let i = Int(ppn)
        if vm.flags[i] & PageFlag.sampled != 0 {
            vm.flags[i] &= ~PageFlag.sampled
            vm.traps += 1
            vm.counters.samplingTraps += 1
        }
        let e = vm.entry[i]
        switch PageState.of(e) {
        case .untouched:
            let hadContent = vm.flags[i] & PageFlag.everBacked != 0
            try backPrivate(vm, ppn: ppn)
            if hadContent {
                // The guest gave this page to its balloon earlier: it reads the data back.
                vm.counters.guestRefaults += 1
            } else {
                // Demand-zero fill: a newly allocated machine page is zeroed.
                markZeroFilled(vm, i)
                vm.counters.demandZero += 1
            }
            return true
        case .privateMPN:
            return true
        case .shared:
            if !write { return false }
            vm.counters.cowFaults += 1
            try breakCOW(vm, ppn: ppn)
            return true
        case .swapped:
            try swapIn(vm, ppn: ppn)
            return true
        case .tiered:
            // Out of the tier first (so a reclaim during the allocation cannot evict it), then
            // a private page.
            guard let tier = vm.tier else {
                throw fail("VM \(vm.config.id) PPN \(ppn) is tiered but the VM has no swap tier")
            }
            tier.remove(self, vm, ppn)
            try allocate(for: vm)
            vm.counters.tierIn += 1
            makeResident(vm, ppn: ppn)
            return true
        case .ballooned:
            vm.balloonFaults += 1
            try guestFault(vm, ppn: ppn)
            return true
        }
    }

    /// Gives an untouched PPN a private machine page (its content flags are the caller's).
    func backPrivate(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        try allocate(for: vm)
        makeResident(vm, ppn: ppn)
    }

    /// The one path by which a PPN gets a private machine page (demand-zero fill, content
    /// backing, copy-on-write, swap-in, a return from the swap tier, balloon refault): maps it
    /// and tells the VM's swap-victim chooser and the page watchers. The caller has released
    /// whatever backed the PPN before and allocated its machine page (`allocate(for:)`).
    @inline(__always)
    func makeResident(_ vm: VMState, ppn: UInt32) {
        if vm.entry[Int(ppn)] == PageState.returnedEntry { vm.returnedPages -= 1 }
        vm.entry[Int(ppn)] = PageState.privateEntry
        vm.privatePages += 1
        vm.victim.pageBecameResident(ppn)
        if watchesPages { for w in pageWatchers { w.becamePrivate(self, vm, ppn) } }
    }

    /// Copy-on-write: gives the PPN a private copy of its shared frame's content.
    func breakCOW(_ vm: VMState, ppn: UInt32) throws(ReplayError) {
        let i = Int(ppn)
        let frame = vm.frame(i)
        try allocate(for: vm)
        // Allocation may have reclaimed synchronously, but never a shared page: still ours.
        vm.sharedPages -= 1
        makeResident(vm, ppn: ppn)
        if table.hash(frame) == ContentHash.zero.rawValue { vm.zeroSharedPages -= 1 }
        vm.counters.cowBreaks += 1
        releaseRef(frame)
        // The copy holds the frame's content until the write lands; the caller marks it unknown.
        vm.hash[i] = table.hash(frame)
        vm.flags[i] |= PageFlag.known
    }

    /// Invalidates every shadow entry reaching the PPN (a remap).
    func invalidateShadow(_ vm: VMState, ppn: UInt32) {
        let i = Int(ppn)
        var n = 0
        if vm.flags[i] & PageFlag.shadowValid != 0 { n += 1 }
        vm.flags[i] &= ~(PageFlag.shadowValid | PageFlag.shadowWritable)
        if vm.flags[i] & PageFlag.virtualMapped != 0 {
            n += vshadow.invalidate(vm: vm.index, ppn: ppn)
            vm.flags[i] &= ~PageFlag.virtualMapped
        }
        vm.counters.invalidations += UInt64(n)
    }

    /// Write-protects every shadow entry reaching the PPN (sharing it).
    func writeProtectShadow(_ vm: VMState, ppn: UInt32) {
        let i = Int(ppn)
        var n = 0
        if vm.flags[i] & PageFlag.shadowWritable != 0 { n += 1 }
        vm.flags[i] &= ~PageFlag.shadowWritable
        if vm.flags[i] & PageFlag.virtualMapped != 0 {
            n += vshadow.writeProtect(vm: vm.index, ppn: ppn)
        }
        vm.counters.invalidations += UInt64(n)
    }

    /// Allocates a machine page for `vm`; with none free, reclaims synchronously (host paging
    /// of a victim, VMs above target first) and counts it.
    func allocate(for vm: VMState) throws(ReplayError) {
        if !memory.allocate() {
            vm.counters.syncReclaims += 1
            while memory.free == 0 {
                try reclaimOnePage()
            }
            let ok = memory.allocate()
            precondition(ok, "no free machine page after reclaiming")
        }
        if memory.free < lowFreeFloor { for x in mechanisms { x.freeBelowFloor(self) } }
    }

    /// A page the host just zero-filled (demand-zero, or the guest allocating a page it gave
    /// its balloon): its content is known zero, for the swap tier as well.
    func markZeroFilled(_ vm: VMState, _ i: Int) {
        vm.hash[i] = ContentHash.zero.rawValue
        vm.flags[i] |= PageFlag.known | PageFlag.everBacked
        vm.tier?.zeroFilled(i)
    }
}
