import Foundation
import Testing
import TraceFormat
@testable import Capture

/// Builds ELF64 core files the way QEMU's dump-guest-memory lays them out: the ELF header, the
/// program headers (a note, then one PT_LOAD per memory range), then the segments' bytes.
struct ElfBuilder {
    struct Load {
        var paddr: UInt64
        var bytes: [UInt8]
        var memBytes: UInt64? = nil
    }
    var loads: [Load]
    var type: UInt16 = 4
    var elfClass: UInt8 = 2

    func build() -> [UInt8] {
        var out = [UInt8]()
        func put(_ v: UInt64, _ n: Int) {
            for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        }
        let phnum = loads.count + 1
        let dataStart = 64 + 56 * phnum + 64  // a 64-byte note after the headers
        // ELF header
        out += [0x7F, 0x45, 0x4C, 0x46, elfClass, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        put(UInt64(type), 2)
        put(62, 2)  // EM_X86_64
        put(1, 4)
        put(0, 8)  // entry
        put(64, 8)  // phoff
        put(0, 8)  // shoff
        put(0, 4)
        put(64, 2)
        put(56, 2)
        put(UInt64(phnum), 2)
        put(64, 2)
        put(0, 2)
        put(0, 2)
        // PT_NOTE
        put(4, 4)
        put(0, 4)
        put(UInt64(64 + 56 * phnum), 8)
        put(0, 8)
        put(0, 8)
        put(64, 8)
        put(64, 8)
        put(0, 8)
        var offset = UInt64(dataStart)
        for l in loads {
            put(1, 4)
            put(7, 4)
            put(offset, 8)
            put(0, 8)
            put(l.paddr, 8)
            put(UInt64(l.bytes.count), 8)
            put(l.memBytes ?? UInt64(l.bytes.count), 8)
            put(0, 8)
            offset += UInt64(l.bytes.count)
        }
        out += [UInt8](repeating: 0, count: 64)
        for l in loads { out += l.bytes }
        return out
    }
}

func page(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 4096) }

/// Pages of distinct but compressible content: `i` repeated.
func pages(_ bytes: [UInt8]) -> [UInt8] { bytes.flatMap { page($0) } }

