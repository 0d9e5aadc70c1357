import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How much memory a command may plan to use: checked before allocating by a size or count
/// the input declares (pages, VMs, intervals, timeline rows), so a few hostile bytes cannot
/// ask for more than the machine holds. `--max-memory` sets it; the default is half the
/// machine's physical memory (the rest is for the system, the output being written and the
/// other commands of a shared machine).
public enum MemoryBudget {
    public static var physicalBytes: UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : 1 << 34
    }

    nonisolated(unsafe) public static var limitBytes: UInt64 = physicalBytes / 2
    nonisolated(unsafe) public static var setByUser = false

    public static func gib(_ b: Double) -> String {
        b >= 1_073_741_824 ? String(format: "%.1f GiB", b / 1_073_741_824) : String(format: "%.1f MiB", b / 1_048_576)
    }

    /// nil if `bytes` fits, else one sentence: what needs how much, the limit, how to lift it.
    public static func problem(_ bytes: Double, for what: String) -> String? {
        guard bytes > Double(limitBytes) else { return nil }
        let limit =
            setByUser
            ? "--max-memory \(gib(Double(limitBytes)))"
            : "\(gib(Double(limitBytes))), half this machine's memory (the default --max-memory)"
        return
            "\(what) needs about \(gib(bytes)), more than \(limit); give a larger --max-memory if the machine can hold it, or a smaller input"
    }
}
