import Foundation
import Testing
@testable import TraceFormat

@Suite("valgrind lackey import")
struct LackeyTests {
    @Test("Lines map to pages in order of first use; loads read, stores and modifies write; spans name both pages")
    func handMade() throws {
        let text = """
            ==123== Lackey, an example Valgrind tool
            I  04000000,3
             L 7ff000398,8
             S 04000ff0,8
             M 04001ffc,8
            some program output, ignored
            I  7ff000000,2
            ==123== Counted 1 call to main()

            """
        let dir = TempDir()
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("l.out")))
        let f = try LackeyImporter().importFile(dir.file("l.out"), to: dir.file("l.mtr.zst"))
        let recs = try readAll(dir.file("l.mtr.zst"))
        func rv(_ t: UInt64, _ k: RecordKind, _ ppn: UInt32, _ vpn: UInt64) -> TraceRecord {
            TraceRecord(time: Micros(t), vm: VMID(0), kind: k, ppn: PPN(ppn), virtual: (ASID(0), VPN(vpn)))
        }
        #expect(
            recs == [
                rv(0, .read, 0, 0x4000),
                rv(1, .read, 1, 0x7ff000),
                rv(2, .write, 0, 0x4000),
                rv(3, .write, 2, 0x4001), rv(3, .write, 3, 0x4002),
                rv(4, .read, 1, 0x7ff000),
            ])
        #expect(f.records == 6)
        let h = try TraceFile.open(dir.file("l.mtr.zst")).header
        #expect(h.vms == [VMDecl(id: 0, name: "process", pages: 4)])
        #expect(h.capture.source == "valgrind-lackey")
    }

    @Test("A file without lackey lines is refused")
    func empty() throws {
        let dir = TempDir()
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: dir.file("l.out")))
        #expect(traceError { try LackeyImporter().importFile(dir.file("l.out"), to: dir.file("x.mtr.zst")) } != nil)
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.mtr.zst")))
    }

    @Test(
        "A real valgrind --tool=lackey run imports and validates",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind")))
    func realValgrind() throws {
        let dir = TempDir()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/valgrind")
        p.arguments = ["--tool=lackey", "--trace-mem=yes", "--log-file=" + dir.file("lackey.out"), "/bin/true"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run(); p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let f = try LackeyImporter().importFile(dir.file("lackey.out"), to: dir.file("true.mtr.zst"))
        #expect(f.records > 10_000)
        let (h, v) = try TraceFile.validate(dir.file("true.mtr.zst"))
        #expect(v == f)
        #expect(h.vms[0].pages > 10)
        #expect(f.kinds.write > 0 && f.kinds.read > f.kinds.write)
    }

    @Test(
        "Times up to 2^64 − 1 µs import; beyond, one error (found by the fuzzer: the clock wrapped after the last access)"
    )
    func clockLimits() throws {
        let dir = TempDir()
        try Data(" L 7ff000398,8\n S 04000ff0,8\n".utf8).write(to: URL(fileURLWithPath: dir.file("l.out")))
        var imp = LackeyImporter()
        imp.microsPerAccess = 1 << 63
        _ = try imp.importFile(dir.file("l.out"), to: dir.file("a.mtr.zst"))
        #expect(try readAll(dir.file("a.mtr.zst")).map(\.time.rawValue) == [0, 1 << 63])
        try Data(" L 7ff000398,8\n S 04000ff0,8\n L 1000,4\n".utf8).write(to: URL(fileURLWithPath: dir.file("m.out")))
        let e = traceError { _ = try imp.importFile(dir.file("m.out"), to: dir.file("b.mtr.zst")) }
        #expect(e?.description.contains("overflow the 64-bit clock") == true)
    }
}
