import Foundation
import Testing
import Scenarios
@testable import TraceFormat

@Suite("Round trips (docs/FORMAT.md)")
struct RoundTripTests {
    @Test(
        "Random record sequences survive binary → records, text → records, and binary → text → binary",
        arguments: 0..<12)
    func randomRoundTrip(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let header = randomHeader(&rng)
        let records = randomRecords(&rng, header: header, count: 1 + Int(rng.below(3000)))
        let dir = TempDir()
        // Small chunks and frames so that chunk resets and frame boundaries are exercised.
        try write(
            records, header: header, to: dir.file("a.mtr.zst"), chunkBytes: 64 + Int(rng.below(4000)),
            frameBytes: 1 + Int(rng.below(20000)))
        #expect(try readAll(dir.file("a.mtr.zst")) == records)
        let (h, footer) = try TraceFile.validate(dir.file("a.mtr.zst"))
        #expect(h == header)
        #expect(footer.records == UInt64(records.count))

        try write(records, header: header, to: dir.file("a.mtr.txt"))
        #expect(try readAll(dir.file("a.mtr.txt")) == records)
        #expect(try TraceFile.open(dir.file("a.mtr.txt")).header.vms == header.vms)

        // text → binary → text is the identity on canonical text.
        try TraceSinks.copy(from: TraceFile.open(dir.file("a.mtr.txt")), to: dir.file("b.mtr.zst"))
        try TraceSinks.copy(from: TraceFile.open(dir.file("b.mtr.zst")), to: dir.file("b.mtr.txt"))
        let t1 = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.mtr.txt")))
        let t2 = try Data(contentsOf: URL(fileURLWithPath: dir.file("b.mtr.txt")))
        #expect(t1 == t2)
    }

