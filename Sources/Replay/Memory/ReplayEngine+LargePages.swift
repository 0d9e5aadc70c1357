extension ReplayEngine {
    // MARK: large pages (docs/MODEL.md "Large pages"; the rules are LargePageMap's contract)

    /// Large pages may form: the state is high and free memory is at or above the threshold.
    var mayFormLargePages: Bool { state == .high && memory.free >= largeBreakPages }

    /// PPN `ppn` of `vm` became privately backed.
    @inline(__always)
    func largeGained(_ vm: VMState, _ ppn: UInt32) {
        if vm.largePages!.gained(Int(ppn), mayForm: mayFormLargePages) {
            largeBlocks += 1
            largePeakPages = max(largePeakPages, UInt64(largeBlocks * vm.largePages!.blockPages))
        }
    }

    /// PPN `ppn` of `vm` lost its private backing.
    @inline(__always)
    func largeLost(_ vm: VMState, _ ppn: UInt32) {
        let before = vm.largePages!.largeCount
        vm.largePages!.lost(Int(ppn))
        largeBlocks -= before - vm.largePages!.largeCount
    }

    /// The host splits every large page (free memory fell below the threshold, or the state
    /// left high).
    func splitLargePages() {
        for vm in vms where vm.largePages != nil {
            largeBlocks -= vm.largePages!.splitAll()
        }
    }

    /// Whether the sharing scan would have shared PPN `ppn` (content `h`) now were it not
    /// inside a large page: a shared frame of its salt group holds `h`, or another page's
    /// valid hint does (itself not inside a large page). Reads only.
    func wouldShare(_ vm: VMState, ppn: UInt32, hash h: UInt64) -> Bool {
        var found = false
        let salt = vm.salt
        table.forEachMatch(h) { f in
            guard table.kind(f) != .free, table.salt(f) == salt, table.hash(f) == h else { return true }
            if table.kind(f) == .shared { found = true; return false }
            let owner = vms[table.hintOwner(f)]
            let q = table.hintPPN(f)
            if owner === vm && q == ppn { return true }
            if hintValid(f) && owner.largePages?.isLarge(Int(q)) != true {
                found = true
                return false
            }
            return true
        }
        return found
    }
}
