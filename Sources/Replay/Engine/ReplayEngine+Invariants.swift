import TraceFormat

extension ReplayEngine {
    /// Frame conservation (docs/MODEL.md "Invariants"): free MPNs + private PPNs + shared frames + Σ overhead of
    /// powered-on VMs = M, and swap slots used = swapped PPNs. O(VMs); cheap enough for every
    /// record in debug builds.
    public func checkConservation() throws(ReplayError) {
        var privatePages: UInt64 = 0
        var overhead: UInt64 = 0
        var swapped: UInt64 = 0
        var ballooned: UInt64 = 0
        for vm in vms {
            privatePages += vm.privatePages
            swapped += vm.swappedPages
            ballooned += vm.balloonedPages
            if vm.on { overhead += vm.config.overheadPages }
        }
        let frames = UInt64(table.sharedFrames)
        let tiers = vms.reduce(UInt64(0)) { $0 + ($1.tier?.machinePages ?? 0) }
        let total = memory.free + privatePages + frames + tiers + overhead
        guard total == memory.total, overhead == memory.reserved, memory.inUse == privatePages + frames + tiers,
            tiers == tierPages
        else {
            throw fail(
                "frame conservation broken: free \(memory.free) + private \(privatePages) + shared frames \(frames) + swap tiers \(tiers) (counted \(tierPages)) + overhead \(overhead) = \(total), not M = \(memory.total)"
            )
        }
        guard swapped == swap.used else {
            throw fail("swap slots used (\(swap.used)) differ from swapped PPNs (\(swapped))")
        }
        guard ballooned == balloonTotal, balloonTotal <= hostBalloonPeak, swap.used <= hostSwappedPeak else {
            throw fail(
                "balloon total \(balloonTotal) (pages in balloons \(ballooned), host peak \(hostBalloonPeak)) or swap peak \(hostSwappedPeak) (in use \(swap.used)) drifted"
            )
        }
    }

