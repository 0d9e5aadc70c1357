import Foundation
import Scenarios
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

    @Test(
        "A content record with hash 0 is accepted (read as a zero page); leading zeros and a last line without LF are read"
    )
    func acceptedText() throws {
        let dir = TempDir()
        try "vm,0,a,16\n0,0,C,0,0000000000000000\n00,00,R,007\n5,0,W,1".write(
            toFile: dir.file("t.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("t.txt")) == nil)
        let r = try TraceFile.open(dir.file("t.txt"))
        var batch: [TraceRecord] = [], all: [TraceRecord] = []
        while try r.next(into: &batch) { all += batch }
        #expect(all.map(\.ppn.rawValue) == [0, 7, 1] && all.last?.time.rawValue == 5 && all.first?.hash.rawValue == 0)
    }

    @Test("VM names: invalid UTF-8 and empty names are refused, in text and in binary; min is at most the VM's pages")
    func names() throws {
        let dir = TempDir()
        try Data("vm,0,a\u{1}".utf8.dropLast() + [0xFF, 0xFE] + Array(",16\n0,0,R,0\n".utf8)).write(
            to: URL(fileURLWithPath: dir.file("utf.txt")))
        #expect(validate(dir.file("utf.txt"))?.description.contains("VM 0 name is not valid UTF-8") == true)
        try "vm,0,,16\n0,0,R,0\n".write(toFile: dir.file("empty.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("empty.txt"))?.description.contains("VM 0 has an empty name") == true)
        var b = RawStream.header(json: RawStream.oneVM.replacingOccurrences(of: #""name":"a""#, with: #""name":"""#))
        b.footer(RawStream.emptyFooter)
        try b.write(to: dir.file("empty.bin"))
        #expect(validate(dir.file("empty.bin"))?.description.contains("VM 0 has an empty name") == true)
        try "vm,0,a,16,min=17\n".write(toFile: dir.file("min.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("min.txt"))?.description.contains("at most the VM's 16") == true)
        var m = RawStream.header(
            json: RawStream.oneVM.replacingOccurrences(of: #""pages":100"#, with: #""pages":100,"minPages":101"#))
        m.footer(RawStream.emptyFooter)
        try m.write(to: dir.file("min.bin"))
        #expect(validate(dir.file("min.bin"))?.description.contains("VM 0 min 101 pages exceeds its 100 pages") == true)
    }

    @Test("Header values: an unknown accesses mode is refused, any compression name accepted, a negative count named")
    func headerValues() throws {
        let dir = TempDir()
        func header(_ json: String, _ name: String) throws -> TraceError? {
            var h = RawStream.header(json: json)
            h.footer(RawStream.emptyFooter)
            try h.write(to: dir.file(name))
            return validate(dir.file(name))
        }
        let modes = try header(
            RawStream.oneVM.replacingOccurrences(of: #""accesses":"exact""#, with: #""accesses":"sometimes""#), "a.bin")
        #expect(
            modes?.description.contains(#"capture.accesses "sometimes" is not one of exact, interval, interval-writes"#)
                == true)
        #expect(
            try header(
                RawStream.oneVM.replacingOccurrences(
                    of: #""accesses":"exact""#, with: #""accesses":"exact","compression":"lz4-9""#), "c.bin") == nil)
        let negative = try header(
            RawStream.oneVM.replacingOccurrences(of: #""pages":100"#, with: #""pages":100,"shares":-5"#), "n.bin")
        #expect(
            negative?.description.contains("vms[0].shares: -5 is not an unsigned integer") == true,
            "\(String(describing: negative))")
    }

    @Test(
        "Canonical text keeps the compression line and min/shares; text → binary copies the compression name and sets 64 hash bits"
    )
    func canonicalText() throws {
        let dir = TempDir()
        let text = "hash,blake2b-64\ncompression,zstd-1\nvm,0,a,16,min=4,shares=7\n0,0,C,1,00000000000000ab,100\n"
        try text.write(toFile: dir.file("in.txt"), atomically: true, encoding: .utf8)
        _ = try TraceSinks.copy(from: try TraceFile.open(dir.file("in.txt")), to: dir.file("t.mtr.zst"))
        let h = try TraceFile.open(dir.file("t.mtr.zst")).header
        #expect(
            h.capture.compression == "zstd-1" && h.capture.hash == CaptureFacts.Hash(algorithm: "blake2b-64", bits: 64))
        _ = try TraceSinks.copy(from: try TraceFile.open(dir.file("t.mtr.zst")), to: dir.file("out.txt"))
        #expect(try String(contentsOfFile: dir.file("out.txt"), encoding: .utf8) == text)
    }

    /// A footer for one VM of `oneVM` with `n` reads (one chunk), and the given span.
    static func readsFooter(_ n: Int, span: String?) -> String {
        #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":\#(n),"virtualAccesses":0,"write":0,"zero":0},"records":\#(n),"vms":[{"id":0,"pages":\#(n),"records":\#(n)}]\#(span.map { "," + $0 } ?? "")}"#
    }

    @Test("An unknown opcode is named as such; the footer's time span is present exactly when there are records")
    func opcodesAndSpan() throws {
        let dir = TempDir()
        // One read, then 0x77 where the chunk announced one record.
        var u = RawStream.header(json: RawStream.oneVM)
        u.chunk([0x02, 0x00, 0x10, 0x00, 0x77], records: 1)
        u.footer(SpecTests.readsFooter(1, span: #""firstTime":0,"lastTime":0"#))
        try u.write(to: dir.file("u.bin"))
        #expect(validate(dir.file("u.bin"))?.description.contains("unknown record opcode 0x77") == true)
        var n = RawStream.header(json: RawStream.oneVM)
        n.chunk([0x02, 0x00, 0x10, 0x00], records: 1)
        n.footer(SpecTests.readsFooter(1, span: nil))
        try n.write(to: dir.file("n.bin"))
        #expect(
            validate(dir.file("n.bin"))?.description.contains(
                "time span (firstTime…lastTime): footer says none, body has 0…0") == true)
        var e = RawStream.header(json: RawStream.oneVM)
        e.footer(
            RawStream.emptyFooter.replacingOccurrences(
                of: #""records":0,"vms""#, with: #""records":0,"firstTime":0,"lastTime":0,"vms""#))
        try e.write(to: dir.file("e.bin"))
        #expect(
            validate(dir.file("e.bin"))?.description.contains("footer says 0…0, body has none (no event records)")
                == true)
    }

    @Test("A chunk length that overstates its payload is named as such when it runs into the footer")
    func overstatedLength() throws {
        let dir = TempDir()
        var o = RawStream.header(json: RawStream.oneVM)
        o.chunk([0x02, 0x00, 0x10, 0x00], records: 1)
        // Say 8 bytes where there are 4: the chunk swallows the footer's "FOOT".
        let lengthAt = o.bytes.count - 4 - 20 + 4
        o.bytes[lengthAt] = 8
        o.footer(SpecTests.readsFooter(1, span: #""firstTime":0,"lastTime":0"#))
        try o.write(to: dir.file("o.bin"))
        let e = validate(dir.file("o.bin"))
        #expect(
            e?.description.contains("the chunk's length (8 bytes) runs into the footer: its records end 4 bytes in")
                == true, "\(String(describing: e))")
    }

    @Test("A chunk's baseTime may not fall below the previous chunk's final time, a trailing time advance included")
    func trailingAdvance() throws {
        let dir = TempDir()
        var t = RawStream.header(json: RawStream.oneVM)
        t.chunk([0x02, 0x00, 0x10, 0x00, 0x01, 100], records: 1, base: 0)
        t.chunk([0x02, 0x00, 0x10, 0x00], records: 1, base: 50)
        t.footer(
            SpecTests.readsFooter(2, span: #""firstTime":0,"lastTime":50"#).replacingOccurrences(
                of: #""chunks":1"#, with: #""chunks":2"#))
        try t.write(to: dir.file("t.bin"))
        #expect(validate(dir.file("t.bin"))?.description.contains("time goes backwards (50 after 100)") == true)
    }

    @Test(
        "Readers take frames without checksums and skippable frames anywhere; a hash wider than the header's bits is taken as given"
    )
    func frames() throws {
        let dir = TempDir()
        var w = RawStream.header(
            json: RawStream.oneVM.replacingOccurrences(
                of: #""accesses":"exact""#, with: #""accesses":"exact","hash":{"algorithm":"x","bits":8}"#))
        w.chunk([0x02, 0x00, 0x20, 0x00, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0], records: 1)
        w.footer(
            SpecTests.readsFooter(1, span: #""firstTime":0,"lastTime":0"#).replacingOccurrences(
                of: #""content":0"#, with: #""content":1"#
            ).replacingOccurrences(of: #""read":1"#, with: #""read":0"#))
        try w.write(to: dir.file("w.bin"))
        #expect(validate(dir.file("w.bin")) == nil)
        // The same raw stream in a zstd frame without a checksum, between two skippable frames.
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("w.bin")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        p.arguments = ["-q", "-f", "--no-check", dir.file("w.bin"), "-o", dir.file("w.zst")]
        try p.run()
        p.waitUntilExit()
        let skip = Data([0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4])
        try (skip + Data(contentsOf: URL(fileURLWithPath: dir.file("w.zst"))) + skip).write(
            to: URL(fileURLWithPath: dir.file("f.mtr.zst")))
        #expect(raw.count > 0 && validate(dir.file("f.mtr.zst")) == nil)
    }

    @Test("Synthetic compressed sizes: f + (u mod (P − f + 1)), u the top half of hash × 0x9E3779B97F4A7C15")
    func syntheticSizes() {
        // Hash 1: u = 2,654,435,769, 64 + u mod 4,033 = 3,959. Hash 2: u = 1,013,904,242 → 4,073.
        #expect(SyntheticCompression.size(hash: 1, pageSize: 4096) == 3959)
        #expect(SyntheticCompression.size(hash: 2, pageSize: 4096) == 4073)
        #expect(SyntheticCompression.size(hash: 7, pageSize: 32) == 32)
    }
}
