/// The global sharing table: shared frames and hint frames, keyed by the content hash truncated
/// to `hashBits` (docs/PAPER.md §4).
///
/// Contract: a custom open-addressing table (linear probing, one tag byte per slot, backward
/// shift deletion) holding frame indices; several frames may have the same key (different
/// contents whose truncated hashes collide), and `forEachMatch` visits them in slot order, so
/// every decision is a pure function of the insertion history. Frames are stored as parallel
/// arrays: full 64-bit hash, the hinted PPN and its VM (hint frames; the machine page holding a
/// shared frame's copy is counted, not numbered), a 16-bit reference
/// count with an overflow table above 65,535, the kind, and the share group (a page only ever
/// joins a frame of its own VM's group, `VMState.shareGroup`; 0 for every VM by default).
struct ShareTable {
    enum Kind: UInt8 { case free = 0, shared = 1, hint = 2 }

    // Frames.
    private var fullHash: [UInt64] = []
    /// The hinted PPN (hint frames; 0 for shared frames): read through `hintPPN`.
    private var target: [UInt32] = []
    private var hintVM: [UInt32] = []
    private var ref16: [UInt16] = []
    private var kinds: [Kind] = []
    private var groups: [UInt32] = []
    private var freeFrames: [UInt32] = []
    /// References beyond 65,535, per frame.
    private(set) var overflow: [UInt32: UInt64] = [:]
    private(set) var sharedFrames = 0
    private(set) var hintFrames = 0

    // Index.
    private var tags: [UInt8]
    private var keys: [UInt64]
    private var slots: [UInt32]
    private var shift: UInt64
    private(set) var used = 0
    let keyMask: UInt64

    init(hashBits: Int) {
        keyMask = hashBits >= 64 ? UInt64.max : (UInt64(1) << UInt64(hashBits)) - 1
        let cap = 1024
        tags = Array(repeating: 0, count: cap)
        keys = Array(repeating: 0, count: cap)
        slots = Array(repeating: 0, count: cap)
        shift = 64 - 10
    }

    @inline(__always) func key(_ hash: UInt64) -> UInt64 { hash & keyMask }