    @Test("Canonical text is printed exactly as FORMAT.md shows it")
    func canonicalText() throws {
        let text = """
            hash,blake2b-64
            vm,0,web,100
            vm,7,db,50,8192
            0,0,ON
            5,0,R,3
            5,0,W,4,10
            6,7,RV,1,2,4096
            6,7,WV,2,3,18446744073709551615
            7,0,C,9,00000000deadbeef
            7,0,Z,10,3
            8,0,FREE,11
            9,7,OFF

            """
        let dir = TempDir()
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("in.txt")))
        try TraceSinks.copy(from: TraceFile.open(dir.file("in.txt")), to: dir.file("x.mtr.zst"))
        try TraceSinks.copy(from: TraceFile.open(dir.file("x.mtr.zst")), to: dir.file("out.txt"))
        #expect(try String(contentsOfFile: dir.file("out.txt"), encoding: .utf8) == text)
        let recs = try readAll(dir.file("x.mtr.zst"))
        #expect(recs.count == 9)
        #expect(recs[2] == TraceRecord(time: Micros(5), vm: VMID(0), kind: .write, ppn: PPN(4), count: 10))
        #expect(recs[4].vpn == VPN(UInt64.max) && recs[4].asid == ASID(3))
        #expect(recs[5].hash == ContentHash(0xdeadbeef))
    }

    @Test("Non-canonical text (comments, CRLF, default counts, uppercase hex) reads the same and prints canonically")
    func nonCanonical() throws {
        let text = "# a comment\r\nvm,1,a,10,4096\r\n\r\n0,1,R,2,1\r\n1,1,C,3,00000000DEADBEEF\r\n"
        let dir = TempDir()
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("in.csv")))
        try TraceSinks.copy(from: TraceFile.open(dir.file("in.csv")), to: dir.file("out.txt"))
        #expect(
            try String(contentsOfFile: dir.file("out.txt"), encoding: .utf8)
                == "vm,1,a,10\n0,1,R,2\n1,1,C,3,00000000deadbeef\n")
    }

    @Test("zstd-compressed text is read like plain text")
    func compressedText() throws {
        let dir = TempDir()
        var rng = SeededRandom(seed: 99)
        let header = randomHeader(&rng)
        let records = randomRecords(&rng, header: header, count: 500)
        try write(records, header: header, to: dir.file("a.txt"))
        #expect(try zstd(["-q", "-f", dir.file("a.txt"), "-o", dir.file("a.txt.zst")]) == 0)
        #expect(try readAll(dir.file("a.txt.zst")) == records)
    }

    @Test(
        "The binary file is a multi-frame zstd stream with checksums and a seek table; info reads the footer through it"
    )
    func framesAndSeekTable() throws {
        let dir = TempDir()
        var rng = SeededRandom(seed: 5)
        let header = randomHeader(&rng)
        let records = randomRecords(&rng, header: header, count: 20000)
        try write(records, header: header, to: dir.file("a.mtr.zst"), chunkBytes: 4096, frameBytes: 16384)
        #expect(try zstd(["-tq", dir.file("a.mtr.zst")]) == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.mtr.zst")))
        let tail = Array(data.suffix(9))
        let frames = tail.withUnsafeBytes { loadLE32($0.baseAddress!) }
        #expect(tail.withUnsafeBytes { loadLE32($0.baseAddress! + 5) } == BinaryLayout.seekableMagic)
        #expect(frames > 3)
        let summary = try TraceFile.summary(dir.file("a.mtr.zst"))
        #expect(summary.usedSeekTable)
        #expect(summary.footer.records == 20000)
        #expect(summary.footer == (try TraceFile.validate(dir.file("a.mtr.zst"))).footer)
    }

    @Test("Varint and zigzag encodings")
    func varints() {
        var out: [UInt8] = []
        Varint.append(300, to: &out)
        #expect(out == [0xAC, 0x02])
        out = []
        Varint.append(UInt64.max, to: &out)
        #expect(out.count == 10 && out.last == 1)
        #expect(Varint.zigzag(0) == 0 && Varint.zigzag(-1) == 1 && Varint.zigzag(1) == 2 && Varint.zigzag(-2) == 3)
        for v: Int64 in [0, 1, -1, .max, .min, 123456789, -987654321] {
            #expect(Varint.unzigzag(Varint.zigzag(v)) == v)
        }
    }

    @Test("The same generator options and seed give a byte-identical file")
    func generatorDeterminism() throws {
        let dir = TempDir()
        var o = GenOptions()
        o.records = 5000
        o.seed = 7
        try ScenarioRegistry.write(MixScenario.self, options: o, to: dir.file("a.mtr.zst"))
        try ScenarioRegistry.write(MixScenario.self, options: o, to: dir.file("b.mtr.zst"))
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir.file("a.mtr.zst")))
                == Data(contentsOf: URL(fileURLWithPath: dir.file("b.mtr.zst"))))
        o.seed = 8
        try ScenarioRegistry.write(MixScenario.self, options: o, to: dir.file("c.mtr.zst"))
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir.file("a.mtr.zst")))
                != Data(contentsOf: URL(fileURLWithPath: dir.file("c.mtr.zst"))))
        for sc in ScenarioRegistry.all {
            try ScenarioRegistry.write(sc, options: o, to: dir.file("\(sc.name).mtr.zst"))
            try TraceFile.validate(dir.file("\(sc.name).mtr.zst"))
        }
    }

    @Test(
        "Frames compressed on the writer's own thread: many small frames in flight give the same bytes every time, and a seek table whose entries are the frames"
    )
    func framesInFlight() throws {
        var rng = SeededRandom(seed: 99)
        let header = randomHeader(&rng)
        let records = randomRecords(&rng, header: header, count: 20_000)
        let dir = TempDir()
        for name in ["a.mtr.zst", "b.mtr.zst"] {
            try write(records, header: header, to: dir.file(name), chunkBytes: 256, frameBytes: 1024)
        }
        let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.mtr.zst")))
        #expect(a == (try Data(contentsOf: URL(fileURLWithPath: dir.file("b.mtr.zst")))))
        #expect(try readAll(dir.file("a.mtr.zst")) == records)
        // The footer is found through the seek table only if every entry's compressed size
        // adds up to where the table starts, the last being the footer's frame.
        let footer = try SeekTable.readFooter(path: dir.file("a.mtr.zst"))
        #expect(footer?.records == UInt64(records.count))
        #expect((footer?.chunks ?? 0) > 100)
    }

    @Test("A failed write leaves an existing destination untouched and no temporary file behind")
    func atomicWrite() throws {
        let dir = TempDir()
        try Data("precious".utf8).write(to: URL(fileURLWithPath: dir.file("out.mtr.zst")))
        let h = TraceHeader(vms: [VMDecl(id: 0, name: "a", pages: 10)], capture: CaptureFacts(source: "test"))
        let w = try BinaryTraceWriter(path: dir.file("out.mtr.zst"), header: h)
        try w.append(TraceRecord(time: .zero, vm: VMID(0), kind: .read, ppn: PPN(1)))
        let e = traceError { try w.append(TraceRecord(time: .zero, vm: VMID(0), kind: .read, ppn: PPN(10))) }
        #expect(e?.problem == .ppnOutOfRange(vm: 0, ppn: 10, count: 1, pages: 10))
        w.abandon()
        #expect(try String(contentsOfFile: dir.file("out.mtr.zst"), encoding: .utf8) == "precious")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.mtr.zst"])
    }
}
