import Foundation
import Testing
import TraceFormat

/// Reports that cannot be read wrongly: refusals are loud, peaks are host-wide, the timeline
/// ends where the report ends, sizes need units, nothing is silently overridden, the scan says
/// how far it got, intervals hold the records stamped in them.
@Suite("Reports that say what they mean")
struct ReportTrustTests {
    static let capture4 = CLI.packageRoot + "/traces/capture-4vm.mtr.zst"
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    func json(_ s: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
    }

    /// capture-4vm with min = max/2: at overcommit 3 the fourth VM (powering on at 30 s) fails
    /// the memory reservation, at 1.5 it passes.
    @Test("A refused VM gives a warning line per run, and its column never gets a *")
    func refusalsAreLoud() throws {
        // At overcommit 3, min = max/2 refuses VM 3 and esx (min 0) admits it: in that grid cell the
        // refusing column is not comparable.
        let r = try CLI.run([
            "compare", Self.capture4, "--policy", "minFraction=0.5", "--policy", "esx",
            "--sweep", "overcommit=1.5,3", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n")
        #expect(warnings.count == 1, "\(r.stderr)")
        for w in warnings {
            #expect(
                w.hasPrefix("tracetool: warning: ") && w.contains("overcommit=3")
                    && w.contains("VM 3 (mixed3) refused at power-on at 30.0 s")
                    && w.contains("unreserved memory") && w.contains("short"), "\(w)")
        }
        // Column 2 (minFraction, overcommit 3) refused VM 3, which column 4 (esx, overcommit 3) ran: marked, never starred.
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("metric") })
        #expect(header.contains("[2] !") && !header.contains("[4] !") && !header.contains("[1] !"))
        #expect(
            lines.contains {
                $0.contains(
                    "[2] esx + minFraction=0.5 overcommit=3  (refused: VM 3; another column of its cell admitted it")
            }, "\(r.stdout)")
        let table = lines.drop { !$0.hasPrefix("metric") }.dropFirst().prefix { !$0.hasPrefix("*") }
        #expect(table.count > 10)
        for row in table {
            let cells = row.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            // Values are right-aligned "v *" or "v  "; find each column's star by position.
            let starred = starredColumns(row, header: header)
            #expect(!starred.contains(2), "\(row) \(cells)")
        }
        // The HTML report says it where the reader looks.
        let s = Scratch()
        let html = try CLI.run([
            "compare", Self.capture4, "--policy", "minFraction=0.5", "--sweep", "overcommit=1.5,3", "--quiet",
            "--html", s.file("r.html"), "-o", s.file("r.txt"),
        ])
        #expect(html.status == 0)
        let page = try String(contentsOfFile: s.file("r.html"), encoding: .utf8)
        #expect(
            page.contains(
                "<p class=\"warning\"><b>esx + minFraction=0.5 overcommit=3:</b> VM 3 (mixed3) refused at power-on at 30.0 s"
            ))
        // replay warns too.
        let one = try CLI.run(["replay", Self.capture4, "--policy", "minFraction=0.5", "--overcommit", "3", "--quiet"])
        #expect(one.status == 0)
        #expect(one.stderr.split(separator: "\n").count == 1 && one.stderr.contains("VM 3 (mixed3) refused"))
        #expect(one.stdout.contains("VM 3 (mixed3) refused at power-on at 30.0 s"))
    }

    /// Column numbers (1-based) whose cell in `row` ends with " *", located by the header's
    /// right-aligned column ends.
    func starredColumns(_ row: String, header: String) -> Set<Int> {
        let h = Array(header), r = Array(row)
        var ends: [Int] = []
        var i = 0
        while i < h.count {
            if h[i] == "[" {
                var j = i
                while j < h.count && h[j] != "]" { j += 1 }
                var k = j + 1
                if k + 1 < h.count && h[k] == " " && h[k + 1] == "!" { k += 2 }
                ends.append(k)
                i = k
            } else {
                i += 1
            }
        }
        var out = Set<Int>()
        for (n, e) in ends.enumerated() where e - 1 < r.count && e >= 2 {
            if r[e - 1] == "*" && r[e - 2] == " " { out.insert(n + 1) }
        }
        return out
    }

    @Test("The compare example of the acceptance runs every VM and stars only comparable columns")
    func overcommitSweep() throws {
        let r = try CLI.run([
            "compare", Self.capture4, "--policy", "esx", "--policy", "swap-only",
            "--sweep", "overcommit=1,1.5,2,2.5,3", "--format", "json", "--quiet",
        ])
        #expect(r.status == 0)
        let policies = try json(r.stdout)["runs"] as! [[String: Any]]
        var refusedAnywhere = 0
        for p in policies {
            let admission = p["admission"] as! [String: Any]
            refusedAnywhere += (admission["refused"] as! [Any]).count
        }
        // Admission works on reservations: nothing is refused (min 0), so nothing is dropped.
        #expect(refusedAnywhere == 0)
        #expect(r.stderr.isEmpty)
    }

    @Test("Host-wide peaks are simultaneous: never above the sum of per-VM peaks, at least each VM's")
    func hostPeaks() throws {
        let r = try CLI.run(["replay", Self.capture4, "--overcommit", "2.5", "--format", "json", "--quiet"])
        let j = try json(r.stdout)
        let reclaim = j["reclaim"] as! [String: Any]
        let host = reclaim["hostBalloonPeakPages"] as! Int, hostSwap = reclaim["hostSwappedPeakPages"] as! Int
        #expect(reclaim["balloonPeakPages"] == nil && reclaim["swappedPeakPages"] == nil)
        let vms = j["vms"] as! [[String: Any]]
        let peaks = vms.map { ($0["reclaim"] as! [String: Any])["balloonPeakPages"] as! Int }
        let swapPeaks = vms.map { ($0["reclaim"] as! [String: Any])["swappedPeakPages"] as! Int }
        #expect(host <= peaks.reduce(0, +) && host >= peaks.max()!)
        #expect(hostSwap <= swapPeaks.reduce(0, +) && hostSwap >= swapPeaks.max()!)
        #expect(host > 0 && host < peaks.reduce(0, +), "host \(host), per VM \(peaks)")
        let text = try CLI.run(["replay", Self.capture4, "--overcommit", "2.5", "--quiet"]).stdout
        #expect(text.contains("host-wide peaks (at one moment): balloon"))
    }

    @Test("The timeline's last row per VM equals the report, and rows cover --settle")
    func timelineEndsWithReport() throws {
        let s = Scratch()
        for settle in ["0s", "45s"] {
            let csv = s.file("t\(settle).csv")
            let r = try CLI.run([
                "replay", Self.capture4, "--overcommit", "2", "--timeline", csv, "--settle", settle, "--format", "json",
                "--quiet",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            let j = try json(r.stdout)
            let end = (j["host"] as! [String: Any])["simulatedSeconds"] as! Double
            let stateEnd = (j["states"] as! [String: Any])["end"] as! String
            let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst().map {
                $0.split(separator: ",").map(String.init)
            }
            for v in j["vms"] as! [[String: Any]] {
                let id = String(v["id"] as! Int)
                let last = try #require(rows.last { $0[1] == id })
                let alloc = v["allocation"] as! [String: Any], rec = v["reclaim"] as! [String: Any]
                // Timelines are in MiB with three decimals; the report in pages (4 KiB).
                func mib(_ pages: Any?) -> String { String(format: "%.3f", Double(pages as! Int) / 256) }
                #expect(Double(last[0]) == end, "last row at \(last[0]) s, run ends at \(end) s")
                #expect(last[2] == v["name"] as? String)
                #expect(last[3] == mib(alloc["allocatedEndPages"]) && last[4] == mib(alloc["targetEndPages"]))
                #expect(
                    last[5] == mib(rec["balloonEndPages"]) && last[6] == mib(rec["balloonFreedEndPages"])
                        && last[7] == mib(rec["swappedEndPages"]))
                #expect(last[12] == stateEnd)
                #expect(Int(last[13]) == rec["guestRefaults"] as? Int && Int(last[14]) == rec["swapIn"] as? Int)
            }
            // Rows every 10 s from 10 s; the records stamped at 10 s are in the 10 s row.
            let times = Array(Set(rows.map { Double($0[0])! })).sorted()
            #expect(times.first == 10 && times.last == end)
            let first = rows.first { $0[0] == "10" && $0[1] == "0" }!
            #expect(Double(first[3])! > 0)
        }
    }

    @Test("Sizes need a unit: a bare number is refused; K/M/G/T with or without B/iB are binary; N pages")
    func sizes() throws {
        let bare = try CLI.run(["replay", Self.sample, "--host-memory", "114928", "--quiet"])
        #expect(bare.status == CLI.usage && bare.stderr.split(separator: "\n").count == 1)
        #expect(bare.stderr.contains("has no unit") && bare.stderr.contains("MiB") && bare.stderr.contains("pages"))
        for (size, pages) in [
            ("512MB", 131_072), ("1GB", 262_144), ("1G", 262_144), ("0.5GiB", 131_072), ("70000 pages", 70_000),
        ] {
            let r = try CLI.run(["replay", Self.sample, "--host-memory", size, "--format", "json", "--quiet"])
            #expect(r.status == 0, "\(size): \(r.stderr)")
            #expect(((try json(r.stdout))["host"] as! [String: Any])["machinePages"] as? Int == pages, "\(size)")
        }
        for bad in ["1.5", "12 MiBs", "-1G", "G", "1e3M"] {
            let r = try CLI.run(["replay", Self.sample, "--host-memory=" + bad, "--quiet"])
            #expect(r.status == CLI.usage && r.stderr.contains("a size is"), "\(bad): \(r.stderr)")
        }
        let swap = try CLI.run(["replay", Self.sample, "--swap", "100", "--quiet"])
        #expect(swap.status == CLI.usage && swap.stderr.contains("--swap"))
        let vm = try CLI.run(["replay", Self.sample, "--vm", "0:min=64", "--quiet"])
        #expect(vm.status == CLI.usage && vm.stderr.contains("min"))
        let sweep = try CLI.run(["compare", Self.sample, "--sweep", "host-memory=1G,300000", "--quiet"])
        #expect(sweep.status == CLI.usage && sweep.stderr.contains("no unit"))
    }

    @Test(
        "No silent overrides: a repeated one-value option, a key given twice, an ignored option are refused; --vm settings merge"
    )
    func noSilentOverrides() throws {
        let twice = try CLI.run(["replay", Self.sample, "--host-memory", "1G", "--host-memory", "2G"])
        #expect(twice.status == CLI.usage && twice.stderr.contains("--host-memory given 2 times"))
        let twiceShort = try CLI.run(["stats", Self.sample, "-o", "/nonexistent/a", "--output", "/nonexistent/b"])
        #expect(twiceShort.status == CLI.usage && twiceShort.stderr.contains("--output given 2 times"))
        // Repeatable ones still repeat.
        #expect(
            try CLI.run(["replay", Self.sample, "--set", "idleTax=0.5", "--set", "hashBits=32", "--quiet"]).status == 0)
        // --vm settings for one VM merge: min from the first, shares from the second.
        let merged = try CLI.run([
            "replay", Self.sample, "--vm", "0:min=8MiB", "--vm", "0:shares=5000", "--format", "json", "--quiet",
        ])
        #expect(merged.status == 0, "\(merged.stderr)")
        let vm0 = (try json(merged.stdout)["vms"] as! [[String: Any]])[0]
        #expect(vm0["minPages"] as? Int == 2048 && vm0["shares"] as? Int == 5000)
        let clash = try CLI.run(["replay", Self.sample, "--vm", "0:min=8MiB", "--vm", "0:min=4MiB"])
        #expect(clash.status == CLI.usage && clash.stderr.contains("min given twice"))
        let ignored = try CLI.run(["policy", "show", "--overcommit", "2"])
        #expect(ignored.status == CLI.usage && ignored.stderr.contains("--overcommit"))
        let gen = try CLI.run(["gen", "fig7", Scratch().file("f.mtr.zst"), "--records", "5"])
        #expect(gen.status == CLI.usage && gen.stderr.contains("does not use --records"))
        let interval = try CLI.run(["replay", Self.sample, "--timeline-interval", "5s"])
        #expect(interval.status == CLI.usage && interval.stderr.contains("--timeline-interval needs"))
    }

    @Test("Replay says how far the sharing scan got and what --settle completes a pass; a capped rate is named")
    func scanProgress() throws {
        let plain = try CLI.run(["replay", CLI.packageRoot + "/traces/qemu4vm.mtr.zst", "--quiet"])
        #expect(
            plain.stdout.contains("scan incomplete")
                && plain.stdout.contains("more of --settle would complete one pass"))
        // 4 VMs × 50 pages/s = the 200 total: not capped. 65,536 pages at 50 pages/s after 60 s
        // scanned (3,000 each): (65,536 − 3,000) / 50 = 1,250.72 → 1,251 s, 21 min.
        let j = try json(
            try CLI.run(["replay", CLI.packageRoot + "/traces/qemu4vm.mtr.zst", "--format", "json", "--quiet"]).stdout)
        let scan = j["scan"] as! [String: Any]
        #expect(scan["fullPassSettleSeconds"] as? Int == 1251 && scan["cappedByTotal"] as? Bool == false)
        #expect(plain.stdout.contains("about 21m more of --settle"))
        // With that settle the pass completes and the line goes away.
        let done = try CLI.run(["replay", CLI.packageRoot + "/traces/qemu4vm.mtr.zst", "--settle", "21m", "--quiet"])
        #expect(!done.stdout.contains("scan incomplete"))
        let capped = try CLI.run([
            "replay", CLI.packageRoot + "/traces/qemu4vm.mtr.zst", "--set", "shareScanVM=100", "--quiet",
        ])
        #expect(
            capped.stdout.contains(
                "scan rate capped: 4 VMs × shareScanVM 100 pages/s > shareScanTotal 200, so each VM gets 50 pages/s"))
    }

    @Test("stats follows the interval convention on a captured trace: records stamped at an interval's end are in it")
    func statsIntervals() throws {
        let r = try CLI.run(["stats", Self.capture4, "--format", "json"])
        let j = try json(r.stdout)
        let intervals = j["intervals"] as! [[String: Any]]
        let times = intervals.map { $0["timeSeconds"] as! Double }
        // 240 s captured every 10 s: 24 intervals ending at 10 … 240 s, none repeated.
        #expect(times == (1...24).map { Double($0 * 10) })
        // The first interval holds the accesses stamped at 10 s: three VMs are on and active.
        let ws0 = intervals[0]["workingSetPages"] as! [Int]
        #expect(ws0[0] > 0 && ws0[1] > 0 && ws0[2] > 0 && ws0[3] == 0)
        let text = try CLI.run(["stats", Self.capture4]).stdout
        #expect(text.contains("24 intervals of 10 s, ending at 240 s"))
        #expect(text.contains("max pages (MiB)") && text.contains("32768 (128.0)"))
    }

    @Test("gen mix spans --duration whatever --records is")
    func mixSpansDuration() throws {
        let s = Scratch()
        for (records, duration, span) in [("7000", "60s", 60.0), ("700000", "500ms", 0.5)] {
            let f = s.file("m\(records).mtr.zst")
            #expect(
                try CLI.run([
                    "gen", "mix", f, "--records", records, "--duration", duration, "--vms", "2", "--pages", "64",
                ]).status == 0)
            let reader = try TraceFile.open(f)
            var batch: [TraceRecord] = []
            var last = Micros.zero
            while try reader.next(into: &batch) { last = batch.last!.time }
            #expect(
                abs(last.seconds - span) < span * 0.01, "\(records) records over \(duration) s end at \(last.seconds) s"
            )
        }
    }
}

