import Foundation
import Testing

/// A few hostile bytes or numbers cannot trap the tool or make it plan more memory or disk
/// than there is: each case ends with one line on stderr and an exit status in 1…127.
@Suite("Limits: knobs, options and declared sizes are checked before any work")
struct LimitTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    func expectOneLine(_ args: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(args)
        #expect(r.status >= 1 && r.status < 128, "\(args): status \(r.status)", sourceLocation: sourceLocation)
        #expect(
            r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(message), "\(args): \(r.stderr)",
            sourceLocation: sourceLocation)
    }

    @Test("Knobs and numeric options out of range name their range")
    func ranges() throws {
        for (set, message) in [
            ("shareScanVM=1e300", "shareScanVM: must be in [0, 1000000000] pages/s"),
            ("shareScanTotal=-1", "shareScanTotal: must be in"),
            ("overhead=1e300", "overhead: must be in [0, 1048576] MiB"),
            ("sharesPerMiB=1e300", "sharesPerMiB: must be in"), ("balloonRate=1e300", "balloonRate: must be in"),
            ("samplePeriod=1us", "samplePeriod: must be in [1, 10000000] s"),
            ("balancePeriod=1us", "balancePeriod: must be in"),
            ("sampleSize=0", "sampleSize: must be in"), ("idleTax=nan", "idleTax"),
            ("hashBits=65", "hashBits: must be in [1, 64]"),
        ] {
            try expectOneLine(["replay", Self.sample, "--set", set, "--quiet"], message)
        }
        try expectOneLine(["replay", Self.sample, "--overcommit", "1e-20", "--quiet"], "outside 1…536870912 pages")
        try expectOneLine(
            ["replay", Self.sample, "--timeline", "/nonexistent/t.csv", "--timeline-interval", "1us"], "shorter than 1s"
        )
        let s = Scratch()
        try Data(#"{"shareScanVM": 1e300}"#.utf8).write(to: URL(fileURLWithPath: s.file("p.json")))
        try expectOneLine(
            ["replay", Self.sample, "--policy", s.file("p.json"), "--quiet"],
            s.file("p.json") + ": shareScanVM: must be in")
    }

    @Test("Declared sizes beyond --max-memory are refused before allocating, naming the option")
    func memory() throws {
        let s = Scratch()
        let big = s.file("big.mtr.txt")
        try "hash,xxh3-64\nvm,0,big,4294967295\n0,0,R,5\n".write(toFile: big, atomically: true, encoding: .utf8)
        try expectOneLine(
            ["stats", big, "--max-memory", "1GiB"], "needs about 56.0 GiB, more than --max-memory 1.0 GiB")
        try expectOneLine(["replay", big, "--max-memory", "1GiB", "--quiet"], "outside 1…536870912 pages")
        let mid = s.file("mid.mtr.txt")
        try "hash,xxh3-64\nvm,0,big,268435456\n0,0,R,5\n".write(toFile: mid, atomically: true, encoding: .utf8)
        try expectOneLine(
            ["replay", mid, "--max-memory", "1GiB", "--quiet"],
            "268435456 guest pages (about 48 bytes each) needs about 12.0 GiB, more than --max-memory 1.0 GiB")
        try expectOneLine(
            ["compare", Self.sample, "--policy", "esx", "--policy", "ksm", "--max-memory", "1MiB", "--quiet"],
            "replaying 2 policies at once")
        // A trace spanning 2^64 µs with a small interval asks for more rows than there is memory.
        let far = s.file("far.mtr.txt")
        try "hash,xxh3-64\nvm,0,a,16\n0,0,R,5\n18446744073709551000,0,R,5\n".write(
            toFile: far, atomically: true, encoding: .utf8)
        // Intervals without records are counted, not listed: a 2^64 µs span costs two rows (the
        // first interval, (0, 1 µs], and the last record's; 2^64 − 1,618 empty ones between).
        let r = try CLI.run(["stats", far, "--interval", "1us", "--format", "json"])
        #expect(r.status == 0 && r.stdout.contains("\"emptyIntervalsBefore\" : 18446744073709550998"), "\(r.stderr)")
        // The rows that hold records are priced against the budget as they come.
        try expectOneLine(["stats", Self.sample, "--interval", "1us", "--max-memory", "1MiB"], "intervals of 1us")
    }

    @Test("Under a small RLIMIT_AS the default budget comes from the limit: the refusal names it")
    func addressSpaceLimit() throws {
        let s = Scratch()
        let big = s.file("big.mtr.txt")
        try "vm,0,big,134217728\n0,0,R,0\n".write(toFile: big, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "-q", "--host-memory", "1GiB", big], addressSpaceKiB: 2_097_152)
        #expect(r.status == CLI.failure, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(
            r.stderr.contains("needs about 6.0 GiB, more than")
                && r.stderr.contains("RLIMIT_AS leaves (ulimit -v: 2.0 GiB")
                && r.stderr.contains("raise ulimit -v"), "\(r.stderr)")
        // Stats over 268,435,456 declared pages is refused the same way; a one-record trace
        // stamped three years in lists two rows and counts 9,460,798 empty intervals.
        let many = s.file("many.mtr.txt")
        try ("hash,xxh3-64\n" + (0..<65_536).map { "vm,\($0),v\($0),4096\n" }.joined() + "0,0,R,5\n")
            .write(toFile: many, atomically: true, encoding: .utf8)
        let st = try CLI.run(["stats", many], addressSpaceKiB: 2_097_152)
        #expect(st.status == CLI.failure && st.stderr.contains("RLIMIT_AS"), "\(st.stderr)")
        let late = s.file("late.mtr.txt")
        try "vm,0,a,16\n94608000000000,0,R,0\n".write(toFile: late, atomically: true, encoding: .utf8)
        let lr = try CLI.run(["stats", late], addressSpaceKiB: 2_097_152)
        #expect(lr.status == 0 && lr.stdout.contains("9460800 intervals of 10 s"), "\(lr.stderr)")
    }

    @Test(
        "A span too long to keep exact names the option that makes it: --settle after the last record, --until before")
    func longSpans() throws {
        try expectOneLine(["replay", Self.sample, "--settle", "1000000h", "--quiet"], "use a shorter --settle")
        let s = Scratch()
        let far = s.file("far.mtr.txt")
        try "hash,xxh3-64\nvm,0,a,16\n0,0,R,5\n18446744073709551615,0,R,5\n".write(
            toFile: far, atomically: true, encoding: .utf8)
        try expectOneLine(
            ["replay", far, "--quiet"], "use --until to stop before the next record, at 18446744073709551615 µs")
        #expect(try CLI.run(["replay", far, "--until", "1h", "--quiet"]).status == 0)
    }

    @Test("Exit status: 64 for a wrong command line, 1 for a run that failed")
    func exitStatus() throws {
        for args in [
            ["replay", Self.sample, "--bogus"], ["replay", Self.sample, "--host-memory", "-1"],
            ["replay", Self.sample, "--set", "idleTax=2"], ["replay", Self.sample, "--vm", "9:min=1MiB"],
            ["replay", Self.sample, "-o", Self.sample], ["compare", Self.sample, "--policy", "nope"],
        ] {
            let r = try CLI.run(args)
            #expect(
                r.status == CLI.usage && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.status) \(r.stderr)")
        }
        let s = Scratch()
        try Data("vm,0,a,4\n9,0,R,0\n1,0,R,0\n".utf8).write(to: URL(fileURLWithPath: s.file("back.txt")))
        for args in [["replay", s.file("missing.mtr.zst")], ["replay", s.file("back.txt"), "--quiet"]] {
            let r = try CLI.run(args)
            #expect(
                r.status == CLI.failure && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.status) \(r.stderr)")
        }
    }

    @Test("Inputs whose numbers overflow a clock or fill the disk are refused")
    func overflowAndDisk() throws {
        let s = Scratch()
        let lackey = s.file("l.out")
        try "==1== x\n L  04000010,8\n S  05000000,4\n".write(toFile: lackey, atomically: true, encoding: .utf8)
        try expectOneLine(
            [
                "convert", lackey, s.file("l.mtr.zst"), "--from", "lackey", "--micros-per-access",
                "18446744073709551615",
            ],
            "overflow the 64-bit clock")
        try expectOneLine(
            ["gen", "mix", s.file("g.mtr.zst"), "--records", "18446744073709551615"], "ask for fewer --records")
        #expect(!FileManager.default.fileExists(atPath: s.file("g.mtr.zst")))
    }

    @Test("gen fig8, binary → text → binary → text, replays to the binary's report")
    func fig8RoundTrip() throws {
        let s = Scratch()
        #expect(try CLI.run(["gen", "fig8", s.file("f.mtr.zst"), "--pages", "4096", "--duration", "5m"]).status == 0)
        for (a, b) in [("f.mtr.zst", "f.mtr.txt"), ("f.mtr.txt", "g.mtr.zst"), ("g.mtr.zst", "g.mtr.txt")] {
            #expect(try CLI.run(["convert", s.file(a), s.file(b)]).status == 0)
        }
        #expect(
            try String(contentsOfFile: s.file("f.mtr.txt"), encoding: .utf8)
                == String(contentsOfFile: s.file("g.mtr.txt"), encoding: .utf8))
        func report(_ f: String) throws -> String {
            let r = try CLI.run(["replay", s.file(f), "--overcommit", "1.6", "--format", "json", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout.replacingOccurrences(of: f, with: "TRACE")
        }
        #expect(try report("f.mtr.zst") == report("g.mtr.txt"))
    }

    @Test(
        "reproduce: bad options exit 64; with no bundled traces the generated experiments run, the rest is reported as not run, and -o says where it wrote"
    )
    func reproduce() throws {
        let s = Scratch()
        for bad in [["--jobs", "0"], ["--traces", s.file("none")], ["--format", "pdf"]] {
            let r = try CLI.run(["reproduce", "--quick"] + bad)
            #expect(r.status == 64 && r.stderr.split(separator: "\n").count == 1, "\(bad): \(r.stderr)")
        }
        // A bundled trace the run reads is never an output, however spelled.
        let traces = CLI.packageRoot + "/traces"
        for out in [traces + "/capture-4vm.mtr.zst", traces + "/../traces/qemu4vm.mtr.zst"] {
            let before = FileManager.default.contents(atPath: out)
            let r = try CLI.run(["reproduce", "--quick", "--traces", traces, "-o", out])
            #expect(r.status == 64 && r.stderr.contains("it is an input of this command"), "\(out): \(r.stderr)")
            #expect(FileManager.default.contents(atPath: out) == before)
        }
        try FileManager.default.createDirectory(atPath: s.file("empty"), withIntermediateDirectories: true)
        #expect(try CLI.run(["reproduce", "--quick", "--traces", s.file("empty"), "-o", s.file("empty")]).status == 64)
        // A reproduction killed before its cleanup left its folder; the next one removes it.
        let abandoned = NSTemporaryDirectory() + "tracetool-reproduce-99999999-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: abandoned, withIntermediateDirectories: true)
        let r = try CLI.run(["reproduce", "--quick", "--quiet", "--traces", s.file("empty"), "-o", s.file("r.html")])
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("not run: \(s.file("empty"))/capture-identical5.mtr.zst not found"))
        #expect(r.stderr.contains("reproduce: wrote the HTML report to \(s.file("r.html"))"))
        let html = try String(contentsOfFile: s.file("r.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!doctype html>") && html.contains("Not run: ") && html.contains("fig7-alloc"))
    }
}
