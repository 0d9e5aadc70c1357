import Foundation
import Testing
import TraceFormat
@testable import Capture

/// A RAM file and access map in a temporary folder, written the way QEMU and the plugin write
/// them, read back through `GuestMemory` as the capture reads them.
final class FakeGuest {
    let dir = NSTemporaryDirectory() + "tracetool-capture-test-" + UUID().uuidString
    let memory: GuestMemory
    let pages: Int

    init(pages: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.pages = pages
        memory = try GuestMemory(ramPath: dir + "/ram", mapPath: dir + "/acc", pages: pages)
    }

    deinit {
        memory.remove()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Fills page `p` with `byte` (0 makes it all zero).
    func fill(_ p: Int, _ byte: UInt8) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/ram"))
        try h.seek(toOffset: UInt64(p * 4096))
        try h.write(contentsOf: Data(repeating: byte, count: 4096))
        try h.close()
    }

    /// Writes 4096 `bytes` into page `p`.
    func write(_ p: Int, _ bytes: [UInt8]) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/ram"))
        try h.seek(toOffset: UInt64(p * 4096))
        try h.write(contentsOf: Data(bytes))
        try h.close()
    }

    /// Marks page `p` as the plugin does: 1 read, 2 written.
    func mark(_ p: Int, _ bits: UInt8) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/acc"))
        try h.seek(toOffset: UInt64(p))
        let old = try h.read(upToCount: 1)?.first ?? 0
        try h.seek(toOffset: UInt64(p))
        try h.write(contentsOf: Data([old | bits]))
        try h.close()
    }

    /// Counts `n` block executions in page `p`, as the plugin's inline counter does.
    func execute(_ p: Int, _ n: UInt64) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/acc"))
        try h.seek(toOffset: UInt64(pages + 8 * p))
        try h.write(contentsOf: withUnsafeBytes(of: n.littleEndian) { Data($0) })
        try h.close()
    }

    func mapBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/acc"))) }

    /// The snapshot's records with compressed sizes left out (`sizedSnapshot` keeps them).
    func snapshot(at t: UInt64) -> [TraceRecord] {
        sizedSnapshot(at: t).map {
            var r = $0; r.compressedSize = 0; return r
        }
    }

    func sizedSnapshot(at t: UInt64) -> [TraceRecord] {
        var out: [TraceRecord] = []
        memory.snapshot(vm: VMID(2), time: Micros(t), into: &out)
        return out
    }
}

private func rec(_ t: UInt64, _ k: RecordKind, _ p: UInt32, _ n: UInt32 = 1, _ h: UInt64 = 0) -> TraceRecord {
    TraceRecord(time: Micros(t), vm: VMID(2), kind: k, ppn: PPN(p), count: n, hash: ContentHash(h))
}

