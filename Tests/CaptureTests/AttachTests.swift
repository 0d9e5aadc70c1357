import Foundation
import Testing
import TraceFormat
@testable import Capture

/// A /proc/PID/maps recorded from a QEMU 7.2 process (`-m 256M`, TCG) on this machine kind.
private let recordedMaps = """
    563c67564000-563c6796b000 r--p 00000000 fe:00 16238073                   /usr/bin/qemu-system-x86_64
    563c68348000-563c686f1000 rw-p 00de3000 fe:00 16238073                   /usr/bin/qemu-system-x86_64
    563c686f1000-563c68724000 rw-p 00000000 00:00 0 
    563c6a2e7000-563c6b190000 rw-p 00000000 00:00 0                          [heap]
    7f64cedff000-7f64cf000000 rw-p 00000000 00:00 0 
    7f64cf07c000-7f64cfe00000 rw-p 00000000 00:00 0 
    7f64cfe00000-7f64dfe00000 rw-p 00000000 00:00 0 
    7f64e4000000-7f64e4815000 rw-p 00000000 00:00 0 
    7ffd2a1b0000-7ffd2a1d1000 rw-p 00000000 00:00 0                          [stack]
    """

@Suite("Capture: attaching to running QEMU processes")
struct AttachParsingTests {
    @Test(
        "The guest's memory size comes from -m (MiB by default, suffixes, size=) or a memory backend's size= (bytes by default)"
    )
    func memorySize() {
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m", "256M"]) == 256 << 20)
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m", "1024"]) == 1 << 30)
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m", "2G"]) == 2 << 30)
        #expect(
            QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m", "size=512M,slots=4,maxmem=4G"]) == 512
                << 20)
        #expect(
            QEMUProcess.memoryBytes(commandLine: [
                "qemu-system-x86_64", "-object", "memory-backend-file,id=r,size=134217728,mem-path=/dev/shm/x",
                "-M", "pc,memory-backend=r",
            ]) == 128 << 20)
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-nographic"]) == nil)
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m", "12Q"]) == nil)
        #expect(QEMUProcess.memoryBytes(commandLine: ["qemu-system-x86_64", "-m"]) == nil)
    }

    @Test(
        "maps lines parse with and without a path; the RAM is the writable mapping of exactly the guest's size, else the largest"
    )
    func maps() throws {
        let m = QEMUProcess.parseMaps(recordedMaps)
        #expect(m.count == 9)
        #expect(
            m[0]
                == .init(
                    start: 0x563c67564000, end: 0x563c6796b000, permissions: "r--p", path: "/usr/bin/qemu-system-x86_64"
                ))
        #expect(m[2].path == "" && m[3].path == "[heap]")
        let (ram, how) = try #require(QEMUProcess.findRAM(m, bytes: 256 << 20))
        #expect(ram.start == 0x7f64cfe00000 && ram.bytes == 256 << 20)
        #expect(how.contains("256 MiB mapping at 0x7f64cfe00000"))
        // No mapping of that size: none (the capture refuses rather than guessing).
        #expect(QEMUProcess.findRAM(m, bytes: 512 << 20) == nil)
        // No size on the command line: the largest writable mapping of at least 16 MiB.
        let (guess, why) = try #require(QEMUProcess.findRAM(m, bytes: nil))
        #expect(guess.start == 0x7f64cfe00000 && why.contains("largest writable mapping"))
        // Read-only mappings never qualify; garbage lines are skipped.
        #expect(
            QEMUProcess.findRAM(
                QEMUProcess.parseMaps("7f0000000000-7f0010000000 r--p 0 0:0 0\nnot a line\n"), bytes: 256 << 20) == nil)
    }

    @Test(
        "pagemap entries: present, swapped, soft-dirty, exclusive; entries of a transparent huge page are present one by one"
    )
    func pagemap() {
        // Recorded: 16 consecutive entries of the guest RAM above, backed by one huge page
        // (consecutive frame numbers), present and exclusive, not soft-dirty (the host kernel
        // keeps no soft-dirty bits).
        let recorded: [UInt64] = (0..<16).map { 0x8100_0000_0062_3C00 + $0 }
        #expect(
            recorded.allSatisfy {
                PagemapEntry($0).present && PagemapEntry($0).exclusive && !PagemapEntry($0).softDirty
                    && PagemapEntry($0).backed
            })
        #expect(recorded.map { $0 & ((1 << 55) - 1) } == (0..<16).map { 0x623C00 + $0 })
        // The documented layout: bit 55 soft-dirty; bit 62 swapped (type and offset below);
        // zero: never backed (a hole).
        let dirty = PagemapEntry(0x8180_0000_0062_3C00)
        #expect(dirty.present && dirty.softDirty)
        let swapped = PagemapEntry(1 << 62 | 3 | 0x1234 << 5)
        #expect(swapped.swapped && !swapped.present && swapped.backed && !swapped.softDirty)
        let hole = PagemapEntry(0)
        #expect(!hole.backed && !hole.present && !hole.swapped)
        let shared = PagemapEntry(1 << 63 | 1 << 61)
        #expect(shared.fileOrShared && !shared.exclusive)
    }

    @Test("--attach specifications and options are checked")
    func specs() throws {
        #expect(try AttachSpec.parse("123") == AttachSpec(pid: 123))
        #expect(
            try AttachSpec.parse("123,name=db,qmp=/run/q.sock") == AttachSpec(pid: 123, name: "db", qmp: "/run/q.sock"))
        for (bad, message) in [
            ("x", "starts with a process id"), ("0", "starts with a process id"), ("5,color=red", "unknown key"),
            ("5,name", "not KEY=VALUE"), ("5,name=a b", "a name has"),
        ] {
            #expect { _ = try AttachSpec.parse(bad) } throws: {
                ($0 as? CaptureError)?.description.contains(message) == true
            }
        }
        func fails(_ o: AttachOptions, _ m: String) -> Bool {
            do { try o.check(); return false } catch { return error.description.contains(m) }
        }
        #expect(fails(AttachOptions(vms: [], duration: 10, interval: 1, output: "x"), "no VMs"))
        #expect(
            fails(
                AttachOptions(vms: [.init(pid: 5), .init(pid: 5)], duration: 10, interval: 1, output: "x"),
                "attached twice"))
        #expect(
            fails(
                AttachOptions(vms: [.init(pid: 5)], duration: 10, interval: 1, output: "x", consistent: true),
                "qmp=SOCKET"))
        #expect(fails(AttachOptions(vms: [.init(pid: 5)], duration: 0.5, interval: 1, output: "x"), "--duration"))
        #expect { _ = try QEMUProcess.inspect(pid: getpid()) } throws: {
            ($0 as? CaptureError)?.description.contains("is not QEMU") == true
        }
    }
}

