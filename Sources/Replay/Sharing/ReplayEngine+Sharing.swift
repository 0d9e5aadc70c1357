import TraceFormat

extension ReplayEngine {
    // MARK: the sharing mechanism

    /// Offers one page to the sharing table (the scanner, and share-before-swap).
    /// Returns true if the page ends up mapped to a shared frame.
    @discardableResult
    func tryShare(_ vm: VMState, ppn: UInt32) -> Bool {
        let i = Int(ppn)
        let e = vm.entry[i]
        guard PageState.of(e) == .privateMPN else { return PageState.of(e) == .shared }
        guard vm.flags[i] & PageFlag.known != 0 else {
            vm.counters.volatileSkipped += 1
            return false
        }
        let h = vm.hash[i]
        guard scanner.offersPages && scanner.mayShare(hash: h) else { return false }
        // A mechanism may keep the page private (SharingGate).
        if let g = sharingGate, g.blocksOffer(self, vm, ppn, hash: h) { return false }
        enum Outcome { case shareWith(FrameIndex), promote(FrameIndex, VMState, UInt32), own, none }
        var outcome = Outcome.none
        var stale: [FrameIndex] = []
        let group = vm.shareGroup
        table.forEachMatch(h) { f in
            switch table.kind(f) {
            case .shared:
                // Another share group's frame is not a candidate.
                guard table.group(f) == group else { return true }
                if table.hash(f) == h { outcome = .shareWith(f); return false }
                vm.counters.falseMatches += 1
            case .hint:
                let owner = vms[table.hintOwner(f)]
                let q = table.hintPPN(f)
                if owner === vm && q == ppn {
                    if table.hash(f) == h { outcome = .own; return false }
                    stale.append(f)
                    return true
                }
                guard table.group(f) == group else { return true }
                // The gate may hold the hinted page back; its hint stays.
                if let g = sharingGate, g.blocksHint(owner, q) { return true }
                if !hintValid(f) { stale.append(f); return true }
                if table.hash(f) == h { outcome = .promote(f, owner, q); return false }
                vm.counters.falseMatches += 1
            case .free:
                break
            }
            return true
        }
        for f in stale {
            vm.counters.staleHints += 1
            let owner = vms[table.hintOwner(f)]
            owner.flags[Int(table.hintPPN(f))] &= ~PageFlag.hinted
            owner.hints -= 1
            table.removeFrame(f)
        }
        switch outcome {
        case .own:
            return false
        case .shareWith(let f):
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            return true
        case .promote(let f, let owner, let q):
            // The hinted page's MPN becomes the shared copy; both PPNs map it copy-on-write.
            let qi = Int(q)
            owner.flags[qi] &= ~PageFlag.hinted
            owner.hints -= 1
            table.promote(f, refs: 1)
            owner.setShared(qi, f)
            owner.privatePages -= 1
            if watchesPages { for w in pageWatchers { w.leftPrivate(self, owner, q) } }
            owner.sharedPages += 1
            if h == ContentHash.zero.rawValue { owner.zeroSharedPages += 1 }
            writeProtectShadow(owner, ppn: q)
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            return true
        case .none:
            if vm.flags[i] & PageFlag.hinted != 0 { return false }
            _ = table.addHint(hash: h, vm: UInt32(vm.index), ppn: ppn, group: group)
            vm.flags[i] |= PageFlag.hinted
            vm.hints += 1
            return false
        }
    }

    /// Releases what backs a resident page with pmap entry `e` (a private machine page, or a
    /// reference to a shared frame) and updates the VM's counts; the caller remaps the PPN. A
    /// shared page's hash word gets its content's hash back.
    func releaseResident(_ vm: VMState, ppn: UInt32, _ e: UInt32) {
        switch PageState.of(e) {
        case .privateMPN:
            memory.release()
            vm.privatePages -= 1
            if watchesPages { for w in pageWatchers { w.leftPrivate(self, vm, ppn) } }
        case .shared:
            let f = vm.frame(Int(ppn))
            vm.hash[Int(ppn)] = table.hash(f)
            if table.hash(f) == ContentHash.zero.rawValue { vm.zeroSharedPages -= 1 }
            vm.sharedPages -= 1
            releaseRef(f)
        case .untouched, .swapped, .ballooned, .tiered:
            preconditionFailure("releaseResident on a page that is not resident")
        }
    }

    /// Drops one reference to a shared frame, freeing its machine page with the last.
    func releaseRef(_ frame: FrameIndex) {
        if table.dropRef(frame) == 0 {
            memory.release()
            table.removeFrame(frame)
        }
    }

    /// Maps a private PPN to shared frame `f` (reference already counted), freeing its MPN.
    func mapShared(_ vm: VMState, ppn: UInt32, frame f: FrameIndex) {
        let i = Int(ppn)
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: ppn) }
        memory.release()
        vm.setShared(i, f)
        vm.privatePages -= 1
        if watchesPages { for w in pageWatchers { w.leftPrivate(self, vm, ppn) } }
        vm.sharedPages += 1
        if table.hash(f) == ContentHash.zero.rawValue { vm.zeroSharedPages += 1 }
        writeProtectShadow(vm, ppn: ppn)
    }

    /// Removes the hint frame that points at (vm, ppn). A hinted page's `hash` always holds the
    /// content it was hinted with (a write only clears `known`; a new content report drops the
    /// hint first), so the frame is found under that key.
    func dropHint(_ vm: VMState, ppn: UInt32) {
        var found: FrameIndex?
        table.forEachMatch(vm.hash[Int(ppn)]) { f in
            if table.kind(f) == .hint && table.hintOwner(f) == vm.index && table.hintPPN(f) == ppn {
                found = f
                return false
            }
            return true
        }
        precondition(found != nil, "hint of VM \(vm.config.id) PPN \(ppn) missing from the sharing table")
        table.removeFrame(found!)
        vm.flags[Int(ppn)] &= ~PageFlag.hinted
        vm.hints -= 1
    }

    /// Whether hint frame `f` still describes its page: private, content known and unchanged.
    func hintValid(_ f: FrameIndex) -> Bool {
        let owner = vms[table.hintOwner(f)]
        let q = Int(table.hintPPN(f))
        return PageState.of(owner.entry[q]) == .privateMPN && owner.flags[q] & PageFlag.known != 0
            && owner.hash[q] == table.hash(f)
    }
}
