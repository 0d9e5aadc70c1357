import Foundation
import Testing
@testable import TraceFormat

/// The answers docs/FORMAT.md gives where the format could be read two ways.
@Suite("The format spec's closed questions")
struct SpecTests {
    func validate(_ path: String) -> TraceError? { traceError { try TraceFile.validate(path) } }

    @Test("A run is at most 2^32 − 1 pages, in binary as in text, even in a VM of 2^32 pages")
    func runLimit() throws {
        let dir = TempDir()
        let json =
            #"{"capture":{"accesses":"exact","source":"test","timeUnit":"us","tool":"t","toolVersion":"1"},"pageSize":4096,"vms":[{"id":0,"name":"a","pages":4294967296}]}"#
        var s = RawStream.header(json: json)
        // VM select 0, read run: delta 0, count 2^32 (varint 80 80 80 80 10).
        s.chunk([0x02, 0x00, 0x12, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10], records: 1)
        try s.write(to: dir.file("run.bin"))
        let e = validate(dir.file("run.bin"))
        #expect(e?.description.contains("a run is at most 2^32 − 1 pages") == true, "\(String(describing: e))")
        try "vm,0,a,4294967296\n0,0,R,0,4294967296\n".write(
            toFile: dir.file("run.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("run.txt")) != nil)
        try "vm,0,a,4294967296\n0,0,R,0,4294967295\n0,0,R,4294967295\n".write(
            toFile: dir.file("ok.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("ok.txt")) == nil)
    }

    @Test("A footer's per-VM disagreement names the VM and the total")
    func footerMessage() throws {
        let dir = TempDir()
        var f = RawStream.header(json: RawStream.oneVM)
        f.chunk([0x02, 0x00, 0x12, 0x00, 0x03], records: 1)
        f.footer(
            #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":1,"virtualAccesses":0,"write":0,"zero":0},"records":1,"vms":[{"id":0,"pages":1,"records":1}],"firstTime":0,"lastTime":0}"#
        )
        try f.write(to: dir.file("f.bin"))
        let e = validate(dir.file("f.bin"))
        #expect(e?.description.contains("VM 0 pages: footer says 1, body has 3") == true, "\(String(describing: e))")
    }

    @Test(
        "Text lines: CR counts toward the 4,096 bytes; whitespace-only lines are skipped; vm lines carry page size, min and shares"
    )
    func textLines() throws {
        let dir = TempDir()
        let long = "0,0,R,1" + String(repeating: " ", count: 0)
        let pad = String(repeating: "#", count: 4096)  // + CR = 4,097 bytes before the LF
        try ("vm,0,a,10\n" + pad + "\r\n" + long + "\n").write(
            toFile: dir.file("cr.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("cr.txt"))?.description.contains("line longer than 4096 bytes") == true)
        try
            ("vm,0,a,10\n" + String(repeating: "#", count: 4095) + "\r\n" + String(repeating: "#", count: 4096)
            + "\n   \t \n" + long + "\n").write(toFile: dir.file("ok.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("ok.txt")) == nil)
        try "vm,0,a,10,8192,min=4,shares=700\nvm,1,b,20,min=2\nvm,2,c,30,shares=5\n".write(
            toFile: dir.file("vm.txt"), atomically: true, encoding: .utf8)
        let h = try TraceFile.open(dir.file("vm.txt")).header
        #expect(
            h.vms == [
                VMDecl(id: 0, name: "a", pages: 10, pageSize: 8192, minPages: 4, shares: 700),
                VMDecl(id: 1, name: "b", pages: 20, minPages: 2), VMDecl(id: 2, name: "c", pages: 30, shares: 5),
            ])
        for bad in [
            "vm,0,a,10,shares=5,min=2", "vm,0,a,10,min=11", "vm,0,a,10,min=2,8192", "vm,0,a,10,cpu=2",
            "vm,0,a,10,min=x",
        ] {
            try (bad + "\n").write(toFile: dir.file("bad.txt"), atomically: true, encoding: .utf8)
            #expect(validate(dir.file("bad.txt")) != nil, "\(bad)")
        }
    }

    @Test("Text and binary carry the same VM facts: min, shares and page size survive binary → text → binary")
    func roundTripFacts() throws {
        let dir = TempDir()
        for pageSize: UInt32 in [4096, 8192] {
            let header = TraceHeader(
                pageSize: pageSize,
                vms: [
                    VMDecl(id: 3, name: "x", pages: 64, minPages: 16, shares: 900),
                    VMDecl(id: 9, name: "y", pages: 32),
                ],
                capture: CaptureFacts(source: "test", hash: .init(algorithm: "xxh3-64"), accesses: "exact"))
            let records = [TraceRecord(time: Micros(5), vm: VMID(3), kind: .read, ppn: PPN(1), count: 3)]
            try write(records, header: header, to: dir.file("a.mtr.zst"))
            try TraceSinks.copy(from: try TraceFile.open(dir.file("a.mtr.zst")), to: dir.file("a.mtr.txt"))
            try TraceSinks.copy(from: try TraceFile.open(dir.file("a.mtr.txt")), to: dir.file("b.mtr.zst"))
            let back = try TraceFile.open(dir.file("b.mtr.zst")).header
            #expect(back.pageSize == pageSize && back.vms == header.vms, "\(back)")
            #expect(try readAll(dir.file("b.mtr.zst")) == records)
        }
    }

    /// A seekable trace whose chunk claims a base time of 2^63 µs while its footer (read through
    /// the seek table) ends at 0: the reader refuses the chunk before handing out its records,
    /// so a replay never simulates toward that time.
    @Test("A chunk that disagrees with the stored footer is refused at the chunk, not at the end")
    func chunkAgainstStoredFooter() throws {
        let dir = TempDir()
        var body = RawStream.header(json: RawStream.oneVM)
        body.chunk([0x02, 0x00, 0x10, 0x00], records: 1, base: 1 << 63)
        var foot = RawStream()
        foot.footer(
            #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":1,"virtualAccesses":0,"write":0,"zero":0},"records":1,"vms":[{"id":0,"pages":1,"records":1}],"firstTime":0,"lastTime":0}"#
        )
        try body.write(to: dir.file("b.raw"))
        try foot.write(to: dir.file("f.raw"))
        #expect(try zstd(["-q", "--check", dir.file("b.raw"), "-o", dir.file("b.zst")]) == 0)
        #expect(try zstd(["-q", "--check", dir.file("f.raw"), "-o", dir.file("f.zst")]) == 0)
        let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("b.zst"))),
            f = try Data(contentsOf: URL(fileURLWithPath: dir.file("f.zst")))
        var seek: [UInt8] = []
        appendLE32(0x184D_2A5E, &seek)
        appendLE32(2 * 8 + 9, &seek)
        appendLE32(UInt32(b.count), &seek); appendLE32(UInt32(body.bytes.count), &seek)
        appendLE32(UInt32(f.count), &seek); appendLE32(UInt32(foot.bytes.count), &seek)
        appendLE32(2, &seek)
        seek.append(0)
        appendLE32(0x8F92_EAB1, &seek)
        try (b + f + Data(seek)).write(to: URL(fileURLWithPath: dir.file("t.mtr.zst")))
        #expect(try TraceFile.storedFooter(dir.file("t.mtr.zst"))?.lastTime == 0)
        let reader = try TraceFile.open(dir.file("t.mtr.zst"))
        var batch: [TraceRecord] = []
        let e = traceError { _ = try reader.next(into: &batch) }
        #expect(
            e?.description.contains("a chunk starts at 9223372036854775808 µs, after the footer's last time 0 µs")
                == true, "\(String(describing: e))")
    }
}
