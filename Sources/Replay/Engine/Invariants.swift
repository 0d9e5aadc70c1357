import TraceFormat

extension ReplayEngine {
    /// Frame conservation (DESIGN.md): free MPNs + private PPNs + shared frames + Σ overhead of
    /// powered-on VMs = M, and swap slots used = swapped PPNs. O(VMs); cheap enough for every
    /// record in debug builds.
    public func checkConservation() throws(ReplayError) {
        var privatePages: UInt64 = 0
        var overhead: UInt64 = 0
        var swapped: UInt64 = 0
        for vm in vms {
            privatePages += vm.privatePages
            swapped += vm.swappedPages
            if vm.on { overhead += vm.config.overheadPages }
        }
        let frames = UInt64(table.sharedFrames)
        let total = memory.free + privatePages + frames + overhead
        guard total == memory.total, overhead == memory.reserved, memory.inUse == privatePages + frames else {
            throw fail("frame conservation broken: free \(memory.free) + private \(privatePages) + shared frames \(frames) + overhead \(overhead) = \(total), not M = \(memory.total)")
        }
        guard swapped == 0 else { throw fail("swap slots used (0) differ from swapped PPNs (\(swapped))") }
    }

    /// Every invariant, structurally: conservation; each PPN's state against the MPN owner map;
    /// each shared frame's refcount equals the PPNs that map it; each hint frame points at a
    /// private page marked hinted whose hash is the hint's; every frame indexed once under its
    /// key; shadow entries only for resident pages, writable only for private ones. O(pages).
    public func checkInvariants() throws(ReplayError) {
        try checkConservation()
        var refs = [UInt64](repeating: 0, count: table.frameCapacity)
        var mpnSeen = [Bool](repeating: false, count: Int(memory.highWater))
        for vm in vms {
            var priv: UInt64 = 0, shared: UInt64 = 0, zero: UInt64 = 0, hints: UInt64 = 0
            for i in 0..<vm.pageCount {
                let e = vm.entry[i]
                let f = vm.flags[i]
                let p = UInt32(i)
                switch PageState.of(e) {
                case .untouched:
                    if f & (PageFlag.shadowValid | PageFlag.hinted) != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is untouched but has flags \(f)")
                    }
                case .privateMPN:
                    priv += 1
                    let m = PageState.payload(e)
                    guard memory.owner[Int(m)] == MachineMemory.Owner.privatePage(vm: vm.index, ppn: p) else {
                        throw fail("MPN \(m) of VM \(vm.config.id) PPN \(p) is not owned by it")
                    }
                    guard Int(m) < mpnSeen.count, !mpnSeen[Int(m)] else { throw fail("MPN \(m) is mapped twice or was never handed out") }
                    mpnSeen[Int(m)] = true
                case .shared:
                    shared += 1
                    let fr = Int(PageState.payload(e))
                    guard fr < refs.count, table.kind[fr] == .shared else {
                        throw fail("VM \(vm.config.id) PPN \(p) maps frame \(fr), which is not a shared frame")
                    }
                    refs[fr] += 1
                    if table.fullHash[fr] == ContentHash.zero.rawValue { zero += 1 }
                    if f & PageFlag.shadowWritable != 0 || f & PageFlag.hinted != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is shared but writable or hinted")
                    }
                case .swapped, .ballooned:
                    throw fail("VM \(vm.config.id) PPN \(p) is in a state this version never produces")
                }
                if f & PageFlag.hinted != 0 { hints += 1 }
            }
            guard priv == vm.privatePages, shared == vm.sharedPages, zero == vm.zeroSharedPages, hints == vm.hints else {
                throw fail("VM \(vm.config.id) page counts drifted: private \(priv)/\(vm.privatePages), shared \(shared)/\(vm.sharedPages), zero \(zero)/\(vm.zeroSharedPages), hints \(hints)/\(vm.hints)")
            }
        }
        var sharedFrames = 0, hintFrames = 0
        for f in 0..<table.frameCapacity {
            switch table.kind[f] {
            case .free:
                continue
            case .shared:
                sharedFrames += 1
                let rc = table.refcount(UInt32(f))
                guard rc == refs[f], rc >= 1 else {
                    throw fail("shared frame \(f) has refcount \(rc) but \(refs[f]) PPNs map it")
                }
                let m = table.target[f]
                guard memory.owner[Int(m)] == MachineMemory.Owner.sharedFrame(UInt32(f)) else {
                    throw fail("MPN \(m) of shared frame \(f) is not owned by it")
                }
                guard Int(m) < mpnSeen.count, !mpnSeen[Int(m)] else { throw fail("MPN \(m) is mapped twice or was never handed out") }
                    mpnSeen[Int(m)] = true
                if table.ref16[f] < UInt16.max && table.overflow[UInt32(f)] != nil {
                    throw fail("frame \(f) uses the overflow table below 65,535 references")
                }
            case .hint:
                hintFrames += 1
                let vi = Int(table.hintVM[f])
                guard vi < vms.count else { throw fail("hint frame \(f) names VM index \(vi)") }
                let owner = vms[vi]
                let q = Int(table.target[f])
                guard q < owner.pageCount, PageState.of(owner.entry[q]) == .privateMPN,
                      owner.flags[q] & PageFlag.hinted != 0, owner.hash[q] == table.fullHash[f] else {
                    throw fail("hint frame \(f) does not point at a private hinted page holding its hash (VM \(owner.config.id) PPN \(q))")
                }
            }
        }
        guard sharedFrames == table.sharedFrames, hintFrames == table.hintFrames else {
            throw fail("frame counts drifted: shared \(sharedFrames)/\(table.sharedFrames), hints \(hintFrames)/\(table.hintFrames)")
        }
        let indexed = table.indexedFrames()
        guard indexed.count == sharedFrames + hintFrames else {
            throw fail("the sharing table indexes \(indexed.count) frames, \(sharedFrames + hintFrames) exist")
        }
        var seenFrames = Set<UInt32>()
        for (k, f) in indexed {
            guard table.kind[Int(f)] != .free, table.key(table.fullHash[Int(f)]) == k, seenFrames.insert(f).inserted else {
                throw fail("frame \(f) is indexed wrongly")
            }
        }
        for (k, e) in vshadow.entries {
            let vm = vms[Int(k.vm)]
            let st = PageState.of(vm.entry[Int(e.ppn)])
            guard st == .privateMPN || st == .shared, !(e.writable && st != .privateMPN) else {
                throw fail("virtual shadow entry for VM \(vm.config.id) VPN \(k.vpn) reaches PPN \(e.ppn) in state \(st)")
            }
        }
    }
}