/// Attaches to a real QEMU: the capture's own TCG VM with the access plugin, read at the same
/// time by the plugin capture and by an attach capture, so the two can be compared on the same
/// guest. Runs only with TRACETOOL_CAPTURE_TESTS=1 (needs scripts/capture-setup.sh's assets).
@Suite(
    "Capture: attach compared with the plugin on the same VM",
    .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_TESTS"] == "1"))
struct AttachSmokeTests {
    @Test(
        "Attach and the plugin agree on content; attach's writes are pages the plugin saw written; the difference is reported"
    )
    func compare() throws {
        let root = CaptureSmokeTests.packageRoot
        let assets = ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_DIR"] ?? root + "/.capture"
        let dir = NSTemporaryDirectory() + "tracetool-attach-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plugin = dir + "/plugin.mtr.zst", attached = dir + "/attach.mtr.zst"
        let opts = CaptureOptions(
            vms: [CaptureVMSpec(name: "g", workload: .mixed, mebibytes: 128, seed: 5)],
            duration: 40, interval: 5, assets: assets, output: plugin, level: 3)
        nonisolated(unsafe) let session = try CaptureSession(options: opts) { _ in }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var pluginError: Error?
        Thread.detachNewThread {
            do { _ = try session.run() } catch { pluginError = error }
            done.signal()
        }
        // Wait for the capture's QEMU, then attach for 30 s while the plugin capture runs.
        var pid: Int32?
        for _ in 0..<100 where pid == nil {
            usleep(100_000)
            pid = QEMUProcess.all().first {
                QEMUProcess.memoryBytes(commandLine: (try? QEMUProcess.inspect(pid: $0))?.commandLine ?? []) == 128
                    << 20
            }
        }
        let p = try #require(pid)
        sleep(2)
        _ = try AttachSession(
            options: AttachOptions(
                vms: [AttachSpec(pid: p, name: "g")], duration: 30, interval: 5, output: attached, level: 3)
        ) { _ in }.run()
        done.wait()
        #expect(pluginError == nil)
        func load(_ path: String) throws -> (hashes: [UInt32: Set<UInt64>], written: Set<UInt32>) {
            var hashes: [UInt32: Set<UInt64>] = [:], written = Set<UInt32>()
            let r = try TraceFile.open(path)
            var batch: [TraceRecord] = []
            while try r.next(into: &batch) {
                for x in batch {
                    switch x.kind {
                    case .content: hashes[x.ppn.rawValue, default: []].insert(x.hash.rawValue)
                    case .zero:
                        for q in x.ppn.rawValue..<(x.ppn.rawValue + x.count) { hashes[q, default: []].insert(0) }
                    case .write: for q in x.ppn.rawValue..<(x.ppn.rawValue + x.count) { written.insert(q) }
                    default: break
                    }
                }
            }
            return (hashes, written)
        }
        let a = try load(attached), t = try load(plugin)
        let both = Set(a.hashes.keys).intersection(t.hashes.keys)
        let agree = both.filter { !a.hashes[$0]!.isDisjoint(with: t.hashes[$0]!) }
        let writesSeen = a.written.filter { t.written.contains($0) }
        let header = try TraceFile.open(attached).header
        print(
            "attach vs plugin on one VM: \(both.count) pages in both, content agrees on \(agree.count) (\(100 * agree.count / max(1, both.count))%); attach wrote \(a.written.count) pages, \(writesSeen.count) of them written in the plugin's trace; the plugin wrote \(t.written.count); soft-dirty: \(header.capture.details?["accesses"]?.contains("soft-dirty bit was set") == true)"
        )
        #expect(both.count > 10_000)
        #expect(Double(agree.count) >= 0.95 * Double(both.count))
        #expect(Double(writesSeen.count) >= 0.95 * Double(a.written.count))
        #expect(header.capture.accesses == "interval-writes" && header.capture.source == "qemu-attach")
    }
}

@Suite("Capture: idle page tracking and QEMU's -name (recorded inputs)")
struct PageIdleTests {
    /// A bitmap file of `words` 64-bit words, as the kernel's /sys/kernel/mm/page_idle/bitmap
    /// reads (little-endian words, bit f % 64 of word f / 64 for frame f).
    private func bitmap(_ words: [UInt64]) throws -> String {
        let path = NSTemporaryDirectory() + "tt-page-idle-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        var bytes: [UInt8] = []
        for w in words { withUnsafeBytes(of: w.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func words(_ path: String) throws -> [UInt64] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        return stride(from: 0, to: d.count, by: 8).map { i in
            d[i..<i + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    @Test("A frame whose idle bit is clear was accessed; frame 0 (hidden) never is; marking sets only the frames' bits")
    func accessedAndMark() throws {
        // Word 0: frames 0–63 all idle but 5; word 1: frame 64 idle, 65 accessed; word 2: all
        // accessed; word 3: all idle but 255.
        let path = try bitmap([~UInt64(1 << 5), 0b01, 0, 0x7fff_ffff_ffff_ffff])
        defer { unlink(path) }
        let b = try PageIdleBitmap(path: path)
        #expect(
            try b.accessed([5, 6, 0, 64, 65, 255, 192, 128]) == [true, false, false, false, true, true, false, true])
        #expect(PageIdleBitmap.words(of: [255, 5, 0, 6, 64, 200]) == [0, 1, 3])
        // A kernel bitmap ORs what is written; a file takes the word as written: each word
        // written is exactly the mask of the frames marked in it, and words not named stay.
        try b.markIdle([65, 5, 0, 255, 64])
        #expect(try words(path) == [1 << 5, 0b11, 0, 1 << 63])
        _ = try b.accessed([128])
    }

    @Test("Frames past the bitmap's end and a host without idle page tracking give one clear line")
    func refusals() throws {
        let path = try bitmap([0])
        defer { unlink(path) }
        let b = try PageIdleBitmap(path: path)
        #expect { _ = try b.accessed([64 * 10]) } throws: { e in
            (e as? CaptureError)?.description.contains("frames 640…703") == true
        }
        #expect { _ = try PageIdleBitmap(path: path + ".missing") } throws: { e in
            (e as? CaptureError)?.description.contains("CONFIG_IDLE_PAGE_TRACKING") == true
        }
    }

    @Test("A pagemap entry's frame number is bits 0-54 of a present page, 0 otherwise")
    func frames() {
        #expect(PagemapEntry(1 << 63 | 1 << 55 | 0x1234).frame == 0x1234)
        #expect(PagemapEntry(1 << 62 | 0x1234).frame == 0)
        #expect(PagemapEntry(1 << 63).frame == 0)
    }

    @Test("The VM's name comes from QEMU's -name (plain, guest=, with ,, escapes), made safe")
    func guestNames() {
        func name(_ args: [String]) -> String? { QEMUProcess.guestName(commandLine: ["qemu-system-x86_64"] + args) }
        #expect(name(["-name", "db1"]) == "db1")
        #expect(name(["-name", "guest=web-2,debug-threads=on"]) == "web-2")
        #expect(name(["-name", "debug-threads=on,guest=x"]) == "x")
        #expect(name(["--name", "a,,b"]) == "a-b")
        #expect(name(["-name", "my vm/1"]) == "my-vm-1")
        #expect(name(["-name", "process=foo"]) == nil)
        #expect(name(["-m", "256"]) == nil)
        #expect(name(["-name"]) == nil)
    }
}
