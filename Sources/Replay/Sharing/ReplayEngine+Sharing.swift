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
        enum Outcome { case shareWith(UInt32), promote(UInt32, VMState, UInt32), own, none }
        var outcome = Outcome.none
        var stale: [UInt32] = []
        table.forEachMatch(h) { f in
            let fi = Int(f)
            switch table.kind[fi] {
            case .shared:
                if table.fullHash[fi] == h { outcome = .shareWith(f); return false }
                vm.counters.falseMatches += 1
            case .hint:
                let owner = vms[Int(table.hintVM[fi])]
                let q = table.target[fi]
                if owner === vm && q == ppn {
                    if table.fullHash[fi] == h { outcome = .own; return false }
                    stale.append(f)
                    return true
                }
                // Re-validate the hinted page: still private, content unchanged.
                let qi = Int(q)
                let valid = PageState.of(owner.entry[qi]) == .privateMPN && owner.flags[qi] & PageFlag.known != 0
                    && owner.hash[qi] == table.fullHash[fi]
                if !valid { stale.append(f); return true }
                if table.fullHash[fi] == h { outcome = .promote(f, owner, q); return false }
                vm.counters.falseMatches += 1
            case .free:
                break
            }
            return true
        }
        for f in stale {
            vm.counters.staleHints += 1
            let owner = vms[Int(table.hintVM[Int(f)])]
            owner.flags[Int(table.target[Int(f)])] &= ~PageFlag.hinted
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
            let m = PageState.payload(owner.entry[qi])
            owner.flags[qi] &= ~PageFlag.hinted
            owner.hints -= 1
            table.promote(f, mpn: m, refs: 1)
            owner.entry[qi] = PageState.shared.entry(f)
            owner.privatePages -= 1
            owner.sharedPages += 1
            if h == ContentHash.zero.rawValue { owner.zeroSharedPages += 1 }
            writeProtectShadow(owner, ppn: q)
            table.addRef(f)
            mapShared(vm, ppn: ppn, frame: f)
            return true
        case .none:
            if vm.flags[i] & PageFlag.hinted != 0 { return false }
            _ = table.addHint(hash: h, vm: UInt32(vm.index), ppn: ppn)
            vm.flags[i] |= PageFlag.hinted
            vm.hints += 1
            return false
        }
    }

    /// Drops one reference to a shared frame, freeing its machine page with the last.
    func releaseRef(_ frame: UInt32) {
        if table.dropRef(frame) == 0 {
            memory.release(table.target[Int(frame)])
            table.removeFrame(frame)
        }
    }

    /// Maps a private PPN to shared frame `f` (reference already counted), freeing its MPN.
    func mapShared(_ vm: VMState, ppn: UInt32, frame f: UInt32) {
        let i = Int(ppn)
        if vm.flags[i] & PageFlag.hinted != 0 { dropHint(vm, ppn: ppn) }
        memory.release(PageState.payload(vm.entry[i]))
        vm.entry[i] = PageState.shared.entry(f)
        vm.privatePages -= 1
        vm.sharedPages += 1
        if table.fullHash[Int(f)] == ContentHash.zero.rawValue { vm.zeroSharedPages += 1 }
        writeProtectShadow(vm, ppn: ppn)
    }

    /// Removes the hint frame that points at (vm, ppn). A hinted page's `hash` always holds the
    /// content it was hinted with (a write only clears `known`; a new content report drops the
    /// hint first), so the frame is found under that key.
    func dropHint(_ vm: VMState, ppn: UInt32) {
        var found: UInt32?
        table.forEachMatch(vm.hash[Int(ppn)]) { f in
            if table.kind[Int(f)] == .hint && table.hintVM[Int(f)] == UInt32(vm.index) && table.target[Int(f)] == ppn {
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
}
