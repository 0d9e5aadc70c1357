import Foundation
import Testing

/// One data shape (docs/REPORT.md, "Units"): every output read back with Python's json and csv
/// modules (Tests/check_units.py), units by suffix, per-seed rows, every key and column
/// documented; slowdown over the traced span whatever the settle; durations with units.
@Suite("Report shapes and units")
struct ReportShapeTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"
    static let capture = CLI.packageRoot + "/traces/capture-4vm-sized.mtr.zst"

    /// Runs Tests/check_units.py; returns its output and exit status.
    static func checkUnits(_ args: [String]) throws -> (Int32, String) {
        try CLI.python(
            [CLI.packageRoot + "/Tests/check_units.py", "--doc", CLI.packageRoot + "/docs/REPORT.md"] + args)
    }

    @Test(
        "JSON and CSV of replay, compare, plan, stats, fingerprint, place and the timelines: units by suffix, whole bytes, per-seed rows, every key and column in docs/REPORT.md (Python's json and csv)"
    )
    func unitsBySuffix() throws {
        let s = Scratch()
        let runs: [[String]] = [
            // Every optional section: DAMON, free page reporting, large pages, compression, vSphere 6 states.
            [
                "replay", Self.capture, "--overcommit", "2", "--policy", "esx-modern", "--set", "estimator=damon",
                "--set", "freePageReporting=on",
                "--until", "60s", "--format", "json", "-o", s.file("r1.json"), "--timeline", s.file("t.csv"),
            ],
            ["replay", Self.sample, "--overcommit", "1.5", "--format", "json", "-o", s.file("r2.json")],
            [
                "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--sweep", "idleTax=0,0.75",
                "--overcommit", "1.5",
                "--seeds", "3", "--until", "20s", "--format", "csv", "-o", s.file("c.csv"), "--timeline",
                s.file("ct.csv"),
            ],
            [
                "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--overcommit", "1.5", "--seeds",
                "3", "--until", "20s",
                "--format", "csv-summary", "-o", s.file("cs.csv"),
            ],
            [
                "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--overcommit", "1.5", "--seeds",
                "2", "--until", "20s",
                "--format", "json", "-o", s.file("c.json"),
            ],
            [
                "plan", Self.sample, "--policy", "esx", "--policy", "swap-only", "--seeds", "2", "--until", "30s",
                "--format", "json", "-o", s.file("p.json"),
            ],
            ["plan", Self.sample, "--seeds", "2", "--until", "30s", "--format", "csv", "-o", s.file("p.csv")],
            ["stats", Self.sample, "--format", "json", "-o", s.file("s.json")],
            ["fingerprint", Self.sample, "--format", "json", "--report", s.file("f.json")],
            ["place", Self.sample, "--host-memory", "64MiB", "--format", "json", "-o", s.file("place")],
        ]
        for a in runs {
            let r = try CLI.run(a + ["--quiet"].filter { _ in a[0] != "stats" && a[0] != "fingerprint" })
            #expect(r.status == 0, "\(a.joined(separator: " ")): \(r.stderr)")
        }
        let (status, out) = try Self.checkUnits([
            "--json", s.file("r1.json"), s.file("r2.json"), s.file("c.json"), s.file("p.json"), s.file("s.json"),
            s.file("f.json"), s.file("place/report.json"),
            "--csv", s.file("c.csv"), s.file("cs.csv"), s.file("ct.csv"), s.file("t.csv"), s.file("p.csv"),
            "--swept", "idle_tax", "--seeds-csv", s.file("c.csv"), "3", "--seeds-csv", s.file("ct.csv"), "3",
        ])
        #expect(status == 0 && out == "ok\n", "\(out)")
        // The checker itself fails on what it must refuse: a unitless quantity, fractional
        // bytes, a key in microseconds, a column docs/REPORT.md lacks, a missing seed.
        try Data(#"{"freeAtEnd": 3, "tableBytes": 1.5, "timeMicros": 2}"#.utf8).write(
            to: URL(fileURLWithPath: s.file("bad.json")))
        let (badStatus, badOut) = try Self.checkUnits([
            "--json", s.file("bad.json"), "--seeds-csv", s.file("c.csv"), "4",
        ])
        #expect(badStatus == 1)
        for what in [
            "freeAtEnd: a number without a unit suffix", "tableBytes: bytes not whole", "timeMicros: a key in micro",
            "freeAtEnd: not in docs/REPORT.md", "seeds, expected 4",
        ] {
            #expect(badOut.contains(what), "\(what) not in \(badOut)")
        }
    }

    @Test(
        "replay --settle 0 and --settle 2h give the same stall and slowdown over the traced span; the settle's stall is reported apart"
    )
    func settleDoesNotDilute() throws {
        func cost(_ settle: String) throws -> [String: Any] {
            let r = try CLI.run([
                "replay", CLI.packageRoot + "/traces/capture-4vm.mtr.zst", "--overcommit", "2", "--settle", settle,
                "--format", "json", "--quiet",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            return j["cost"] as! [String: Any]
        }
        let none = try cost("0"), long = try cost("2h")
        #expect(none["slowdown"] as! Double > 0.01)
        #expect(none["slowdown"] as! Double == long["slowdown"] as! Double)
        #expect(none["stallSeconds"] as! Double == long["stallSeconds"] as! Double)
        #expect(none["worstVMSlowdown"] as! Double == long["worstVMSlowdown"] as! Double)
        #expect(none["settleStallSeconds"] as! Double == 0 && long["settleStallSeconds"] as! Double > 0)
        #expect(none["settleOnSeconds"] as! Int == 0 && long["settleOnSeconds"] as! Int == 4 * 7200)
        // The text report shows the stall per VM and in all, and says what settle added.
        let t = try CLI.run([
            "replay", CLI.packageRoot + "/traces/capture-4vm.mtr.zst", "--overcommit", "2", "--settle", "2h", "--quiet",
        ])
        #expect(
            t.stdout.contains("Cost model (estimated stall over the traced span") && t.stdout.contains("settle stall s")
        )
        #expect(t.stdout.contains("the 28800 VM-seconds of --settle are not in it"), "\(t.stdout)")
    }

    @Test("Durations need a unit everywhere (0 alone is zero); a bad one names the accepted forms in one line")
    func durations() throws {
        for (args, bad) in [
            (["replay", Self.sample, "--settle", "30"], "--settle"),
            (["replay", Self.sample, "--until", "ten minutes"], "--until"),
            (["compare", Self.sample, "--until", "5"], "--until"),
            (["stats", Self.sample, "--interval", "15"], "--interval"),
            (["gen", "mix", "x.mtr.zst", "--duration", "600"], "--duration"),
            (["plan", Self.sample, "--until=-1s"], "--until"),
        ] {
            let s = Scratch()
            let r = try CLI.run(args, in: s.path)
            #expect(r.status == CLI.usage, "\(args)")
            #expect(
                r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(bad)
                    && r.stderr.contains("500ms, 30s, 15m, 2h"), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.file("x.mtr.zst")))
        }
        let ok = try CLI.run(["replay", Self.sample, "--until", "1.5m", "--settle", "0", "--format", "json", "--quiet"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let host =
            (try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as! [String: Any])["host"] as! [String: Any]
        #expect(host["tracedSeconds"] as! Double == 90)
    }
}
