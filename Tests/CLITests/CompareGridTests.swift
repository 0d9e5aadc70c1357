import Foundation
import Testing

/// `compare --sweep` repeated: a grid in a documented order, with replay's options.
@Suite("compare: sweep grids and replay's options")
struct CompareGridTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    @Test(
        "Two sweeps give policies × cells runs, the last sweep varying fastest; --set, --seed and --vm apply to every run"
    )
    func grid() throws {
        let r = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "no-tax", "--sweep", "overcommit=1,2",
            "--sweep", "seed=1,2,3", "--set", "hashBits=32", "--vm", "0:shares=5000", "--until", "20s",
            "--format", "json", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let runs =
            (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["runs"] as! [[String: Any]]
        var expected: [String] = []
        for p in ["esx", "no-tax"] {
            for o in ["1", "2"] {
                for s in ["1", "2", "3"] { expected.append("\(p) + hashBits=32 overcommit=\(o) seed=\(s)") }
            }
        }
        #expect(runs.map { $0["policyName"] as? String ?? "" } == expected)
        for report in runs {
            let policy = report["policy"] as! [String: Any]
            #expect(policy["hashBits"] as? Int == 32)
            let name = report["policyName"] as! String
            #expect(policy["seed"] as? Int == Int(name.suffix(1)), "\(name)")
            let vm0 = (report["vms"] as! [[String: Any]])[0]
            #expect(vm0["shares"] as? Int == 5000)
        }
        // Byte-identical for any --jobs.
        let one = try CLI.run([
            "compare", Self.sample, "--sweep", "overcommit=1,2", "--sweep", "idleTax=0,0.75", "--until", "20s",
            "--format", "csv", "--jobs", "1", "--quiet",
        ])
        let two = try CLI.run([
            "compare", Self.sample, "--sweep", "overcommit=1,2", "--sweep", "idleTax=0,0.75", "--until", "20s",
            "--format", "csv", "--jobs", "2", "--quiet",
        ])
        // 4 runs, each a host row and a row per VM (the sample has 4 VMs).
        #expect(one.status == 0 && one.stdout == two.stdout && one.stdout.split(separator: "\n").count == 1 + 4 * 5)
    }

    @Test("compare --timeline: one long CSV; each run's rows are replay's --timeline rows for that run")
    func longTimeline() throws {
        let s = Scratch()
        let c = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "no-tax", "--sweep", "overcommit=1,2",
            "--timeline", s.file("c.csv"), "--timeline-interval", "30s", "--quiet",
        ])
        #expect(c.status == 0, "\(c.stderr)")
        let lines = try String(contentsOfFile: s.file("c.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("policy,overcommit,seed,time_seconds,vm_id,vm_name,"))
        for (policy, oc) in [("esx", "1"), ("no-tax", "2")] {
            let r = try CLI.run([
                "replay", Self.sample, "--policy", policy, "--overcommit", oc, "--timeline", s.file("r.csv"),
                "--timeline-interval", "30s", "--quiet",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            let replayRows = try String(contentsOfFile: s.file("r.csv"), encoding: .utf8).split(separator: "\n")
                .dropFirst().map(String.init)
            let slice = lines.dropFirst().filter { $0.hasPrefix("\(policy),\(oc),1,") }.map {
                String($0.dropFirst(policy.count + oc.count + 4))
            }
            #expect(!slice.isEmpty && slice == replayRows, "\(policy) overcommit=\(oc)")
        }
        #expect(lines.count == 1 + 4 * (lines.count - 1) / 4)
    }

    @Test(
        "--seeds 3 on a 2 × 2 × 2 grid, --format csv-summary: 8 summary rows for the host and 8 × 4 for the VMs, with mean and interval columns, all numeric, the mean inside its interval"
    )
    func seeds() throws {
        let r = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--sweep", "overcommit=1,2",
            "--sweep", "idleTax=0,0.75", "--seeds", "3", "--until", "20s", "--format", "csv-summary", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        #expect(rows.count == 1 + 8 * 5)
        let header = rows[0]
        #expect(
            Array(header.prefix(8)) == [
                "policy", "overcommit", "idle_tax", "host_mib", "overcommit_ratio", "seeds", "vm_id", "vm_name",
            ])
        #expect(
            header.contains("swap_ins_mean") && header.contains("swap_ins_ci95_low")
                && header.contains("swap_ins_ci95_high"))
        let hostOnly = header.firstIndex(of: "time_soft_seconds_mean")!
        for row in rows.dropFirst() {
            #expect(row.count == header.count)
            #expect(row[5] == "3")
            let host = row[7] == "all"
            #expect(host == row[6].isEmpty)
            // A VM's row leaves the host-wide metrics (time in a state, host peaks) empty.
            #expect(row[hostOnly].isEmpty == !host)
            for (i, v) in row.enumerated() where i != 0 && i != 7 && !(i >= 6 && v.isEmpty && (i == 6 || !host)) {
                #expect(Double(v) != nil, "\(header[i]) = \(v) in \(row)")
            }
            for (i, name) in header.enumerated() where name.hasSuffix("_mean") && !row[i].isEmpty {
                let mean = Double(row[i])!, low = Double(row[i + 1])!, high = Double(row[i + 2])!
                #expect(low <= mean + 1e-9 && mean <= high + 1e-9, "\(name)")
            }
        }
        let hostRows = rows.dropFirst().filter { $0[7] == "all" }
        #expect(
            hostRows.map { $0[0] } == ["esx", "esx", "esx", "esx", "swap-only", "swap-only", "swap-only", "swap-only"])
        #expect(rows.dropFirst().prefix(5).map { $0[7] } == ["all", "vm0", "vm1", "vm2", "vm3"])
        // The VMs' stall adds up to the host's (a mean of sums is the sum of means).
        let stall = header.firstIndex(of: "stall_seconds_mean")!
        let sum = rows[2...5].reduce(0.0) { $0 + Double($1[stall])! }
        #expect(abs(sum - Double(rows[1][stall])!) < 0.003)
        // Python's csv module reads it without string parsing (scripts/deps.sh installs python3).
        do {
            let s = Scratch()
            try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: s.file("c.csv")))
            let py = try CLI.python([
                "-c",
                """
                import csv,sys
                rows=list(csv.DictReader(open(sys.argv[1])))
                assert len(rows)==40 and sum(r['vm_name']=='all' for r in rows)==8
                for r in rows:
                  int(r['seeds']); float(r['overcommit']); float(r['idle_tax']); float(r['host_mib'])
                  assert (r['vm_id']=='')==(r['vm_name']=='all')
                  [float(v) for k,v in r.items() if k not in ('policy','vm_name','vm_id') and v!='']
                  assert r['vm_name']!='all' or all(v!='' for k,v in r.items() if k!='vm_id')
                print('ok')
                """, s.file("c.csv"),
            ])
            #expect(py.status == 0 && py.stdout == "ok\n")
        }
        // The text report marks a best only where intervals are apart, and says so.
        let t = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "no-tax", "--seeds", "3", "--until", "20s",
            "--quiet",
        ])
        #expect(t.status == 0 && t.stdout.contains("3 seeds per column") && t.stdout.contains("± "))
        #expect(t.stdout.contains("[1] esx  (seeds 1, 2, 3)"))
        // A policy given twice is two columns, not one column of two seeds.
        let twice = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "esx", "--until", "10s", "--quiet",
        ])
        #expect(
            twice.status == 0 && !twice.stdout.contains("seeds") && twice.stdout.contains("  [2] esx\n"),
            "\(twice.stdout)")
        let twiceSeeds = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "esx", "--seeds", "2", "--until", "10s", "--quiet",
        ])
        #expect(
            twiceSeeds.stdout.contains("[1] esx  (seeds 1, 2)") && twiceSeeds.stdout.contains("[2] esx  (seeds 1, 2)"),
            "\(twiceSeeds.stdout)")
    }

    @Test(
        "--html draws a sweep as curves over the swept value: a line per policy, a small chart per value of the other key on shared scales, 95% bands with --seeds, points inside the plot"
    )
    func sweepCurves() throws {
        let s = Scratch()
        let r = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--sweep", "overcommit=1,1.5,2",
            "--sweep", "idleTax=0,0.75", "--seeds", "2", "--until", "20s", "--html", s.file("r.html"), "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let page = HTMLPage(try String(contentsOfFile: s.file("r.html"), encoding: .utf8))
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        #expect(page.html.contains("<h2>Sweep over overcommit</h2>") && !page.html.contains("class=\"chart bars\""))
        #expect(page.html.contains("Which policy costs the VMs least at each overcommit × idleTax?"))
        let sweep = page.charts.filter { $0.figure.hasPrefix("sweep-") && $0.id != "legend" }
        #expect(
            Set(sweep.map(\.figure)).count == 9 && sweep.contains { $0.id == "sweep-estimated stall s (cost model)-0" })
        for c in sweep {
            #expect(c.series.map(\.name) == ["esx", "swap-only"] && c.intervals.count == 2, "\(c.id)")
            #expect(
                c.texts.first { $0.content.hasPrefix("idleTax=") }?.content
                    == (c.id.hasSuffix("-0") ? "idleTax=0" : "idleTax=0.75"))
            for se in c.series { #expect(se.points.count == 3 && se.points.map(\.0) == se.points.map(\.0).sorted()) }
        }
        // Shared scales: both panels of a metric have the same y tick labels.
        for fig in Set(sweep.map(\.figure)) {
            let ticks = sweep.filter { $0.figure == fig }.map {
                $0.texts.filter { !$0.rotated && $0.anchor == "end" }.map(\.content)
            }
            #expect(ticks.count == 2 && ticks[0] == ticks[1], "\(fig)")
        }
    }

    @Test("HTML reports of capture-4vm pass the structure checks; the oracle bound covers --settle")
    func captureReports() throws {
        let s = Scratch()
        let trace = CLI.packageRoot + "/traces/capture-4vm.mtr.zst"
        let replay = try CLI.run([
            "replay", trace, "--overcommit", "2", "--settle", "60s", "--html", s.file("r.html"), "--quiet",
        ])
        let compare = try CLI.run([
            "compare", trace, "--policy", "esx", "--policy", "swap-only", "--policy", "no-tax", "--overcommit", "2",
            "--settle", "60s", "--html", s.file("c.html"), "--quiet",
        ])
        #expect(replay.status == 0 && compare.status == 0, "\(replay.stderr)\(compare.stderr)")
        for f in ["r.html", "c.html"] {
            let page = HTMLPage(try String(contentsOfFile: s.file(f), encoding: .utf8))
            #expect(page.problems().isEmpty, "\(f): \(page.problems().prefix(5))")
            let sharing = try #require(page.charts.first { $0.id == "sharing" })
            let oracle = try #require(sharing.series.first { $0.name == "oracle bound" })
            let saved = sharing.series.first { $0.name != "oracle bound" }!
            #expect(
                oracle.points.last!.0 == saved.points.last!.0,
                "\(f): the oracle bound ends at \(oracle.points.last!.0), the run at \(saved.points.last!.0)")
            #expect(page.charts.filter { $0.id.hasPrefix(f == "r.html" ? "memory-" : "allocated-") }.count == 4)
        }
        // The summary names the policy (bold), says the winner is from one seed, and that the
        // host was under pressure; the state band draws the transitions the engine recorded.
        let c = try String(contentsOfFile: s.file("c.html"), encoding: .utf8)
        #expect(
            c.contains("<td class=\"best\">swap-only</td>")
                && c.contains("One seed per policy: a difference can be the seed's"))
        #expect(c.contains("<th>memory pressure</th>") && c.contains("<td>yes</td>"))
    }

    @Test(
        "More than 8 columns: the text table turns to a row per policy and cell, fits a wide terminal, and names the least-stall policy of every cell"
    )
    func longText() throws {
        let r = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--policy", "lru-swap", "--sweep",
            "overcommit=1,2,3",
            "--sweep", "idleTax=0,0.75", "--seeds", "2", "--until", "20s", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = CLI.unstamped(r.stdout).split(separator: "\n").map(String.init)
        #expect(lines[0].hasSuffix("3 policies × 6 grid cells × 2 seeds (mean ± 95% CI)"))
        let header = try #require(lines.first { $0.hasPrefix("#") })
        #expect(header.contains("overcommit") && header.contains("idleTax") && header.contains("stall s"))
        let rows = lines.filter { $0.hasPrefix("[") }
        #expect(rows.count == 18 && rows.allSatisfy { $0.count <= 160 }, "\(rows.map(\.count))")
        #expect(rows[0].hasPrefix("[1]   esx") && rows[17].hasPrefix("[18]  lru-swap"))
        #expect(header.contains("host MiB") && header.contains("slowdown %"))
        let answers = lines.drop { !$0.hasPrefix("least estimated stall") }.dropFirst().prefix { $0.hasPrefix("  ") }
        #expect(
            answers.map { $0.split(separator: ":")[0].trimmingCharacters(in: .whitespaces) }
                == [
                    "overcommit=1 idleTax=0", "overcommit=1 idleTax=0.75", "overcommit=2 idleTax=0",
                    "overcommit=2 idleTax=0.75",
                    "overcommit=3 idleTax=0", "overcommit=3 idleTax=0.75",
                ])
    }

    @Test("A key swept twice, a host size both swept and fixed, an unknown key: one line, exit 64")
    func refusals() throws {
        for (args, message) in [
            (["--sweep", "overcommit=1", "--sweep", "overcommit=2"], "given twice"),
            (["--sweep", "overcommit=1,2", "--host-memory", "1GiB"], "both set the host's memory"),
            (["--sweep", "overcommit=1", "--sweep", "host-memory=1GiB"], "sweep one"),
            (["--sweep", "seed=1,2", "--seed", "3"], "both set the seed"),
            (["--sweep", "bogus=1"], "not a knob"),
            (["--sweep", "idleTax=0,,1"], "an empty value"),
            (["--sweep", "seed=-1"], "not an unsigned integer"),
            (["--sweep", "seed=1,2", "--seeds", "2"], "both choose seeds"),
            (["--seeds", "0"], "--seeds must be in"),
            (
                ["--seeds", "1000", "--sweep", "overcommit=1,2,3,4,5"],
                "5000 runs (policies × sweep values × seeds) is more than 4096"
            ),
        ] {
            let r = try CLI.run(["compare", Self.sample, "--quiet"] + args)
            #expect(
                r.status == CLI.usage && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.stderr)")
        }
    }

    @Test(
        "Marks compare only the columns of one grid cell: one policy over two host sizes marks nothing; two policies mark within each cell"
    )
    func marksWithinCells() throws {
        let one = try CLI.run(["compare", Self.sample, "--sweep", "overcommit=1,2", "--quiet"])
        #expect(one.status == 0, "\(one.stderr)")
        let table = one.stdout.split(separator: "\n").filter { $0.contains("  ") && !$0.hasPrefix("  [") }
        #expect(!table.contains { $0.contains(" *") || $0.contains(" =") }, "\(one.stdout)")
        #expect(one.stdout.contains("no marks: each grid cell has one column"))
        #expect(one.stdout.contains("host memory MiB") && one.stdout.contains("overcommit (Σ max / memory for VMs)"))
        // Two policies in two cells: each metric row marks at most one column per cell.
        let two = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--policy", "swap-only", "--sweep", "overcommit=1,2", "--quiet",
        ])
        let rows = two.stdout.split(separator: "\n").map(String.init).filter {
            $0.hasPrefix("swap-ins") || $0.hasPrefix("estimated stall")
        }
        for row in rows {
            // Columns [1] esx o=1, [2] esx o=2, [3] swap-only o=1, [4] swap-only o=2: cells {1,3} and {2,4}.
            let cols = row.components(separatedBy: "  ").filter { !$0.isEmpty }.suffix(4).map {
                $0.hasSuffix("*") || $0.hasSuffix(" *")
            }
            #expect(!(cols[0] && cols[2]) && !(cols[1] && cols[3]), "\(row)")
        }
        // The host at overcommit 1 never leaves high: the cell says so (the stall left is the
        // same faults under both); at 2 one policy wins and the cell has pressure.
        #expect(
            two.stdout.contains(
                "  overcommit=1: all equal; no memory pressure (never left high, nothing ballooned or paged)\n"),
            "\(two.stdout)")
        let at2 = try #require(two.stdout.split(separator: "\n").first { $0.hasPrefix("  overcommit=2: ") })
        #expect(at2.contains(" less than ") && !at2.contains("no memory pressure"))
        #expect(two.stdout.contains("(one seed per column: a difference can be the seed's; --seeds 5"))
    }

    @Test(
        "A sweep of a knob a named preset fixes is refused with one line naming both; a preset's knobs can still be set with --policy PRESET,key=value"
    )
    func presetKnobSweep() throws {
        let r = try CLI.run(["compare", Self.sample, "--policy", "no-tax", "--sweep", "idleTax=0,0.75", "--quiet"])
        #expect(r.status == CLI.usage && r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("no-tax") && r.stderr.contains("idleTax"), "\(r.stderr)")
        let ok = try CLI.run([
            "compare", Self.sample, "--policy", "no-tax", "--policy", "no-tax,idleTax=0.75", "--until", "10s",
            "--format", "json", "--quiet",
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
        let runs =
            (try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as! [String: Any])["runs"] as! [[String: Any]]
        #expect(runs.map { $0["policyName"] as? String } == ["no-tax", "no-tax + idleTax=0.75"])
    }

    @Test("Every report names its policy: the preset plus what is set on top, in text, JSON and CSV")
    func policyNames() throws {
        for (args, name, changes) in [
            (["--policy", "swap-only"], "swap-only", "balloon=off"), (["--policy", "no-tax"], "no-tax", "idleTax=0"),
            (["--policy", "idleTax=0.3"], "esx + idleTax=0.3", "idleTax=0.3"),
            (["--set", "idleTax=0.3"], "esx + idleTax=0.3", "idleTax=0.3"),
            ([], "esx", ""),
        ] {
            let j = try CLI.run(["replay", Self.sample, "--until", "10s", "--format", "json", "--quiet"] + args)
            let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
            #expect(obj["policyName"] as? String == name, "\(args)")
            #expect((obj["policyChanges"] as? [String])?.joined(separator: " ") == changes, "\(args)")
            let t = try CLI.run(["replay", Self.sample, "--until", "10s", "--quiet"] + args)
            #expect(t.stdout.contains("policy    \(name) ("), "\(args): \(t.stdout.prefix(400))")
        }
        let csv = try CLI.run([
            "compare", Self.sample, "--policy", "swap-only", "--policy", "idleTax=0.3", "--until", "10s", "--format",
            "csv", "--quiet",
        ])
        let names = csv.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
        #expect(Set(names) == ["swap-only", "esx + idleTax=0.3"])
    }
}