@Suite("stats: the oracle bound split over VMs")
struct StatsShareTests {
    @Test(
        "Each page of a content n pages hold is credited (n − 1)/n; zero pages are a content like any other; the shares sum to the host's bound"
    )
    func shares() throws {
        let s = Scratch()
        let f = s.file("share.mtr.txt")
        // VM 0: A, A, B, zero; VM 1: A, C, zero. Contents: A ×3, B ×1, C ×1, zero ×2:
        // 7 pages, 4 distinct, bound 3. VM 0: 2/3 + 2/3 + 0 + 1/2 = 1.833; VM 1: 2/3 + 0 + 1/2 = 1.167.
        try """
        hash,xxh3-64
        vm,0,a,8
        vm,1,b,8
        0,0,C,0,00000000000000aa
        0,0,C,1,00000000000000aa
        0,0,C,2,00000000000000bb
        0,0,Z,3
        0,1,C,0,00000000000000aa
        0,1,C,1,00000000000000cc
        0,1,Z,2

        """.write(toFile: f, atomically: true, encoding: .utf8)
        let r = try CLI.run(["stats", f, "--format", "json"])
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(j["oracleSavedPages"] as? Int == 3 && j["distinctContents"] as? Int == 4)
        let vms = j["vms"] as! [[String: Any]]
        #expect(vms.map { $0["oracleSavedPages"] as! Double } == [1.833, 1.167])
        #expect(vms.map { $0["zeroPages"] as! Int } == [1, 1] && vms.map { $0["contentPages"] as! Int } == [4, 3])
        let text = try CLI.run(["stats", f]).stdout
        // Zero share: 1 of 4 and 1 of 3 pages with content.
        #expect(text.contains("25.0%") && text.contains("33.3%"))
        #expect(text.contains("1.8 (0.0)") && text.contains("1.2 (0.0)"))
    }
}