@Suite("Capture: snapshots of guest memory")
struct SnapshotTests {
    @Test(
        "A fresh all-zero RAM file gives no records; content that appears with no store the plugin saw (DMA) is a write, then its C record with the XXH3 hash"
    )
    func firstSnapshot() throws {
        let g = try FakeGuest(pages: 16)
        #expect(g.snapshot(at: 0).isEmpty)
        try g.fill(3, 0xAB)
        try g.fill(4, 0xAB)
        try g.fill(9, 0x01)
        let page = [UInt8](repeating: 0xAB, count: 4096)
        let h = page.withUnsafeBytes { GuestMemory.hash($0.baseAddress!) }
        #expect(h != 0)
        let one = [UInt8](repeating: 0x01, count: 4096)
        let h1 = one.withUnsafeBytes { GuestMemory.hash($0.baseAddress!) }
        #expect(
            g.snapshot(at: 5) == [
                rec(5, .write, 3, 2), rec(5, .write, 9, 1),
                rec(5, .content, 3, 1, h), rec(5, .content, 4, 1, h), rec(5, .content, 9, 1, h1),
            ])
        #expect(g.memory.unseenWrites == 3)
        // Nothing changed: nothing recorded.
        #expect(g.snapshot(at: 10).isEmpty)
    }

    @Test("A page the guest wrote is not an unseen write; a page it only read whose content changed (DMA) is written")
    func unseenWrites() throws {
        let g = try FakeGuest(pages: 8)
        try g.mark(1, 2); try g.fill(1, 5)  // the guest's store
        try g.mark(2, 1); try g.fill(2, 6)  // read by the guest, written by a device
        try g.mark(3, 1)  // only read
        let r = g.snapshot(at: 2)
        #expect(Array(r.prefix(2)) == [rec(2, .write, 1, 2), rec(2, .read, 3, 1)])
        #expect(r.dropFirst(2).map(\.kind) == [.content, .content] && r.dropFirst(2).map(\.ppn.rawValue) == [1, 2])
        #expect(g.memory.unseenWrites == 1)
        // The device zeroes a page: W and Z.
        try g.fill(2, 0)
        #expect(g.snapshot(at: 3) == [rec(3, .write, 2), rec(3, .zero, 2)])
        #expect(g.memory.unseenWrites == 2)
    }

    @Test("Pages that become zero are Z runs of consecutive changed pages; unchanged zero pages break a run")
    func zeroRuns() throws {
        let g = try FakeGuest(pages: 12)
        for p in [1, 2, 3, 5, 6] { try g.fill(p, 7) }
        _ = g.snapshot(at: 1)
        for p in [1, 2, 3, 5, 6] { try g.fill(p, 0) }
        // Page 4 was zero before and after: it splits the run.
        // The changes had no store the plugin saw: write runs, split the same way.
        #expect(
            g.snapshot(at: 2) == [rec(2, .write, 1, 3), rec(2, .write, 5, 2), rec(2, .zero, 1, 3), rec(2, .zero, 5, 2)])
    }

    @Test("The access map becomes R and W runs in page order, then is cleared")
    func accessRuns() throws {
        let g = try FakeGuest(pages: 16)
        try g.mark(0, 1); try g.mark(1, 1); try g.mark(2, 2); try g.mark(3, 3); try g.mark(4, 1)
        try g.mark(15, 2)
        // Written pages are reported with their content even when it did not change (all zero here).
        #expect(
            g.snapshot(at: 7) == [
                rec(7, .read, 0, 2), rec(7, .write, 2, 2), rec(7, .read, 4, 1), rec(7, .write, 15, 1),
                rec(7, .zero, 2, 2), rec(7, .zero, 15, 1),
            ])
        #expect(try g.mapBytes().allSatisfy { $0 == 0 })
        #expect(try g.mapBytes().count == 16 * 9)
        #expect(g.snapshot(at: 8).isEmpty)
    }

    @Test("Pages code was executed from are reads; executing a written page keeps it a write; counters are cleared")
    func executedPages() throws {
        let g = try FakeGuest(pages: 16)
        try g.execute(5, 3); try g.execute(6, 1); try g.execute(9, 1 << 40)
        try g.mark(9, 2)
        try g.fill(9, 4)
        let h = g.snapshot(at: 4)
        #expect(Array(h.prefix(2)) == [rec(4, .read, 5, 2), rec(4, .write, 9, 1)])
        #expect(h.count == 3 && h[2].kind == .content && h[2].ppn == PPN(9))
        #expect(try g.mapBytes().allSatisfy { $0 == 0 })
        #expect(g.snapshot(at: 5).isEmpty)
    }

    @Test("Accesses come before content of the same interval; a written page is re-reported, a read one is not")
    func order() throws {
        let g = try FakeGuest(pages: 4)
        try g.mark(2, 2)
        try g.fill(2, 9)
        let r = g.snapshot(at: 3)
        #expect(r.map(\.kind) == [.write, .content])
        // Written again with the same bytes: W and the same C again. Only read: R alone.
        try g.mark(2, 2)
        #expect(g.snapshot(at: 4) == [rec(4, .write, 2), rec(4, .content, 2, 1, r[1].hash.rawValue)])
        try g.mark(2, 1)
        #expect(g.snapshot(at: 5) == [rec(5, .read, 2)])
    }

    @Test("A non-zero page never gets hash 0; a page differing in one byte gets another hash")
    func hashing() throws {
        var a = [UInt8](repeating: 0, count: 4096)
        a[4095] = 1
        var b = a
        b[0] = 1
        let ha = a.withUnsafeBytes { GuestMemory.hash($0.baseAddress!) }
        let hb = b.withUnsafeBytes { GuestMemory.hash($0.baseAddress!) }
        #expect(ha != 0 && hb != 0 && ha != hb)
        let z = [UInt8](repeating: 0, count: 4096)
        #expect(z.withUnsafeBytes { GuestMemory.hash($0.baseAddress!) } == 0)
    }
}

