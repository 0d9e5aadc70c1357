import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One zero-filled mapping for the page arrays of all of an engine's VMs, marked for
/// transparent huge pages: one region instead of two per VM means far fewer page faults and
/// TLB misses (which contend when several engines run at once in `compare`).
final class PageArena: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    private let size: Int
    @exclusivity(unchecked) private var used = 0

    static func bytes(for vms: [VMConfig]) -> Int {
        vms.reduce(0) { total, vm in
            let n = Int(max(1, vm.maxPages))
            return total + align(n * MemoryLayout<UInt32>.stride) + align(n * MemoryLayout<UInt64>.stride)
        }
    }

    static func align(_ n: Int) -> Int { (n + 4095) & ~4095 }

    init?(bytes: Int) {
        guard bytes > 0, let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            p != MAP_FAILED
        else {
            return nil
        }
        _ = madvise(p, bytes, 14)  // MADV_HUGEPAGE
        base = p
        size = bytes
    }

    deinit { munmap(base, size) }

    func take<T>(_: T.Type, _ n: UInt64) -> UnsafeMutablePointer<T> {
        let bytes = PageArena.align(Int(max(1, n)) * MemoryLayout<T>.stride)
        precondition(used + bytes <= size, "page arena overflow")
        let p = base + used
        used += bytes
        return p.bindMemory(to: T.self, capacity: Int(max(1, n)))
    }
}
