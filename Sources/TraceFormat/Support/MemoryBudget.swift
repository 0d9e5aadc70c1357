import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How much memory a command may plan to use: checked before allocating by a size or count
/// the input declares (pages, VMs, intervals, timeline rows), so a few hostile bytes cannot
/// ask for more than the process may have. `--max-memory` sets it. The default is the
/// smallest of what the environment allows (`Limit.fromEnvironment`): half the machine's
/// physical memory (the rest is for the system and the other commands of a shared machine),
/// and, less what the process already uses of each, three quarters of the process's cgroup
/// memory limit and of its `RLIMIT_AS` and `RLIMIT_DATA` (the last quarter is for what no
/// plan counts: decoding buffers, thread stacks, the allocator's own reserve).
public enum MemoryBudget {
    /// A budget and where it comes from, as error messages and `info` name it.
    public struct Limit: Sendable, Equatable {
        public var bytes: UInt64
        /// "half this machine's memory (32.0 GiB)", "the cgroup memory limit (2.0 GiB in
        /// /sys/fs/cgroup/…/memory.max; 0.1 GiB in use)", "RLIMIT_AS (ulimit -v: …)", "--max-memory".
        public var source: String
        /// How to change it, for error messages.
        public var remedy: String
        /// "1.5 GiB, three quarters of what RLIMIT_AS leaves (…)": the amount and its source.
        public var summary: String { "\(gib(Double(bytes))), \(source)" }
    }

    public static var physicalBytes: UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : 1 << 34
    }

    /// The budget in force (the environment's until `--max-memory` sets one).
    nonisolated(unsafe) public static var limit: Limit = fromEnvironment()
    public static var limitBytes: UInt64 { limit.bytes }

    /// Sets the budget from `--max-memory`.
    public static func setByUser(_ bytes: UInt64) {
        limit = Limit(
            bytes: bytes, source: "--max-memory \(gib(Double(bytes)))",
            remedy: "give a larger --max-memory if the process can hold it, or a smaller input")
    }

    /// The smallest of the environment's limits (see the type's comment), read now.
    public static func fromEnvironment() -> Limit {
        candidates(physical: physicalBytes, cgroup: cgroupLimit(), rlimits: rlimits(), status: processStatus())
            .min { $0.bytes < $1.bytes }!
    }

    /// Every limit that applies, from the facts given (separated for tests).
    static func candidates(
        physical: UInt64, cgroup: (limit: UInt64, used: UInt64, file: String)?,
        rlimits: (addressSpace: UInt64?, data: UInt64?),
        status: (size: UInt64, data: UInt64)
    ) -> [Limit] {
        var out = [
            Limit(
                bytes: physical / 2, source: "half this machine's memory",
                remedy: "give a larger --max-memory if the machine can hold it, or a smaller input")
        ]
        func share(_ limit: UInt64, used: UInt64) -> UInt64 { limit > used ? (limit - used) / 4 * 3 : 0 }
        if let c = cgroup {
            out.append(
                Limit(
                    bytes: share(c.limit, used: c.used),
                    source:
                        "three quarters of what the cgroup memory limit leaves (\(gib(Double(c.limit))) in \(c.file), \(gib(Double(c.used))) in use)",
                    remedy: "run with a larger memory limit (the job's or the pod's), or a smaller input"))
        }
        if let a = rlimits.addressSpace {
            out.append(
                Limit(
                    bytes: share(a, used: status.size),
                    source:
                        "three quarters of what RLIMIT_AS leaves (ulimit -v: \(gib(Double(a))), \(gib(Double(status.size))) mapped)",
                    remedy: "raise ulimit -v, or a smaller input"))
        }
        if let d = rlimits.data {
            out.append(
                Limit(
                    bytes: share(d, used: status.data),
                    source:
                        "three quarters of what RLIMIT_DATA leaves (ulimit -d: \(gib(Double(d))), \(gib(Double(status.data))) in use)",
                    remedy: "raise ulimit -d, or a smaller input"))
        }
        return out
    }

    /// The process's `RLIMIT_AS` and `RLIMIT_DATA` soft limits (nil: unlimited).
    static func rlimits() -> (addressSpace: UInt64?, data: UInt64?) {
        func soft(_ r: __rlimit_resource_t) -> UInt64? {
            var l = rlimit()
            guard getrlimit(r, &l) == 0, l.rlim_cur != rlim_t.max else { return nil }
            return UInt64(l.rlim_cur)
        }
        return (soft(__rlimit_resource_t(RLIMIT_AS.rawValue)), soft(__rlimit_resource_t(RLIMIT_DATA.rawValue)))
    }

    /// VmSize and VmData of this process, bytes (/proc/self/status; 0 when unreadable).
    static func processStatus() -> (size: UInt64, data: UInt64) {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func kib(_ key: String) -> UInt64 {
            for line in s.split(separator: "\n") where line.hasPrefix(key + ":") {
                let v =
                    line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap {
                        UInt64($0)
                    } ?? 0
                return v * 1024
            }
            return 0
        }
        return (kib("VmSize"), kib("VmData"))
    }

    /// The memory limit of this process's cgroup and its use now: cgroup v2 `memory.max` and
    /// `memory.current`, else v1 `memory.limit_in_bytes` and `memory.usage_in_bytes`, of the
    /// cgroup /proc/self/cgroup names (and of its ancestors: the smallest limit applies); nil
    /// when none is set or none can be read.
    static func cgroupLimit(
        procSelfCgroup: String = "/proc/self/cgroup", root: String = "/sys/fs/cgroup"
    )
        -> (limit: UInt64, used: UInt64, file: String)?
    {
        guard let text = try? String(contentsOfFile: procSelfCgroup, encoding: .utf8) else { return nil }
        func number(_ path: String) -> UInt64? {
            guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return UInt64(s.trimmingCharacters(in: .whitespacesAndNewlines))  // "max" → nil
        }
        var best: (limit: UInt64, used: UInt64, file: String)?
        func consider(_ dir: String, limitFile: String, usageFile: String, path: String) {
            var p = path
            while true {
                let d = dir + (p == "/" ? "" : p)
                // v1 reports "no limit" as a huge number (about 2^63).
                if let l = number(d + "/" + limitFile), l < 1 << 62 {
                    let used = number(d + "/" + usageFile) ?? 0
                    if best == nil || l < best!.limit { best = (l, used, d + "/" + limitFile) }
                }
                if p == "/" || p.isEmpty { break }
                p = OutputPath.folder(of: p)
            }
        }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            let path = String(f[2])
            if f[0] == "0" && f[1].isEmpty {
                consider(root, limitFile: "memory.max", usageFile: "memory.current", path: path)
            } else if f[1].split(separator: ",").contains("memory") {
                consider(
                    root + "/memory", limitFile: "memory.limit_in_bytes", usageFile: "memory.usage_in_bytes", path: path
                )
            }
        }
        return best
    }

    public static func gib(_ b: Double) -> String {
        b >= 1_073_741_824 ? String(format: "%.1f GiB", b / 1_073_741_824) : String(format: "%.1f MiB", b / 1_048_576)
    }

    /// nil if `bytes` fits, else one sentence: what needs how much, the limit and where it
    /// comes from, how to lift it.
    public static func problem(_ bytes: Double, for what: String) -> String? {
        guard bytes > Double(limit.bytes) else { return nil }
        let source =
            limit.source.hasPrefix("--max-memory")
            ? limit.source : "\(gib(Double(limit.bytes))), \(limit.source) (the default --max-memory)"
        return "\(what) needs about \(gib(bytes)), more than \(source); \(limit.remedy)"
    }
}
