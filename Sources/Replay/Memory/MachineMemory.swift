import Foundation

/// Numbered slots handed out and taken back: freed ones first (most recently freed first),
/// then never-used ones in order. The pool of machine pages and of swap slots.
struct SlotPool {
    private var freed: [UInt32] = []
    private var nextFresh: UInt32 = 0
    private(set) var inUse: UInt64 = 0

    mutating func take() -> UInt32 {
        inUse += 1
        if let f = freed.popLast() { return f }
        nextFresh += 1
        return nextFresh - 1
    }

    mutating func give(_ s: UInt32) {
        freed.append(s)
        inUse -= 1
    }

    /// One past the highest slot ever handed out.
    var highWater: UInt32 { nextFresh }
}

/// Host machine memory: M pages, the free pool and the overhead reserved for powered-on VMs.
///
/// Contract: `allocate()` hands out a free MPN or nil; `release` returns one. `free` is always
/// M − reserved overhead − MPNs in use. Which VM page holds an MPN is recorded in the pmaps
/// and frames only (the invariant check rebuilds the reverse map when it needs it).
struct MachineMemory {
    let total: UInt64
    private(set) var reserved: UInt64 = 0
    private var pool = SlotPool()

    init(pages: UInt64) { total = pages }

    var inUse: UInt64 { pool.inUse }
    var free: UInt64 { total - reserved - pool.inUse }

    mutating func allocate() -> MPN? { free > 0 ? MPN(pool.take()) : nil }

    mutating func release(_ m: MPN) { pool.give(m.raw) }

    /// Reserves overhead pages; false if there is not that much free memory.
    mutating func reserve(_ pages: UInt64) -> Bool {
        guard free >= pages else { return false }
        reserved += pages
        return true
    }

    mutating func unreserve(_ pages: UInt64) { reserved -= pages }

    var highWater: UInt32 { pool.highWater }
}

/// The host swap area: `total` slots.
struct SwapArea {
    let total: UInt64
    private var pool = SlotPool()

    init(slots: UInt64) { total = slots }

    var used: UInt64 { pool.inUse }

    mutating func allocate() -> SwapSlot? { pool.inUse < total ? SwapSlot(pool.take()) : nil }

    mutating func release(_ s: SwapSlot) { pool.give(s.raw) }

    var highWater: UInt32 { pool.highWater }
}

/// Shadow entries keyed by (VM, address space, VPN), with a PPN → entries backmap, for traces
/// that carry virtual addresses. (Without them the model keys shadow entries by PPN, in the
/// per-page flags.)
struct VirtualShadow {
    struct Key: Hashable {
        var vm: UInt32
        var asid: UInt32
        var vpn: UInt64
    }
    struct Entry {
        var ppn: UInt32
        var writable: Bool
    }

    private(set) var entries: [Key: Entry] = [:]
    private var backmap: [UInt64: [Key]] = [:]

    @inline(__always) static func pageKey(_ vm: Int, _ ppn: UInt32) -> UInt64 { UInt64(vm) << 32 | UInt64(ppn) }

    func lookup(_ k: Key) -> Entry? { entries[k] }

    /// Installs or replaces the entry for `k`.
    mutating func install(_ k: Key, vm: Int, ppn: UInt32, writable: Bool) {
        if let old = entries[k], old.ppn != ppn {
            removeBack(k, vm: vm, ppn: old.ppn)
        }
        if entries[k] == nil || entries[k]!.ppn != ppn {
            backmap[VirtualShadow.pageKey(vm, ppn), default: []].append(k)
        }
        entries[k] = Entry(ppn: ppn, writable: writable)
    }

    private mutating func removeBack(_ k: Key, vm: Int, ppn: UInt32) {
        let pk = VirtualShadow.pageKey(vm, ppn)
        guard var list = backmap[pk] else { return }
        list.removeAll { $0 == k }
        backmap[pk] = list.isEmpty ? nil : list
    }

    /// Removes every entry reaching (vm, ppn); returns how many.
    mutating func invalidate(vm: Int, ppn: UInt32) -> Int {
        guard let list = backmap.removeValue(forKey: VirtualShadow.pageKey(vm, ppn)) else { return 0 }
        for k in list { entries[k] = nil }
        return list.count
    }

    /// Makes every entry reaching (vm, ppn) read-only; returns how many were writable.
    mutating func writeProtect(vm: Int, ppn: UInt32) -> Int {
        guard let list = backmap[VirtualShadow.pageKey(vm, ppn)] else { return 0 }
        var n = 0
        for k in list where entries[k]!.writable {
            entries[k]!.writable = false
            n += 1
        }
        return n
    }

    func reaching(vm: Int, ppn: UInt32) -> [Key] { backmap[VirtualShadow.pageKey(vm, ppn)] ?? [] }
}
