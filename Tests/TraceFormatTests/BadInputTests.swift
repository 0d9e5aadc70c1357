import Foundation
import Testing
@testable import TraceFormat

/// The bad-input matrix: each defect gives a specific TraceError, never a crash, a hang or an
/// allocation proportional to what the file claims.
@Suite("Bad input")
struct BadInputTests {
    func validate(_ path: String) -> TraceError? { traceError { try TraceFile.validate(path) } }

    func sampleBinary(
        _ dir: TempDir, records: Int = 3000, chunkBytes: Int = 2048, frameBytes: Int = 8192
    ) throws -> String {
        var rng = SeededRandom(seed: 11)
        let header = randomHeader(&rng)
        try write(
            randomRecords(&rng, header: header, count: records), header: header, to: dir.file("s.mtr.zst"),
            chunkBytes: chunkBytes, frameBytes: frameBytes)
        return dir.file("s.mtr.zst")
    }

    @Test("Truncated at any point: every prefix of a binary trace is rejected with an error")
    func truncatedEverywhere() throws {
        let dir = TempDir()
        let path = try sampleBinary(dir, records: 400, chunkBytes: 256, frameBytes: 1024)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Every cut up to the last frame's end; the seek table (last bytes) is optional for readers.
        let cuts = Array(0..<data.count).filter { $0 < 64 || $0 % 7 == 0 || $0 > data.count - 40 }
        var wrongs: [Int] = []
        for cut in cuts {
            try Data(data.prefix(cut)).write(to: URL(fileURLWithPath: dir.file("cut.mtr.zst")))
            let e = validate(dir.file("cut.mtr.zst"))
            if e == nil {
                // Only cuts inside the trailing seek table may still decode (it is skippable metadata).
                let tableBytes = 8 + Int(data.suffix(9).withUnsafeBytes { loadLE32($0.baseAddress!) }) * 8 + 9
                if cut < data.count - tableBytes { wrongs.append(cut) }
            }
        }
        #expect(wrongs.isEmpty, "cuts that decoded without error: \(wrongs.prefix(10))")
    }

