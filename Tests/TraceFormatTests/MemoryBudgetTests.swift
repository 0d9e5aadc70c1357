import Foundation
import Testing
@testable import TraceFormat

@Suite("Memory budget from the environment (cgroups, rlimits, physical memory)")
struct MemoryBudgetTests {
    static let gib: UInt64 = 1 << 30

    /// 16 GiB of RAM: half is 8 GiB. A cgroup limit of 4 GiB with 1 GiB in use leaves 3, of
    /// which three quarters is 2.25 GiB. RLIMIT_AS 8 GiB with 2 GiB mapped: (8 − 2) · ¾ = 4.5 GiB.
    /// RLIMIT_DATA unlimited. The budget is the smallest: the cgroup's 2.25 GiB.
    @Test("The smallest limit applies: half the RAM, or three quarters of what each limit leaves")
    func smallest() {
        let g = MemoryBudgetTests.gib
        let c = MemoryBudget.candidates(
            physical: 16 * g, cgroup: (4 * g, 1 * g, "/sys/fs/cgroup/job/memory.max"),
            rlimits: (addressSpace: 8 * g, data: nil), status: (size: 2 * g, data: 0))
        #expect(c.map(\.bytes) == [8 * g, 9 * g / 4, 9 * g / 2])
        let best = c.min { $0.bytes < $1.bytes }!
        #expect(best.source.contains("cgroup memory limit leaves (4.0 GiB in /sys/fs/cgroup/job/memory.max, 1.0 GiB in use)"))
        // A limit already used up leaves nothing.
        let used = MemoryBudget.candidates(
            physical: 16 * g, cgroup: nil, rlimits: (addressSpace: nil, data: 1 * g),
            status: (size: 0, data: 2 * g))
        #expect(used.map(\.bytes) == [8 * g, 0])
    }

    @Test("cgroup v2 and v1: the smallest limit of the process's cgroup and its ancestors, with its use")
    func cgroupFiles() throws {
        let root = NSTemporaryDirectory() + "tracetool-cgroup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        func put(_ path: String, _ text: String) throws {
            let f = root + "/" + path
            try FileManager.default.createDirectory(
                atPath: (f as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: f, atomically: true, encoding: .utf8)
        }
        // v2: /a/b has no limit ("max"), its parent /a has 3 GiB with 1 GiB in use.
        try put("v2/a/b/memory.max", "max\n")
        try put("v2/a/memory.max", "3221225472\n")
        try put("v2/a/memory.current", "1073741824\n")
        try put("self-v2", "0::/a/b\n")
        let v2 = MemoryBudget.cgroupLimit(procSelfCgroup: root + "/self-v2", root: root + "/v2")
        #expect(
            v2?.limit == 3 * MemoryBudgetTests.gib && v2?.used == MemoryBudgetTests.gib
                && v2?.file == root + "/v2/a/memory.max")
        // v1: the process's own cgroup says "no limit" (about 2^63); the root's 2 GiB applies.
        try put("v1/memory/x/memory.limit_in_bytes", "9223372036854771712\n")
        try put("v1/memory/memory.limit_in_bytes", "2147483648\n")
        try put("v1/memory/memory.usage_in_bytes", "100\n")
        try put("self-v1", "9:name=systemd:/\n4:memory:/x\n0::/\n")
        let v1 = MemoryBudget.cgroupLimit(procSelfCgroup: root + "/self-v1", root: root + "/v1")
        #expect(v1?.limit == 2 * MemoryBudgetTests.gib && v1?.used == 100)
        // No limit anywhere, or no cgroup file: none.
        try put("self-none", "0::/\n")
        #expect(MemoryBudget.cgroupLimit(procSelfCgroup: root + "/self-none", root: root + "/v2") == nil)
        #expect(MemoryBudget.cgroupLimit(procSelfCgroup: root + "/missing", root: root) == nil)
    }
}