@Suite("Capture: --vm specifications")
struct SpecTests {
    @Test("Defaults, keys and count")
    func parse() throws {
        let a = try CaptureVMSpec.parse("sort", index: 2)
        #expect(a == [CaptureVMSpec(name: "sort2", workload: .sort, mebibytes: 256, seed: 3)])
        let b = try CaptureVMSpec.parse(
            "toucher,mem=128M,seed=9,name=t,count=3,start=10s,stop=50s,schedule=16:5s;32:10s", index: 0)
        #expect(b.map(\.name) == ["t-1", "t-2", "t-3"])
        #expect(
            b.allSatisfy {
                $0.seed == 9 && $0.mebibytes == 128 && $0.start == 10 && $0.stop == 50 && $0.schedule == "16:5,32:10"
            })
        #expect(b[0].kernelCommandLine.hasSuffix("tt.workload=toucher tt.seed=9 tt.schedule=16:5,32:10"))
    }

    @Test(
        "Server workloads boot the Debian image from NVMe with 1 GiB unless told; custom carries its script and folder")
    func server() throws {
        let p = try CaptureVMSpec.parse("postgres,seed=4", index: 0)
        #expect(p == [CaptureVMSpec(name: "postgres0", workload: .postgres, mebibytes: 1024, seed: 4)])
        #expect(p[0].workload.image == .server)
        #expect(
            p[0].kernelCommandLine
                == "console=ttyS0 quiet panic=-1 root=/dev/nvme0n1 rootfstype=ext4 rw init=/opt/tt/init OPENBLAS_CORETYPE=Prescott tt.workload=postgres tt.seed=4"
        )
        #expect(try CaptureVMSpec.parse("server-idle,mem=512", index: 1)[0].mebibytes == 512)
        #expect(
            try CaptureVMSpec.parse("sort", index: 1)[0].kernelCommandLine
                == "console=ttyS0 quiet panic=-1 tt.workload=sort tt.seed=2")
        let dir = NSTemporaryDirectory() + "tracetool-custom-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: dir + "/job.sh"))
        let c = try CaptureVMSpec.parse("custom,run=\(dir)/job.sh,files=\(dir)/data,name=mine", index: 0)
        #expect(c[0].runScript == dir + "/job.sh" && c[0].filesDirectory == dir + "/data" && c[0].name == "mine")
        #expect(c[0].fact == "custom seed=1 mem=1024MiB run=job.sh files=data")
        #expect { _ = try CaptureVMSpec.parse("custom,run=\(dir)/data", index: 0) } throws: { e in
            (e as? CaptureError)?.description.contains("is not a readable file") == true
        }
        #expect { _ = try CaptureVMSpec.parse("custom,run=\(dir)/job.sh,files=\(dir)/job.sh", index: 0) } throws: { e in
            (e as? CaptureError)?.description.contains("is not a folder") == true
        }
    }

    @Test(
        "Bad specifications are refused with the reason",
        arguments: [
            ("postgres,mem=256", "needs mem=384"), ("custom", "custom needs run="),
            ("sort,run=/bin/sh", "only custom takes run="),
            ("web,files=/tmp", "only custom takes files="),
            ("custom,run=/nonexistent-script", "is not a readable file"),
            ("custom,run=/dev/zero", "is not a readable file"),
            ("custom,run=/bin/sh,files=/dev", "which is not a regular file, folder or link"),
            ("", "starts with a workload"), ("dance", "starts with a workload"), ("sort,mem=64", "mem is MiB"),
            ("sort,mem=4096", "mem is MiB"),
            ("sort,mem", "is not KEY=VALUE"), ("sort,color=red", "unknown key"),
            ("sort,schedule=16:5s", "only toucher and mixed"),
            ("toucher,schedule=16", "schedule is"), ("toucher,schedule=0:5s", "schedule is"),
            ("toucher,schedule=16:5", "schedule is"), ("mixed,start=30", "has no unit"), ("idle,count=0", "count is"),
            ("idle,name=a b", "a name has"), ("idle,seed=-1", "seed is"), ("idle,start=-2", "start \"-2\" is negative"),
        ])
    func refused(text: String, message: String) {
        #expect {
            _ = try CaptureVMSpec.parse(text, index: 0)
        } throws: { e in
            (e as? CaptureError)?.description.contains(message) == true
        }
    }

    @Test("Options are checked: intervals, durations, names, start and stop")
    func options() {
        let v = CaptureVMSpec(name: "a", workload: .idle)
        func fails(_ o: CaptureOptions, _ m: String) -> Bool {
            do { try o.check(); return false } catch { return error.description.contains(m) }
        }
        #expect(fails(CaptureOptions(vms: [], duration: 10, interval: 1, assets: ".", output: "x"), "no VMs"))
        #expect(fails(CaptureOptions(vms: [v], duration: 10, interval: 0.01, assets: ".", output: "x"), "--interval"))
        #expect(fails(CaptureOptions(vms: [v], duration: 0.5, interval: 1, assets: ".", output: "x"), "--duration"))
        #expect(fails(CaptureOptions(vms: [v, v], duration: 10, interval: 1, assets: ".", output: "x"), "two VMs"))
        var late = v; late.start = 20
        #expect(
            fails(
                CaptureOptions(vms: [late], duration: 10, interval: 1, assets: ".", output: "x"),
                "after the capture ends"))
        var early = v; early.start = 5; early.stop = 4
        #expect(fails(CaptureOptions(vms: [early], duration: 10, interval: 1, assets: ".", output: "x"), "stops at"))
        #expect(
            fails(CaptureOptions(vms: [v], duration: 10, interval: 1, assets: ".", output: "x", warmup: -1), "--warmup")
        )
        #expect(
            fails(
                CaptureOptions(vms: [v], duration: 10, interval: 1, assets: ".", output: "x", warmup: .infinity),
                "--warmup"))
        #expect(throws: Never.self) {
            try CaptureOptions(vms: [v], duration: 10, interval: 1, assets: ".", output: "x").check()
        }
        // Long horizons: no -icount, no plugin, a day of warm-up; --prewarm needs a server VM.
        #expect(
            fails(
                CaptureOptions(vms: [v], duration: 10, interval: 1, icountShift: 11, assets: ".", output: "x"),
                "--icount-shift"))
        #expect(
            fails(
                CaptureOptions(vms: [v], duration: 10, interval: 1, assets: ".", output: "x", warmup: 86_401),
                "--warmup"))
        #expect(
            fails(
                CaptureOptions(vms: [v], duration: 10, interval: 1, assets: ".", output: "x", prewarm: true),
                "--prewarm"))
        let pg = CaptureVMSpec(name: "p", workload: .postgres)
        #expect(throws: Never.self) {
            try CaptureOptions(
                vms: [pg], duration: 10, interval: 1, icountShift: nil, assets: ".", output: "x", warmup: 86_400,
                accessPlugin: false, prewarm: true
            ).check()
        }
    }

    @Test("A content-only capture needs no plugin; a missing output folder is refused before any VM boots")
    func contentOnlyAssets() throws {
        let dir = NSTemporaryDirectory() + "tt-assets-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in ["vmlinuz", "initramfs.cpio.gz", "kernel.version"] {
            FileManager.default.createFile(atPath: dir + "/" + f, contents: Data("x".utf8))
        }
        let v = CaptureVMSpec(name: "a", workload: .idle)
        // The plugin is asked for only when it runs.
        let withPlugin = try CaptureSession(
            options: CaptureOptions(vms: [v], duration: 2, interval: 1, assets: dir, output: dir + "/t.mtr.zst")
        ) { _ in }
        #expect { _ = try withPlugin.run() } throws: { e in
            (e as? CaptureError)?.description.contains("tt-access.so is missing") == true
        }
        // The output's folder is checked first of all, before QEMU is looked for.
        let contentOnly = try CaptureSession(
            options: CaptureOptions(
                vms: [v], duration: 2, interval: 1, assets: dir, output: dir + "/missing-folder/t.mtr.zst",
                accessPlugin: false)
        ) { _ in }
        #expect { _ = try contentOnly.run() } throws: { e in
            let d = (e as? CaptureError)?.description ?? ""
            return d.contains("missing-folder") && !d.contains(".tmp-")
        }
    }

    @Test("Missing assets name the setup script")
    func missingAssets() throws {
        let v = CaptureVMSpec(name: "a", workload: .idle)
        let o = CaptureOptions(
            vms: [v], duration: 2, interval: 1, assets: "/nonexistent-assets",
            output: NSTemporaryDirectory() + "never.mtr.zst")
        let s = try CaptureSession(options: o) { _ in }
        #expect { _ = try s.run() } throws: { e in
            (e as? CaptureError)?.description.contains("scripts/capture-setup.sh") == true
        }
        #expect(!FileManager.default.fileExists(atPath: o.output))
    }
}