@Suite("ELF memory dumps (convert --from elf-dump)")
struct ElfDumpTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "tracetool-elf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func records(_ path: String) throws -> [TraceRecord] {
        let r = try TraceFile.open(path)
        var all: [TraceRecord] = [], batch: [TraceRecord] = []
        while try r.next(into: &batch) { all += batch }
        return all
    }

    @Test(
        "Two segments with a hole: writes then content for non-zero pages, zero runs across blocks and segment tails, the hole untouched"
    )
    func layout() throws {
        // Segment A at page 0: pages 1, 2, 0, 0, 1 (bytes). Segment B at page 8: page 3, then a
        // zero tail of 2 pages beyond its file bytes (memsz 3 pages).
        let a = pages([1, 2, 0, 0, 1]), b = pages([3])
        let dump = try write(
            "g1.elf",
            ElfBuilder(loads: [.init(paddr: 8 * 4096, bytes: b, memBytes: 3 * 4096), .init(paddr: 0, bytes: a)]).build()
        )
        let out = dir + "/g1.mtr"
        var imp = ElfDumpImporter()
        imp.blockBytes = 2 * 4096  // blocks of two pages: runs must join across them
        let footer = try imp.importFile(dump, to: out)
        let h = try TraceFile.open(out).header
        #expect(h.vms == [VMDecl(id: 0, name: "g1", pages: 11)])
        #expect(h.capture.source == "elf-dump" && h.capture.accesses == "interval-writes")
        #expect(h.capture.hash?.algorithm == "xxh3-64" && h.capture.compression == "zstd-1")
        #expect(h.capture.details?["segments"] == "2" && h.capture.details?["dumpedBytes"] == String(8 * 4096))
        let rs = try records(out)
        #expect(footer.records == UInt64(rs.count))
        let h1 = GuestMemory.hash(page(1)), h2 = GuestMemory.hash(page(2)), h3 = GuestMemory.hash(page(3))
        let shape = rs.map { r -> String in
            switch r.kind {
            case .write: return "W\(r.ppn.rawValue)+\(r.count)"
            case .zero: return "Z\(r.ppn.rawValue)+\(r.count)"
            case .content:
                let n = [h1: 1, h2: 2, h3: 3][r.hash.rawValue] ?? -1
                return "C\(r.ppn.rawValue)=\(n)"
            default: return "?"
            }
        }
        // Blocks: [0,1] [2,3] [4] | [8] then the tail 9..10.
        #expect(shape == ["W0+2", "C0=1", "C1=2", "W4+1", "Z2+2", "C4=1", "W8+1", "C8=3", "Z9+2"])
        #expect(rs.allSatisfy { $0.time.rawValue == 0 && $0.vm.rawValue == 0 })
        // A page of one repeated byte compresses to a few bytes (zstd level 1).
        #expect(rs.filter { $0.kind == .content }.allSatisfy { $0.compressedSize > 0 && $0.compressedSize < 100 })
    }

    @Test(
        "A dump of duplicates, distinct pages and zeros is a valid trace: one write run, a content record per non-zero page, one zero run"
    )
    func replays() throws {
        // 64 pages: 32 of content 7 (duplicates), 16 distinct, 16 zero.
        var bytes: [UInt8] = []
        for i in 0..<64 {
            bytes += i < 32 ? page(7) : i < 48 ? page(UInt8(i)) : page(0)
        }
        let dump = try write("dup.elf", ElfBuilder(loads: [.init(paddr: 0, bytes: bytes)]).build())
        let out = dir + "/dup.mtr.zst"
        try ElfDumpImporter(name: "dup").importFile(dump, to: out)
        let (header, footer) = try TraceFile.validate(out)
        #expect(header.vms[0].name == "dup")
        #expect(footer.kinds.write == 1 && footer.kinds.content == 48 && footer.kinds.zero == 1)
    }

    @Test("Bad dumps are refused with one line naming the file and what is wrong")
    func hostile() throws {
        let good = ElfBuilder(loads: [.init(paddr: 0, bytes: pages([1, 2]))]).build()
        var cases: [(String, [UInt8], String)] = [
            ("empty", [], "empty file"),
            ("short", Array(good[0..<40]), "the ELF header needs bytes 0..<64"),
            (
                "text", Array("hello, this is not an ELF file at all, just some words that go on".utf8),
                "not an ELF file"
            ),
            ("class32", ElfBuilder(loads: [.init(paddr: 0, bytes: page(1))], elfClass: 1).build(), "only 64-bit"),
            ("exec", ElfBuilder(loads: [.init(paddr: 0, bytes: page(1))], type: 2).build(), "not a core file"),
            ("cut", Array(good[0..<(good.count - 100)]), "truncated: segment 1"),
            (
                "overlap",
                ElfBuilder(loads: [.init(paddr: 0, bytes: pages([1, 2])), .init(paddr: 4096, bytes: page(3))]).build(),
                "segments 1 and 2 overlap at guest-physical 0x1000"
            ),
            (
                "huge", ElfBuilder(loads: [.init(paddr: 1 << 50, bytes: page(1), memBytes: 1 << 40)]).build(),
                "the most a VM can have"
            ),
            ("unaligned", ElfBuilder(loads: [.init(paddr: 100, bytes: page(1))]).build(), "not whole 4096-byte pages"),
            (
                "filesz", ElfBuilder(loads: [.init(paddr: 0, bytes: pages([1, 2]), memBytes: 4096)]).build(),
                "has 8192 bytes in the file but 4096 in memory"
            ),
            ("nomemory", ElfBuilder(loads: []).build(), "no memory segments"),
        ]
        // A program header count past the file's end.
        var many = good
        many[56] = 0xFE
        many[57] = 0xFF
        cases.append(("phnum", many, "65534 program headers at byte 64 end past the file"))
        for (name, bytes, expected) in cases {
            let path = try write(name + ".elf", bytes)
            let out = dir + "/" + name + ".mtr.zst"
            #expect {
                try ElfDumpImporter().importFile(path, to: out)
            } throws: { e in
                let line = "\(e)"
                let ok = line.hasPrefix(path + ":") && line.contains(expected) && !line.contains("\n")
                if !ok { print("\(name): \(line)") }
                return ok
            }
            #expect(!FileManager.default.fileExists(atPath: out), "\(name) left an output")
        }
    }

    @Test("A huge zero tail costs one record, not a loop over its pages")
    func zeroTail() throws {
        // 1 page in the file, 2^31 pages (8 TiB) in memory.
        let dump = try write(
            "tail.elf", ElfBuilder(loads: [.init(paddr: 0, bytes: page(5), memBytes: UInt64(1) << 43)]).build())
        let out = dir + "/tail.mtr"
        let footer = try ElfDumpImporter().importFile(dump, to: out)
        #expect(footer.records == 3)
        let rs = try records(out)
        #expect(rs.last?.kind == .zero && rs.last?.count == UInt32((1 << 31) - 1))
    }
}

