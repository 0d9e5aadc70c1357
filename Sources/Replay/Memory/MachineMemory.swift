import Foundation

/// Host machine memory: M pages, the free pool and the overhead reserved for powered-on VMs.
///
/// Contract: `allocate()` takes a free machine page (false when none is free); `release`
/// returns one. `free` is always M − reserved overhead − pages in use. The model counts machine
/// pages and does not number them (docs/MODEL.md "pmap"): which machine page backs a PPN never
/// changes a result, and the pmap entries and frames say which PPNs hold one.
struct MachineMemory {
    let total: UInt64
    private(set) var reserved: UInt64 = 0
    private(set) var inUse: UInt64 = 0

    init(pages: UInt64) { total = pages }

    var free: UInt64 { total - reserved - inUse }

    mutating func allocate() -> Bool {
        guard free > 0 else { return false }
        inUse += 1
        return true
    }

    mutating func release() {
        precondition(inUse > 0, "a machine page released that was not in use")
        inUse -= 1
    }

    /// Reserves overhead pages; false if there is not that much free memory.
    mutating func reserve(_ pages: UInt64) -> Bool {
        guard free >= pages else { return false }
        reserved += pages
        return true
    }

    mutating func unreserve(_ pages: UInt64) { reserved -= pages }
}

/// The host swap area: `total` slots, counted (like machine pages, not numbered).
struct SwapArea {
    let total: UInt64
    private(set) var used: UInt64 = 0

    init(slots: UInt64) { total = slots }

    mutating func allocate() -> Bool {
        guard used < total else { return false }
        used += 1
        return true
    }

    mutating func release() {
        precondition(used > 0, "a swap slot released that was not in use")
        used -= 1
    }
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