    @inline(__always) private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }
    @inline(__always) private static func tag(_ key: UInt64) -> UInt8 {
        0x80 | UInt8(truncatingIfNeeded: (key &* 0xC2B2_AE3D_27D4_EB4F) >> 57)
    }

    // MARK: frames

    @inline(__always) func kind(_ f: FrameIndex) -> Kind { kinds[f.index] }
    /// The share group of the pages the frame holds or points at.
    @inline(__always) func group(_ f: FrameIndex) -> UInt32 { groups[f.index] }
    /// The full 64-bit content hash of the frame's page.
    @inline(__always) func hash(_ f: FrameIndex) -> UInt64 { fullHash[f.index] }
    /// The page a hint frame points at: its VM (by engine index) and PPN.
    @inline(__always) func hintOwner(_ f: FrameIndex) -> Int { Int(hintVM[f.index]) }
    @inline(__always) func hintPPN(_ f: FrameIndex) -> UInt32 { target[f.index] }
    /// References counted in the frame itself (the rest are in `overflow`).
    func inlineRefs(_ f: FrameIndex) -> UInt16 { ref16[f.index] }

    private mutating func newFrame(
        _ k: Kind, hash: UInt64, target t: UInt32, vm: UInt32, ref: UInt16, group: UInt32
    ) -> UInt32 {
        let f: UInt32
        if let r = freeFrames.popLast() {
            f = r
            fullHash[Int(f)] = hash; target[Int(f)] = t; hintVM[Int(f)] = vm; ref16[Int(f)] = ref; kinds[Int(f)] = k;
            groups[Int(f)] = group
        } else {
            f = UInt32(fullHash.count)
            fullHash.append(hash); target.append(t); hintVM.append(vm); ref16.append(ref); kinds.append(k);
            groups.append(group)
        }
        if k == .shared { sharedFrames += 1 } else { hintFrames += 1 }
        insertIndex(key(hash), f)
        return f
    }

    /// Adds a hint frame for (vm, ppn) whose content hashes to `hash`; `group` is the VM's.
    mutating func addHint(hash: UInt64, vm: UInt32, ppn: UInt32, group: UInt32) -> FrameIndex {
        FrameIndex(newFrame(.hint, hash: hash, target: ppn, vm: vm, ref: 0, group: group))
    }

    /// Turns hint frame `f` into a shared frame with `refs` references, in place (its copy is
    /// the hinted page's machine page).
    mutating func promote(_ fi: FrameIndex, refs: UInt16) {
        let f = fi.raw
        precondition(kinds[Int(f)] == .hint)
        kinds[Int(f)] = .shared
        target[Int(f)] = 0
        hintVM[Int(f)] = 0
        ref16[Int(f)] = refs
        hintFrames -= 1
        sharedFrames += 1
    }

    mutating func removeFrame(_ fi: FrameIndex) {
        let f = fi.raw
        let k = kinds[Int(f)]
        precondition(k != .free)
        removeIndex(key(fullHash[Int(f)]), f)
        if k == .shared { sharedFrames -= 1 } else { hintFrames -= 1 }
        kinds[Int(f)] = .free
        overflow[f] = nil
        freeFrames.append(f)
    }

    func refcount(_ fi: FrameIndex) -> UInt64 { UInt64(ref16[fi.index]) + (overflow[fi.raw] ?? 0) }

    mutating func addRef(_ fi: FrameIndex) {
        let f = fi.raw
        if ref16[Int(f)] == UInt16.max { overflow[f, default: 0] += 1 } else { ref16[Int(f)] += 1 }
    }

    /// Drops one reference; returns the count left.
    mutating func dropRef(_ fi: FrameIndex) -> UInt64 {
        let f = fi.raw
        if let o = overflow[f] {
            if o <= 1 { overflow[f] = nil } else { overflow[f] = o - 1 }
        } else {
            ref16[Int(f)] -= 1
        }
        return refcount(fi)
    }

    var frameCapacity: Int { fullHash.count }

    // MARK: index

    /// Calls `body` with every frame whose key equals `key(hash)`, in slot order, until it
    /// returns false. The table must not be modified inside `body`.
    func forEachMatch(_ hash: UInt64, _ body: (FrameIndex) -> Bool) {
        let k = key(hash)
        let t = ShareTable.tag(k)
        let mask = tags.count - 1
        var i = home(k)
        while tags[i] != 0 {
            if tags[i] == t && keys[i] == k {
                if !body(FrameIndex(slots[i])) { return }
            }
            i = (i + 1) & mask
        }
    }

    private mutating func insertIndex(_ k: UInt64, _ f: UInt32) {
        if (used + 1) * 4 > tags.count * 3 { grow() }
        let mask = tags.count - 1
        var i = home(k)
        while tags[i] != 0 { i = (i + 1) & mask }
        tags[i] = ShareTable.tag(k)
        keys[i] = k
        slots[i] = f
        used += 1
    }

    private mutating func removeIndex(_ k: UInt64, _ f: UInt32) {
        let mask = tags.count - 1
        var i = home(k)
        while !(tags[i] != 0 && keys[i] == k && slots[i] == f) {
            precondition(tags[i] != 0, "frame \(f) missing from the sharing table")
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps probe sequences unbroken without tombstones.
        var hole = i
        var j = (i + 1) & mask
        while tags[j] != 0 {
            let h = home(keys[j])
            // Move j into the hole if its home is not cyclically within (hole, j].
            let inRange = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !inRange {
                tags[hole] = tags[j]; keys[hole] = keys[j]; slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        tags[hole] = 0
        used -= 1
    }

    private mutating func grow() {
        let oldTags = tags, oldKeys = keys, oldSlots = slots
        let cap = oldTags.count * 2
        tags = Array(repeating: 0, count: cap)
        keys = Array(repeating: 0, count: cap)
        slots = Array(repeating: 0, count: cap)
        shift -= 1
        used = 0
        for i in 0..<oldTags.count where oldTags[i] != 0 {
            insertIndex(oldKeys[i], oldSlots[i])
        }
    }

    /// Every frame in the index, in slot order (for invariant checks).
    func indexedFrames() -> [(key: UInt64, frame: UInt32)] {
        (0..<tags.count).filter { tags[$0] != 0 }.map { (keys[$0], slots[$0]) }
    }
}