    /// Every invariant, structurally: conservation (machine pages and swap slots are counted,
    /// not numbered, so the pmap's counts below are what holds them); each
    /// shared frame's refcount equals the PPNs that map it; each hint frame points at a private
    /// page marked hinted whose hash is the hint's; every frame indexed once under its key;
    /// per-VM counts match the pmap; the guest LRU list holds exactly the linked pages; shadow
    /// entries only for resident pages, writable only for private ones. O(pages).
    public func checkInvariants() throws(ReplayError) {
        try checkConservation()
        for m in mechanisms { try m.checkInvariants(self) }
        var refs = [UInt64](repeating: 0, count: table.frameCapacity)
        for vm in vms {
            var priv: UInt64 = 0, shared: UInt64 = 0, zero: UInt64 = 0, hints: UInt64 = 0, swapped: UInt64 = 0,
                balloon: UInt64 = 0
            var tiered: UInt64 = 0, returned: UInt64 = 0, balloonFreed: UInt64 = 0
            for i in 0..<vm.pageCount {
                let e = vm.entry[i]
                let f = vm.flags[i]
                let p = UInt32(i)
                if !vm.on && (e != 0 || f & PageFlag.flagMask & ~PageFlag.guestFreed != 0) {
                    throw fail("VM \(vm.config.id) is off but PPN \(p) has state")
                }
                switch PageState.of(e) {
                case .untouched:
                    if e == PageState.returnedEntry { returned += 1 }
                    if e != 0 && e != PageState.returnedEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is untouched with payload \(PageState.payload(e))")
                    }
                    if f & (PageFlag.shadowValid | PageFlag.hinted) != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is untouched but has flags \(f)")
                    }
                case .privateMPN:
                    priv += 1
                    if e != PageState.privateEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is private with payload \(PageState.payload(e))")
                    }
                case .shared:
                    shared += 1
                    if e != PageState.sharedEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is shared with payload \(PageState.payload(e))")
                    }
                    guard vm.hash[i] < UInt64(UInt32.max) else {
                        throw fail("VM \(vm.config.id) PPN \(p) is shared with frame word \(vm.hash[i])")
                    }
                    let frame = vm.frame(i), fr = frame.index
                    guard fr < refs.count, table.kind(frame) == .shared else {
                        throw fail("VM \(vm.config.id) PPN \(p) maps frame \(fr), which is not a shared frame")
                    }
                    refs[fr] += 1
                    if table.group(frame) != vm.shareGroup {
                        throw fail(
                            "VM \(vm.config.id) PPN \(p) (share group \(vm.shareGroup)) maps frame \(fr) of group \(table.group(frame))"
                        )
                    }
                    if table.hash(frame) == ContentHash.zero.rawValue { zero += 1 }
                    if f & PageFlag.shadowWritable != 0 || f & PageFlag.hinted != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is shared but writable or hinted")
                    }
                case .swapped:
                    swapped += 1
                    if e != PageState.swappedEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is swapped with payload \(PageState.payload(e))")
                    }
                    if f & (PageFlag.shadowValid | PageFlag.hinted) != 0 || f & PageFlag.virtualMapped != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is swapped but mapped or hinted")
                    }
                case .tiered:
                    tiered += 1
                    if e != PageState.tieredEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is tiered with payload \(PageState.payload(e))")
                    }
                    if f & (PageFlag.shadowValid | PageFlag.hinted) != 0 || f & PageFlag.virtualMapped != 0 {
                        throw fail("VM \(vm.config.id) PPN \(p) is in the swap tier but mapped or hinted")
                    }
                case .ballooned:
                    balloon += 1
                    if e == PageState.balloonedFreedEntry {
                        balloonFreed += 1
                    } else if e != PageState.balloonedEntry {
                        throw fail("VM \(vm.config.id) PPN \(p) is ballooned with payload \(PageState.payload(e))")
                    }
                    if f & (PageFlag.shadowValid | PageFlag.hinted) != 0 || f & PageFlag.virtualMapped != 0
                        || (vm.trackLRU && vm.seq[i] != UInt32.max)
                    {
                        throw fail("VM \(vm.config.id) PPN \(p) is ballooned but mapped, hinted or in the guest LRU")
                    }
                }
                if f & PageFlag.hinted != 0 { hints += 1 }
            }
            if let t = vm.tier {
                try t.check(self, vm)
            } else if tiered > 0 {
                throw fail("VM \(vm.config.id) has pages in a swap tier and no tier")
            }
            guard priv == vm.privatePages, shared == vm.sharedPages, zero == vm.zeroSharedPages, hints == vm.hints,
                swapped == vm.swappedPages, balloon == vm.balloonedPages, returned == vm.returnedPages,
                balloonFreed == vm.balloonFreedPages
            else {
                throw fail(
                    "VM \(vm.config.id) page counts drifted: private \(priv)/\(vm.privatePages), shared \(shared)/\(vm.sharedPages), zero \(zero)/\(vm.zeroSharedPages), hints \(hints)/\(vm.hints), swapped \(swapped)/\(vm.swappedPages), ballooned \(balloon)/\(vm.balloonedPages), returned \(returned)/\(vm.returnedPages), balloon freed \(balloonFreed)/\(vm.balloonFreedPages)"
                )
            }
            // The guest's victim is its true LRU page: the smallest (sequence, PPN) among the
            // pages not in the balloon.
            if vm.trackLRU && vm.on {
                var best = UInt64.max
                for i in 0..<vm.pageCount where PageState.of(vm.entry[i]) != .ballooned {
                    best = min(best, UInt64(vm.seq[i]) << 32 | UInt64(i))
                }
                let v = vm.guestVictim()
                if let v, UInt64(vm.seq[Int(v)]) << 32 | UInt64(v) != best {
                    throw fail("VM \(vm.config.id) guest victim \(v) is not its least recently used page")
                }
                if v == nil && best != UInt64.max { throw fail("VM \(vm.config.id) has pages but no guest victim") }
            }
        }
        var sharedFrames = 0, hintFrames = 0
        for f in 0..<table.frameCapacity {
            let frame = FrameIndex(UInt32(f))
            switch table.kind(frame) {
            case .free:
                continue
            case .shared:
                sharedFrames += 1
                let rc = table.refcount(frame)
                guard rc == refs[f], rc >= 1 else {
                    throw fail("shared frame \(f) has refcount \(rc) but \(refs[f]) PPNs map it")
                }
                if table.inlineRefs(frame) < UInt16.max && table.overflow[UInt32(f)] != nil {
                    throw fail("frame \(f) uses the overflow table below 65,535 references")
                }
            case .hint:
                hintFrames += 1
                let vi = table.hintOwner(frame)
                guard vi < vms.count else { throw fail("hint frame \(f) names VM index \(vi)") }
                let owner = vms[vi]
                let q = Int(table.hintPPN(frame))
                guard q < owner.pageCount, PageState.of(owner.entry[q]) == .privateMPN,
                    owner.flags[q] & PageFlag.hinted != 0, owner.hash[q] == table.hash(frame)
                else {
                    throw fail(
                        "hint frame \(f) does not point at a private hinted page holding its hash (VM \(owner.config.id) PPN \(q))"
                    )
                }
                guard table.group(frame) == owner.shareGroup else {
                    throw fail(
                        "hint frame \(f) has share group \(table.group(frame)), its VM \(owner.config.id) \(owner.shareGroup)"
                    )
                }
            }
        }
        guard sharedFrames == table.sharedFrames, hintFrames == table.hintFrames else {
            throw fail(
                "frame counts drifted: shared \(sharedFrames)/\(table.sharedFrames), hints \(hintFrames)/\(table.hintFrames)"
            )
        }
        let indexed = table.indexedFrames()
        guard indexed.count == sharedFrames + hintFrames else {
            throw fail("the sharing table indexes \(indexed.count) frames, \(sharedFrames + hintFrames) exist")
        }
        var seenFrames = Set<UInt32>()
        for (k, f) in indexed {
            guard table.kind(FrameIndex(f)) != .free, table.key(table.hash(FrameIndex(f))) == k,
                seenFrames.insert(f).inserted
            else {
                throw fail("frame \(f) is indexed wrongly")
            }
        }
        for (k, e) in vshadow.entries.sorted(by: {
            ($0.key.vm, $0.key.asid, $0.key.vpn) < ($1.key.vm, $1.key.asid, $1.key.vpn)
        }) {
            let vm = vms[Int(k.vm)]
            let st = PageState.of(vm.entry[Int(e.ppn)])
            guard st == .privateMPN || st == .shared, !(e.writable && st != .privateMPN) else {
                throw fail(
                    "virtual shadow entry for VM \(vm.config.id) VPN \(k.vpn) reaches PPN \(e.ppn) in state \(st)")
            }
        }
    }
}
