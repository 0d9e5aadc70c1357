import Foundation
import Testing
@testable import Analyzer
import TraceFormat

/// A binary trace on standard input (`-`): read once, front to back, with the same results as
/// the file; `gen … -` writes one to stdout for a pipe.
@Suite("Traces on stdin and stdout")
struct StdinTests {
    static func sh(_ script: String, in dir: String) throws -> CLI.Result { try CLI.shell(script, in: dir) }

    static let gen = "mix --vms 3 --pages 2048 --records 300000 --duration 2m --seed 5"

    @Test("gen … - | replay - gives the file's report; gen's stdout is the file's bytes")
    func pipe() throws {
        let s = Scratch()
        let file = try Self.sh(
            "$TT gen \(Self.gen) t.mtr.zst >/dev/null && $TT replay t.mtr.zst --settle 10m", in: s.path)
        #expect(file.status == 0, "\(file.stderr)")
        let piped = try Self.sh("set -e; $TT gen \(Self.gen) - | $TT replay - --settle 10m", in: s.path)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stderr == "stdout: 300000 records\n")
        #expect(piped.stdout.contains("trace     stdin\n"))
        #expect(
            CLI.unstamped(piped.stdout).replacingOccurrences(of: "trace     stdin", with: "trace     t.mtr.zst")
                == CLI.unstamped(file.stdout))
        let same = try Self.sh("$TT gen \(Self.gen) - | cmp - t.mtr.zst", in: s.path)
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        // stats, compare, info and validate read stdin too.
        for (cmd, check) in [
            ("stats", "oracle sharing bound"), ("compare --policy esx --policy no-sharing", "no-sharing"),
            ("info", "records"), ("validate", "stdin: valid, 300000 records"),
        ] {
            let a = try Self.sh("$TT \(cmd) - < t.mtr.zst", in: s.path)
            let b = try Self.sh("$TT \(cmd) t.mtr.zst", in: s.path)
            #expect(a.status == 0 && a.stdout.contains(check), "\(cmd): \(a.stderr)")
            #expect(
                CLI.unstamped(a.stdout).replacingOccurrences(of: "stdin", with: "t.mtr.zst") == CLI.unstamped(b.stdout),
                "\(cmd)")
        }
    }

    @Test("VMs that start powered off are found on stdin too (held records handed out in order)")
    func startsOff() throws {
        let s = Scratch()
        // VM 1's first record is an ON at 20 s; VM 0 runs from time 0.
        var text = "vm,0,a,512\nvm,1,b,512\n"
        for i in 0..<4000 { text += "\(i * 5_000),0,\(i % 3 == 0 ? "W" : "R"),\(i % 512)\n" }
        text += "20000000,1,ON\n"
        for i in 0..<2000 { text += "\(20_000_000 + i * 10_000),\(i % 2),W,\(i % 512)\n" }
        try text.write(toFile: s.file("t.txt"), atomically: true, encoding: .utf8)
        let r = try Self.sh(
            "set -e; $TT convert t.txt t.mtr.zst >/dev/null; $TT replay t.mtr.zst --settle 5m > a; $TT replay - --settle 5m < t.mtr.zst > b",
            in: s.path)
        #expect(r.status == 0, "\(r.stderr)")
        let a = try String(contentsOfFile: s.file("a"), encoding: .utf8)
        let b = try String(contentsOfFile: s.file("b"), encoding: .utf8)
        #expect(a.contains("power-on") || a.contains("powered"), "\(a)")
        #expect(CLI.unstamped(b).replacingOccurrences(of: "stdin", with: "t.mtr.zst") == CLI.unstamped(a))
    }

    @Test("stdin errors: a text trace, nothing, a cut stream, a second read; gen fleet and merge refuse -")
    func errors() throws {
        let s = Scratch()
        _ = try Self.sh("$TT gen \(Self.gen) t.mtr.zst; $TT convert t.mtr.zst t.txt", in: s.path)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: s.file("t.mtr.zst"))[.size] as? Int)
        let cases: [(String, Int32, String)] = [
            ("$TT replay - < t.txt", CLI.failure, "stdin: a text trace is read twice"),
            ("$TT replay - < /dev/null", CLI.failure, "stdin: empty file"),
            ("head -c 4096 /dev/urandom | $TT replay -", CLI.failure, "stdin: byte 0: not a tracetool trace"),
            ("head -c \(size / 2) t.mtr.zst | $TT replay -", CLI.failure, "stdin"),
            ("$TT stats - < t.txt", CLI.failure, "stdin: a text trace"),
            ("$TT replay - --html h.html < t.mtr.zst", CLI.usage, "--html"),
            ("$TT compare - --html h.html < t.mtr.zst", CLI.usage, "--html"),
            ("$TT plan - --slowdown 5% < t.mtr.zst", CLI.usage, "cannot take it from stdin"),
            ("$TT merge - t.mtr.zst -o m.mtr.zst < t.mtr.zst", CLI.usage, "cannot take it from stdin"),
            ("$TT fingerprint - < t.mtr.zst", CLI.usage, "cannot take it from stdin"),
            ("$TT gen fleet - --template t.mtr.zst", CLI.usage, "not stdout"),
        ]
        for (script, status, message) in cases {
            let r = try Self.sh(script, in: s.path)
            #expect(
                r.status == status && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                "\(script): \(r.status) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: s.file("h.html")))
    }

    @Test("The lookahead for VMs' first records is bounded: a VM that never shows is named")
    func lookaheadLimit() throws {
        let s = Scratch()
        var text = "vm,0,a,64\nvm,1,quiet,64\n"
        for i in 0..<50_000 { text += "\(i),0,R,\(i % 64)\n" }
        try text.write(toFile: s.file("t.txt"), atomically: true, encoding: .utf8)
        let reader = try TraceFile.open(s.file("t.txt"))
        #expect(throws: TraceError.self) { _ = try LookaheadReader(reader, limit: 20_000) }
        do { _ = try LookaheadReader(try TraceFile.open(s.file("t.txt")), limit: 20_000) } catch {
            #expect(error.description.contains("VM 1 (quiet) has no record in the first"), "\(error)")
        }
        // Within the limit the stream ends first: every record comes back, in order.
        let whole = try LookaheadReader(try TraceFile.open(s.file("t.txt")), limit: 1_000_000)
        var batch: [TraceRecord] = []
        var n = 0
        var last: UInt64 = 0
        while try whole.next(into: &batch) {
            for r in batch {
                #expect(r.time.rawValue == UInt64(n) && r.time.rawValue >= last)
                last = r.time.rawValue
                n += 1
            }
        }
        #expect(n == 50_000)
        #expect(whole.startsOff.isEmpty)
    }
}