/// Boots a real VM. Needs QEMU and the assets of scripts/capture-setup.sh, and takes ~10 s, so
/// it runs only with TRACETOOL_CAPTURE_TESTS=1 (the setup script is run first; it is idempotent).
@Suite(
    "Capture: smoke test with a real VM",
    .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_TESTS"] == "1"))
struct CaptureSmokeTests {
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    @Test("One small VM for a few seconds gives a valid trace with accesses, content and capture facts")
    func smoke() throws {
        let root = Self.packageRoot
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/bin/bash")
        setup.arguments = [root + "/scripts/capture-setup.sh"]
        try setup.run()
        setup.waitUntilExit()
        try #require(setup.terminationStatus == 0)

        let out = NSTemporaryDirectory() + "tracetool-smoke-\(UUID().uuidString).mtr.zst"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let assets = ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_DIR"] ?? root + "/.capture"
        let opts = CaptureOptions(
            vms: [CaptureVMSpec(name: "smoke", workload: .sort, mebibytes: 96, seed: 5)],
            duration: 6, interval: 2, assets: assets, output: out, level: 3)
        let footer = try CaptureSession(options: opts) { _ in }.run()
        let (header, checked) = try TraceFile.validate(out)
        #expect(checked == footer)
        #expect(header.capture.source == "qemu-tcg")
        #expect(header.capture.hash?.algorithm == "xxh3-64")
        #expect(header.capture.accesses == "interval")
        #expect(header.capture.details?["qemu"]?.contains("QEMU") == true)
        #expect(header.capture.details?["kernel"]?.contains("linux-image") == true)
        #expect(header.vms.map(\.pages) == [24_576])
        #expect(footer.kinds.powerOn == 1 && footer.kinds.powerOff == 0)
        #expect(footer.kinds.write > 0 && footer.kinds.read > 0)
        // A booted Linux holds thousands of non-zero pages.
        #expect(footer.kinds.content > 2_000)
        // No RAM or map files are left in /dev/shm.
        // (Files of other captures still running in this process have their work folder.)
        let left = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter {
            $0.hasPrefix("tracetool-\(getpid())-")
        }
        .filter { name in
            let tag = name.split(separator: "-").dropFirst(2).first.map(String.init) ?? ""
            return !FileManager.default.fileExists(atPath: "/tmp/tracetool-capture." + tag)
        }
        #expect(left.isEmpty)
    }
}

/// Boots the Debian server image. Needs the image (scripts/capture-setup.sh --server builds it:
/// about 2.5 min the first time, nothing after) and takes ~2 min, so it runs only with
/// TRACETOOL_CAPTURE_TESTS=1.
@Suite(
    "Capture: smoke test with Debian server guests",
    .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_TESTS"] == "1"))
struct ServerSmokeTests {
    @Test(
        "PostgreSQL under pgbench and a custom script, after a warm-up: the trace starts with their memory, names the image and says what it did"
    )
    func server() throws {
        let root = CaptureSmokeTests.packageRoot
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/bin/bash")
        setup.arguments = [root + "/scripts/capture-setup.sh", "--server"]
        try setup.run()
        setup.waitUntilExit()
        try #require(setup.terminationStatus == 0)

        let dir = NSTemporaryDirectory() + "tracetool-server-smoke-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("#!/bin/sh\necho \"tt-custom seed $1 $(cat files/word.txt)\"\nexec sleep infinity\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/job.sh"))
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: dir + "/files/word.txt"))
        let out = dir + "/server.mtr.zst"
        let assets = ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_DIR"] ?? root + "/.capture"
        let vms =
            try CaptureVMSpec.parse("postgres,mem=512,seed=3", index: 0)
            + CaptureVMSpec.parse("custom,mem=384,run=\(dir)/job.sh,files=\(dir)/files", index: 1)
        let opts = CaptureOptions(
            vms: vms, duration: 20, interval: 10, assets: assets, output: out, level: 3,
            consoleDirectory: dir + "/consoles", warmup: 45)
        let footer = try CaptureSession(options: opts) { _ in }.run()
        let (header, checked) = try TraceFile.validate(out)
        #expect(checked == footer)
        let d = header.capture.details ?? [:]
        #expect(d["image"]?.hasPrefix("sha256 ") == true)
        #expect(d["packages"]?.contains("postgresql-15 15.") == true)
        #expect(d["warmup"]?.hasPrefix("45 s") == true)
        #expect(
            d["dma"] != nil && d["vm1.run"]?.hasPrefix("xxh3 ") == true && d["vm1.files"]?.hasPrefix("xxh3 ") == true)
        #expect(d["vm1"] == "custom1: custom seed=2 mem=384MiB run=job.sh files=files")
        #expect(footer.kinds.powerOn == 2)
        // The first snapshot holds what the warm-up left: a booted Debian with PostgreSQL up
        // holds tens of MiB of non-zero pages.
        var first: [TraceRecord] = []
        var batch: [TraceRecord] = []
        let reader = try TraceFile.open(out)
        while try reader.next(into: &batch) { first += batch.filter { $0.time == .zero && $0.kind == .content } }
        #expect(first.count > 10_000)
        let pg = try String(contentsOfFile: dir + "/consoles/postgres0.console", encoding: .utf8)
        #expect(pg.contains("tt: postgres up, pgbench starts"))
        let custom = try String(contentsOfFile: dir + "/consoles/custom1.console", encoding: .utf8)
        #expect(custom.contains("tt-custom seed 2 hello"))
    }
}