/// A dump of a running TCG guest taken over QMP: booted with the capture's assets, stopped,
/// dumped with `dump-guest-memory` (no paging), then converted; every page of the trace must
/// hash as the guest's RAM does (read from QEMU's memory-backend file while the guest is
/// stopped). Runs only with TRACETOOL_CAPTURE_TESTS=1.
@Suite(
    "ELF dump of a real TCG guest over QMP",
    .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_TESTS"] == "1"))
struct ElfDumpLiveTests {
    @Test("dump-guest-memory of a booted guest converts to the guest's pages, hash for hash")
    func liveDump() throws {
        let root = CaptureSmokeTests.packageRoot
        let assets = ProcessInfo.processInfo.environment["TRACETOOL_CAPTURE_DIR"] ?? root + "/.capture"
        let dir = NSTemporaryDirectory() + "tracetool-dump-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ram = dir + "/ram", qmp = dir + "/qmp.sock", dump = dir + "/guest.elf", out = dir + "/guest.mtr.zst"
        let mib = 96
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        q.arguments = [
            "-nodefaults", "-nographic", "-no-reboot", "-no-user-config", "-accel", "tcg", "-M",
            "pc,memory-backend=ram0",
            "-cpu", "qemu64", "-smp", "1", "-m", "\(mib)M",
            "-object", "memory-backend-file,id=ram0,size=\(mib)M,mem-path=\(ram),share=on",
            "-kernel", assets + "/vmlinuz", "-initrd", assets + "/initramfs.cpio.gz",
            "-append", "console=ttyS0 quiet panic=-1 tt.workload=sort tt.seed=3",
            "-serial", "file:\(dir)/console", "-qmp", "unix:\(qmp),server=on,wait=off",
        ]
        try q.run()
        defer {
            if q.isRunning { q.terminate() }
            q.waitUntilExit()
        }
        // Let it boot and run its workload for a while.
        var booted = false
        for _ in 0..<600 where !booted {
            usleep(100_000)
            booted = (try? String(contentsOfFile: dir + "/console", encoding: .utf8))?.contains("tt: booted") == true
        }
        try #require(booted)
        sleep(5)
        let client = try QMPClient(path: qmp, timeoutMillis: 120_000)
        try client.execute("stop")
        try client.execute("dump-guest-memory", arguments: ["paging": false, "protocol": "file:" + dump])
        let footer = try ElfDumpImporter(name: "tcg").importFile(dump, to: out)
        // The guest's RAM as QEMU holds it, while it is stopped.
        let ramBytes = try Data(contentsOf: URL(fileURLWithPath: ram))
        var expected = [UInt64](repeating: 0, count: ramBytes.count / 4096)
        ramBytes.withUnsafeBytes { raw in
            for p in expected.indices { expected[p] = GuestMemory.hash(raw.baseAddress! + p * 4096) }
        }
        try client.execute("quit")
        let header = try TraceFile.open(out).header
        var seen = [UInt64?](repeating: nil, count: Int(header.vms[0].pages))
        let r = try TraceFile.open(out)
        var batch: [TraceRecord] = []
        while try r.next(into: &batch) {
            for x in batch {
                switch x.kind {
                case .content: seen[Int(x.ppn.rawValue)] = x.hash.rawValue
                case .zero: for p in x.ppn.rawValue..<(x.ppn.rawValue + x.count) { seen[Int(p)] = 0 }
                default: break
                }
            }
        }
        // pc: RAM below 4 GiB is guest-physical 0..<size, one backend file offset for offset.
        let covered = seen.indices.filter { seen[$0] != nil && $0 < expected.count }
        let agree = covered.filter { seen[$0] == expected[$0] }
        let nonZero = covered.filter { expected[$0] != 0 }.count
        print(
            "dump of a \(mib) MiB TCG guest: \(footer.records) records, \(header.capture.details?["segments"] ?? "?") segments, \(covered.count) pages covered, \(agree.count) agree, \(nonZero) non-zero"
        )
        #expect(covered.count >= expected.count * 9 / 10)
        #expect(agree.count == covered.count)
        #expect(nonZero > 5_000)
    }
}