    @Test("Truncated raw (uncompressed) streams name what was cut")
    func truncatedRaw() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x00, 0x10, 0x02, 0x10, 0x02], records: 2)
        s.footer(
            #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":2,"virtualAccesses":0,"write":0,"zero":0},"records":2,"vms":[{"id":0,"pages":2,"records":2}],"firstTime":0,"lastTime":0}"#
        )
        try s.write(to: dir.file("ok.bin"))
        #expect(validate(dir.file("ok.bin")) == nil)
        for cut in 1..<s.bytes.count {
            try Data(s.bytes.prefix(cut)).write(to: URL(fileURLWithPath: dir.file("cut.bin")))
            let e = validate(dir.file("cut.bin"))
            #expect(e != nil, "cut at \(cut) decoded")
            if let e, cut > 16 + RawStream.oneVM.utf8.count {
                if case .truncated = e.problem {} else { Issue.record("cut at \(cut): \(e)") }
            }
        }
    }

    @Test("Bad magic")
    func badMagic() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.bytes[1] = 0x58
        try s.write(to: dir.file("m.bin"))
        let e = validate(dir.file("m.bin"))
        guard case .badMagic = e?.problem else { Issue.record("\(String(describing: e))"); return }
        try Data([0x00, 0x01, 0x02, 0x03, 0x04]).write(to: URL(fileURLWithPath: dir.file("junk.bin")))
        guard case .badMagic = validate(dir.file("junk.bin"))?.problem else { Issue.record("junk accepted"); return }
        #expect(e!.description.contains("m.bin"))
    }

    @Test("A newer format version")
    func newerVersion() throws {
        let dir = TempDir()
        try RawStream.header(json: RawStream.oneVM, version: 9).write(to: dir.file("v.bin"))
        #expect(
            validate(dir.file("v.bin"))?.problem
                == .unsupportedVersion(found: 9, highestSupported: TraceFormatVersion.current))
    }

    @Test(
        "Compressed sizes: op 0x25 needs format version 2; a size of 0 or over the page size is refused, in binary and text"
    )
    func compressedSizes() throws {
        let dir = TempDir()
        let foot =
            #"{"chunks":1,"kinds":{"content":1,"free":0,"powerOff":0,"powerOn":0,"read":0,"virtualAccesses":0,"write":0,"zero":0},"records":1,"vms":[{"id":0,"pages":1,"records":1}],"firstTime":0,"lastTime":0}"#
        func stream(version: UInt16, size: UInt8...) -> RawStream {
            var s = RawStream.header(json: RawStream.oneVM, version: version)
            // VM 0, contentSized at PPN 5: delta 10 (zigzag), hash 8 bytes, size varint.
            s.chunk([0x02, 0x00, 0x25, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8] + size, records: 1)
            s.footer(foot)
            return s
        }
        try stream(version: 2, size: 0xE8, 0x07).write(to: dir.file("ok.bin"))  // 1000 bytes
        #expect(validate(dir.file("ok.bin")) == nil)
        #expect(try readAll(dir.file("ok.bin")).map(\.compressedSize) == [1000])
        try stream(version: 1, size: 0xE8, 0x07).write(to: dir.file("v1.bin"))
        #expect(validate(dir.file("v1.bin"))?.problem == .unknownOpcode(0x25))
        try stream(version: 2, size: 0x00).write(to: dir.file("zero.bin"))
        #expect(validate(dir.file("zero.bin"))?.description.contains("compressed size 0 bytes") == true)
        try stream(version: 2, size: 0x81, 0x20).write(to: dir.file("big.bin"))  // 4097 bytes
        #expect(
            validate(dir.file("big.bin"))?.description.contains("compressed size 4097 bytes is not in 1…4096") == true)
        for (name, field) in [("t0.txt", "0"), ("t1.txt", "4097"), ("t2.txt", "x")] {
            try "vm,0,a,100\n0,0,C,5,0102030405060708,\(field)\n".write(
                toFile: dir.file(name), atomically: true, encoding: .utf8)
            #expect(validate(dir.file(name))?.description.contains("compressed size") == true, "\(name)")
        }
        try "vm,0,a,100\ncompression,zstd-1\n0,0,C,5,0102030405060708,4096\n".write(
            toFile: dir.file("t3.txt"), atomically: true, encoding: .utf8)
        #expect(validate(dir.file("t3.txt")) == nil)
        #expect(try readAll(dir.file("t3.txt")).map(\.compressedSize) == [4096])
        #expect(try TraceFile.open(dir.file("t3.txt")).header.capture.compression == "zstd-1")
        for (name, text, message) in [
            ("c1.txt", "vm,0,a,100\ncompression,a\ncompression,b\n", "a second compression line"),
            ("c2.txt", "vm,0,a,100\n0,0,R,1\ncompression,a\n", "the compression line must come before every record"),
            ("c3.txt", "vm,0,a,100\ncompression\n", "expected compression,<algorithm name>"),
        ] {
            try text.write(toFile: dir.file(name), atomically: true, encoding: .utf8)
            #expect(
                validate(dir.file(name))?.description.contains(message) == true,
                "\(name): \(String(describing: validate(dir.file(name))))")
        }
    }

    @Test("Flipped bytes anywhere in a compressed trace are caught", arguments: [3, 17, 101, 1009, 4001])
    func flippedBytes(step: Int) throws {
        let dir = TempDir()
        let path = try sampleBinary(dir)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        var caught = 0
        var tried = 0
        var i = 4
        let tableStart = data.count - (8 + Int(data.suffix(9).withUnsafeBytes { loadLE32($0.baseAddress!) }) * 8 + 9)
        while i < tableStart {
            data[i] ^= 0x20
            try data.write(to: URL(fileURLWithPath: dir.file("f.mtr.zst")))
            data[i] ^= 0x20
            tried += 1
            if validate(dir.file("f.mtr.zst")) != nil { caught += 1 }
            i += step * 13
        }
        #expect(caught == tried, "\(tried - caught) of \(tried) flips went unnoticed")
    }

    @Test("An empty file, and an empty zstd stream")
    func empty() throws {
        let dir = TempDir()
        try Data().write(to: URL(fileURLWithPath: dir.file("e.mtr.zst")))
        #expect(validate(dir.file("e.mtr.zst"))?.problem == .emptyFile)
        // An empty zstd frame: magic, frame header for 0 bytes, empty last block.
        try Data([0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x00, 0x01, 0x00, 0x00]).write(
            to: URL(fileURLWithPath: dir.file("z.mtr.zst")))
        #expect(validate(dir.file("z.mtr.zst"))?.problem == .emptyFile)
    }

    @Test("Records for undeclared VMs, binary and text")
    func undeclaredVM() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x05, 0x10, 0x00], records: 1)
        try s.write(to: dir.file("u.bin"))
        let e = validate(dir.file("u.bin"))
        #expect(e?.problem == .undeclaredVM(5))
        #expect(e?.record == 0)
        try Data("vm,0,a,10\n0,0,R,1\n1,3,R,1\n".utf8).write(to: URL(fileURLWithPath: dir.file("u.txt")))
        let t = validate(dir.file("u.txt"))
        #expect(t?.problem == .undeclaredVM(3))
        #expect(t?.line == 3 && t?.record == 1)
        // Declared only after its records.
        try Data("0,0,R,1\nvm,0,a,10\n".utf8).write(to: URL(fileURLWithPath: dir.file("late.txt")))
        #expect(validate(dir.file("late.txt"))?.problem == .undeclaredVM(0))
    }

    @Test("PPN out of range, binary and text, including a run crossing the end")
    func ppnOutOfRange() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x00, 0x10, 0x00, 0x12, Varint.zigzag(60 - 1).asByte, 41], records: 2)
        try s.write(to: dir.file("p.bin"))
        let e = validate(dir.file("p.bin"))
        #expect(e?.problem == .ppnOutOfRange(vm: 0, ppn: 60, count: 41, pages: 100))
        #expect(e?.record == 1)
        #expect(e?.offset == UInt64(16 + RawStream.oneVM.utf8.count + 20 + 4))
        try Data("vm,0,a,10\n0,0,W,10\n".utf8).write(to: URL(fileURLWithPath: dir.file("p.txt")))
        #expect(validate(dir.file("p.txt"))?.problem == .ppnOutOfRange(vm: 0, ppn: 10, count: 1, pages: 10))
    }

    @Test("Time going backwards: text lines and binary chunk base times")
    func timeBackwards() throws {
        let dir = TempDir()
        try Data("vm,0,a,10\n5,0,R,1\n4,0,R,1\n".utf8).write(to: URL(fileURLWithPath: dir.file("t.txt")))
        #expect(validate(dir.file("t.txt"))?.problem == .timeBackwards(previous: 5, found: 4))
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x00, 0x01, 0x0A, 0x10, 0x00], records: 1, base: 0)
        s.chunk([0x02, 0x00, 0x10, 0x00], records: 1, base: 3)
        try s.write(to: dir.file("t.bin"))
        #expect(validate(dir.file("t.bin"))?.problem == .timeBackwards(previous: 10, found: 3))
    }

    @Test("Over-long varints")
    func overlongVarint() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x00, 0x01] + Array(repeating: 0xFF, count: 11) + [0x01, 0x10, 0x00], records: 1)
        try s.write(to: dir.file("o.bin"))
        #expect(validate(dir.file("o.bin"))?.problem == .overlongVarint)
        var s2 = RawStream.header(json: RawStream.oneVM)
        s2.chunk([0x02, 0x00, 0x01] + Array(repeating: 0xFF, count: 9) + [0x02, 0x10, 0x00], records: 1)
        try s2.write(to: dir.file("o2.bin"))
        #expect(validate(dir.file("o2.bin"))?.problem == .overlongVarint)
    }

    @Test("Invalid header JSON, and JSON of the wrong shape")
    func invalidHeader() throws {
        let dir = TempDir()
        try RawStream.header(json: "{not json").write(to: dir.file("h.bin"))
        guard case .invalidHeader(let m) = validate(dir.file("h.bin"))?.problem else {
            Issue.record("accepted"); return
        }
        #expect(m.contains("JSON"))
        try RawStream.header(json: #"{"pageSize":4096}"#).write(to: dir.file("h2.bin"))
        guard case .invalidHeader(let m2) = validate(dir.file("h2.bin"))?.problem else {
            Issue.record("accepted"); return
        }
        #expect(m2.contains("missing key"))
    }

    @Test("A header claiming 2^40 pages, or a 4 GiB header, is refused without allocating it")
    func hugeClaims() throws {
        let dir = TempDir()
        let json = RawStream.oneVM.replacingOccurrences(of: #""pages":100"#, with: #""pages":1099511627776"#)
        try RawStream.header(json: json).write(to: dir.file("big.bin"))
        guard case .invalidHeader(let m) = validate(dir.file("big.bin"))?.problem else {
            Issue.record("accepted"); return
        }
        #expect(m.contains("1099511627776"))
        try Data("vm,0,a,1099511627776\n".utf8).write(to: URL(fileURLWithPath: dir.file("big.txt")))
        guard case .limitExceeded = validate(dir.file("big.txt"))?.problem else { Issue.record("accepted"); return }
        var s = RawStream.header(json: "")
        s.bytes.replaceSubrange(12..<16, with: [0xFF, 0xFF, 0xFF, 0xFF])
        try s.write(to: dir.file("hdr.bin"))
        guard case .limitExceeded = validate(dir.file("hdr.bin"))?.problem else { Issue.record("accepted"); return }
        var c = RawStream.header(json: RawStream.oneVM)
        c.chunk([], records: 0)
        c.bytes.replaceSubrange((c.bytes.count - 16)..<(c.bytes.count - 12), with: [0xFF, 0xFF, 0xFF, 0x7F])
        try c.write(to: dir.file("chunk.bin"))
        guard case .limitExceeded = validate(dir.file("chunk.bin"))?.problem else { Issue.record("accepted"); return }
    }

    @Test("Chunk record counts, unknown opcodes, footer totals and trailing garbage are checked")
    func framing() throws {
        let dir = TempDir()
        var s = RawStream.header(json: RawStream.oneVM)
        s.chunk([0x02, 0x00, 0x10, 0x00, 0x10, 0x00], records: 1)
        try s.write(to: dir.file("c.bin"))
        guard case .chunkMismatch = validate(dir.file("c.bin"))?.problem else { Issue.record("accepted"); return }
        var u = RawStream.header(json: RawStream.oneVM)
        u.chunk([0x02, 0x00, 0x77, 0x00], records: 1)
        try u.write(to: dir.file("op.bin"))
        #expect(validate(dir.file("op.bin"))?.problem == .unknownOpcode(0x77))
        // An extension record is skipped.
        var x = RawStream.header(json: RawStream.oneVM)
        x.chunk([0x3F, 0x09, 0x03, 0xAA, 0xBB, 0xCC, 0x02, 0x00, 0x10, 0x00], records: 1)
        x.footer(
            #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":1,"virtualAccesses":0,"write":0,"zero":0},"records":1,"vms":[{"id":0,"pages":1,"records":1}],"firstTime":0,"lastTime":0}"#
        )
        try x.write(to: dir.file("x.bin"))
        #expect(validate(dir.file("x.bin")) == nil)
        var wrongFooter = x
        wrongFooter.bytes = Array(
            String(decoding: x.bytes, as: Unicode.ASCII.self).replacingOccurrences(
                of: #""records":1,"vms""#, with: #""records":2,"vms""#
            ).utf8)
        // Rebuild properly: replace only the footer.
        var f = RawStream.header(json: RawStream.oneVM)
        f.chunk([0x02, 0x00, 0x10, 0x00], records: 1)
        f.footer(
            #"{"chunks":1,"kinds":{"content":0,"free":0,"powerOff":0,"powerOn":0,"read":1,"virtualAccesses":0,"write":0,"zero":0},"records":2,"vms":[{"id":0,"pages":1,"records":1}],"firstTime":0,"lastTime":0}"#
        )
        try f.write(to: dir.file("f.bin"))
        guard case .footerMismatch = validate(dir.file("f.bin"))?.problem else { Issue.record("accepted"); return }
        var g = x
        g.bytes += [0x00, 0x01]
        try g.write(to: dir.file("g.bin"))
        guard case .malformed = validate(dir.file("g.bin"))?.problem else { Issue.record("accepted"); return }
        _ = wrongFooter
    }

    @Test("Malformed text lines each name their line")
    func malformedText() throws {
        let dir = TempDir()
        let cases: [(String, String)] = [
            ("vm,0,a,10\n0,0,X,1\n", "unknown record type"),
            ("vm,0,a,10\n0,0,C,1,abc\n", "bad hash"),
            ("vm,0,a,10\nx,0,R,1\n", "bad time"),
            ("vm,0,a,10\n0,0,R,1,0\n", "bad count"),
            ("vm,0,a,10\n0,0,R\n", "expected"),
            ("vm,0,a\n", "expected vm"),
            ("vm,0,a,10\nvm,0,b,10\n", "declared twice"),
            ("vm,0,a,10\n0,0,R,1\nhash,x\n", "before every record"),
            ("vm,0,a,10\n0,0,ON,1\n", "expected"),
            ("vm,0,a,10\n99999999999999999999999,0,R,1\n", "bad time"),
            ("vm,0,a,10\n0,0,R,1" + String(repeating: " ", count: 5000) + "\n", "line longer"),
        ]
        for (text, needle) in cases {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("m.txt")))
            let e = validate(dir.file("m.txt"))
            #expect(e != nil, "accepted: \(text.prefix(40))")
            #expect(e?.description.contains(needle) == true, "\(String(describing: e)) lacks \(needle)")
            #expect(e?.line != nil)
        }
    }
}

extension UInt64 {
    var asByte: UInt8 { UInt8(self) }
}