@Suite("Capture: compressed sizes")
struct CompressedSizeTests {
    @Test(
        "Content records carry the page's zstd level-1 size: a page of one repeated byte a few dozen bytes, a page of random bytes its full 4096 (it does not shrink), half random about half"
    )
    func sizes() throws {
        let g = try FakeGuest(pages: 8)
        try g.fill(1, 0xAB)
        var x: UInt64 = 0x1234_5678_9ABC_DEF1
        var random = [UInt8](repeating: 0, count: 4096)
        for i in random.indices { x ^= x << 13; x ^= x >> 7; x ^= x << 17; random[i] = UInt8(truncatingIfNeeded: x) }
        try g.write(2, random)
        var half = random
        for i in 2048..<4096 { half[i] = 0 }
        try g.write(3, half)
        let r = g.sizedSnapshot(at: 1).filter { $0.kind == .content }
        #expect(r.map(\.ppn.rawValue) == [1, 2, 3])
        #expect(r[0].compressedSize >= 1 && r[0].compressedSize < 64)
        #expect(r[1].compressedSize == 4096)
        #expect(r[2].compressedSize > 2048 && r[2].compressedSize < 2200)
    }
}

@Suite("QMP messages")
struct QMPMessageTests {
    @Test("Greeting, event, reply and error lines; a line that is not a JSON object is unreadable")
    func messages() {
        func kind(_ s: String) -> String {
            switch QMPMessage.parse(Array(s.utf8)) {
            case .greeting?: return "greeting"
            case .event?: return "event"
            case .reply(let r)?: return "reply \((r as? [String: Any])?.count ?? -1)"
            case .failure(let d)?: return "failure \(d)"
            case .other?: return "other"
            case nil: return "unreadable"
            }
        }
        #expect(kind(#"{"QMP": {"version": {}, "capabilities": []}}"#) == "greeting")
        #expect(kind(#"{"event": "STOP", "timestamp": {"seconds": 1}}"#) == "event")
        #expect(kind(#"{"return": {}}"#) == "reply 0")
        #expect(kind(#"{"error": {"class": "GenericError", "desc": "no such device"}}"#) == "failure no such device")
        #expect(kind(#"{"error": 3}"#) == "other")
        #expect(kind("[1, 2]") == "unreadable" && kind("{\"return\"") == "unreadable")
    }
}
