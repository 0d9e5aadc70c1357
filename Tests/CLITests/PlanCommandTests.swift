import Foundation
import Testing

/// `tracetool plan` end to end (docs/PLAN.md): its answer is what `replay` measures at that
/// ratio, the search brackets the budget to --precision, the outcomes at the range's ends, the
/// study input, the outputs and the errors.
@Suite("plan: how far to overcommit")
struct PlanCommandTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    static func json(_ s: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
    }

    @Test(
        "The answer is replay's worst-VM slowdown at that ratio, mean over the seeds; within the budget there, over it one --precision above"
    )
    func answerIsReplay() throws {
        let r = try CLI.run([
            "plan", Self.sample, "--policy", "esx", "--policy", "swap-only", "--seeds", "2", "--until", "30s",
            "--format", "json", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try Self.json(r.stdout)
        #expect(
            j["schemaVersion"] as? Int == 1 && j["measure"] as? String == "worst-vm"
                && j["budgetPercent"] as? Double == 2)
        let t = (j["traces"] as! [[String: Any]])[0]
        let answers = t["answers"] as! [[String: Any]]
        #expect(answers.map { $0["policy"] as! String } == ["esx", "swap-only"])
        for (k, a) in answers.enumerated() {
            #expect(a["outcome"] as? String == "found")
            let within = a["within"] as! [String: Any], over = a["over"] as! [String: Any]
            let lo = within["overcommit"] as! Double, hi = over["overcommit"] as! Double
            #expect((within["slowdownPercent"] as! Double) <= 2 && (over["slowdownPercent"] as! Double) > 2)
            #expect(hi > lo && hi - lo <= 0.05 + 1e-9)
            #expect(over["worstVMName"] as? String != nil)
            // Replay at the answer's ratio, both seeds: the same worst-VM slowdown.
            var values: [Double] = []
            for seed in ["1", "2"] {
                let p = try CLI.run([
                    "replay", Self.sample, "--policy", ["esx", "swap-only"][k], "--overcommit", String(lo), "--seed",
                    seed,
                    "--until", "30s", "--format", "json", "--quiet",
                ])
                #expect(p.status == 0, "\(p.stderr)")
                values.append(
                    100 * (((try Self.json(p.stdout))["cost"] as! [String: Any])["worstVMSlowdown"] as! Double))
            }
            let seedValues = within["seedSlowdownPercent"] as! [Double]
            #expect(
                seedValues.count == 2 && zip(seedValues, values).allSatisfy { abs($0 - $1) < 1e-9 },
                "\(seedValues) \(values)")
            #expect(abs((within["slowdownPercent"] as! Double) - (values[0] + values[1]) / 2) < 1e-9)
            // Every ratio of the curve is there once, in order, the answer among them.
            let curve = ((t["curves"] as! [[String: Any]])[k]["points"] as! [[String: Any]]).map {
                $0["overcommit"] as! Double
            }
            #expect(
                curve == curve.sorted() && Set(curve).count == curve.count && curve.contains(lo) && curve.contains(hi))
            #expect(curve.contains(1) && curve.contains(4))
        }
        // --jobs does not change a byte.
        let one = try CLI.run([
            "plan", Self.sample, "--policy", "esx", "--policy", "swap-only", "--seeds", "2", "--until", "30s",
            "--format", "json", "--quiet", "--jobs", "1",
        ])
        #expect(one.stdout == r.stdout)
    }

    @Test("--measure all bounds all VMs together: an answer at least as far as every VM's own")
    func measureAll() throws {
        func answer(_ m: String) throws -> Double {
            let r = try CLI.run(["plan", Self.sample, "--measure", m, "--until", "30s", "--format", "json", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let a = (((try Self.json(r.stdout))["traces"] as! [[String: Any]])[0]["answers"] as! [[String: Any]])[0]
            return (a["within"] as! [String: Any])["overcommit"] as! Double
        }
        #expect(try answer("all") >= answer("worst-vm"))
    }

    @Test(
        "Text: the answer line, the curve, the knee; a range without pressure says why; a budget exceeded at the start says search lower"
    )
    func outcomes() throws {
        let r = try CLI.run(["plan", Self.sample, "--until", "30s", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            CLI.unstamped(r.stdout).hasPrefix(
                "budget: worst VM slowdown ≤ 2% of powered-on time over the traced span; 1 seed per point"))
        #expect(
            r.stdout.contains("  esx  up to ") && r.stdout.contains(" (one seed); at ")
                && r.stdout.contains(" binds\n"), "\(r.stdout)")
        #expect(
            r.stdout.contains("capacity curve: worst VM slowdown % by overcommit")
                && r.stdout.contains("knee (where the slowdown turns steep"))
        let roomy = try CLI.run(["plan", Self.sample, "--from", "0.5", "--to", "0.8", "--until", "30s", "--quiet"])
        #expect(
            roomy.status == 0 && roomy.stdout.contains("at least 0.8× (the whole range)")
                && roomy.stdout.contains("search further with --to"), "\(roomy.stdout)")
        #expect(
            roomy.stdout.contains("no memory pressure anywhere from 0.5× to 0.8×: the VMs touch ")
                && roomy.stdout.contains("MiB configured"))
        let tight = try CLI.run(["plan", Self.sample, "--slowdown", "0.001%", "--until", "30s", "--quiet"])
        #expect(
            tight.status == 0 && tight.stdout.contains("below 1× (the range's start)")
                && tight.stdout.contains("search lower with --from"), "\(tight.stdout)")
        #expect(!tight.stdout.contains("no memory pressure"))
    }

    @Test(
        "CSV (Python's csv) has a row per policy and ratio, the answer flagged; HTML passes the chart checks and draws the budget"
    )
    func outputs() throws {
        let s = Scratch()
        let r = try CLI.run([
            "plan", Self.sample, "--policy", "esx", "--policy", "no-tax", "--until", "30s", "--format", "csv", "-o",
            s.file("p.csv"),
            "--html", s.file("p.html"), "--quiet",
        ])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        let py = try CLI.python([
            "-c",
            """
            import csv,sys
            rows=list(csv.DictReader(open(sys.argv[1])))
            for p in ('esx','no-tax'):
              mine=[r for r in rows if r['policy']==p]
              ratios=[float(r['overcommit']) for r in mine]
              assert ratios==sorted(ratios) and 1.0 in ratios and 4.0 in ratios, ratios
              ans=[r for r in mine if r['answer']=='true']
              assert len(ans)==1 and ans[0]['within_budget']=='true', ans
              a=float(ans[0]['overcommit'])
              nxt=[r for r in mine if float(r['overcommit'])>a][0]
              assert nxt['within_budget']=='false' and float(nxt['slowdown_percent_mean'])>2
              for r in mine: float(r['host_mib']); float(r['memory_for_vms_mib']); assert r['measure']=='worst-vm' and r['seeds']=='1'
            print('ok')
            """, s.file("p.csv"),
        ])
        #expect(py.status == 0 && py.stdout == "ok\n")
        let html = try String(contentsOfFile: s.file("p.html"), encoding: .utf8)
        let page = HTMLPage(html)
        #expect(page.problems().isEmpty, "\(page.problems().prefix(5))")
        #expect(page.charts.contains { $0.id == "plan-0" } && page.charts.contains { $0.id == "plan-0-zoom" })
        #expect(
            html.contains(">budget<") && html.contains("How far can this host be overcommitted?")
                && html.contains("<td>no-tax</td>"))
    }

    @Test("--study plans its traces with its policies and seeds; what plan does not use is named on stderr")
    func study() throws {
        let s = Scratch()
        let spec = """
            {"traces": ["\(Self.sample)"], "policies": ["esx", "swap-only"], "seeds": [4, 9], "host": {"overcommit": 1.5}, "until": "30s", "output": "out"}
            """
        try Data(spec.utf8).write(to: URL(fileURLWithPath: s.file("study.json")))
        let r = try CLI.run(["plan", "--study", s.file("study.json"), "--format", "json", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            r.stderr.contains("host.overcommit is not used") && r.stderr.split(separator: "\n").count == 1,
            "\(r.stderr)")
        let j = try Self.json(r.stdout)
        #expect(j["seeds"] as? Int == 2)
        let t = (j["traces"] as! [[String: Any]])[0]
        #expect((t["answers"] as! [[String: Any]]).map { $0["policy"] as! String } == ["esx", "swap-only"])
        // The seeds are the study's: the first point's values are replays with seeds 4 and 9.
        let first = ((t["curves"] as! [[String: Any]])[0]["points"] as! [[String: Any]])[0]
        let seedValues = first["seedSlowdownPercent"] as! [Double]
        for (i, seed) in ["4", "9"].enumerated() {
            let p = try CLI.run([
                "replay", Self.sample, "--overcommit", "1", "--seed", seed, "--until", "30s", "--format", "json",
                "--quiet",
            ])
            #expect(
                abs(
                    100 * (((try Self.json(p.stdout))["cost"] as! [String: Any])["worstVMSlowdown"] as! Double)
                        - seedValues[i]) < 1e-9)
        }
    }

    @Test("Bad options: one line, exit 64, nothing written")
    func errors() throws {
        let s = Scratch()
        for (args, what) in [
            (["--slowdown", "2"], "write it with %"), (["--slowdown", "0%"], "more than 0%"),
            (["--measure", "vm"], "worst-vm or all"),
            (["--from", "2", "--to", "1"], "0 < from ≤ to"), (["--seeds", "0"], "--seeds must be in"),
            (["--precision", "0"], "--precision"),
            (["--policy", "esxx"], "did you mean"), (["--set", "idleTaxx=0.5"], "did you mean"),
        ] {
            let r = try CLI.run(["plan", Self.sample, "-o", s.file("p.txt")] + args)
            #expect(
                r.status == CLI.usage && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(what),
                "\(args): \(r.stderr)")
        }
        let none = try CLI.run(["plan"])
        #expect(none.status == CLI.usage && none.stderr.contains("plan needs a trace"))
        let both = try CLI.run(["plan", "--study", s.file("x.json"), "--policy", "esx"])
        #expect(both.status == CLI.usage && both.stderr.contains("--study gives the policies"))
        #expect(!FileManager.default.fileExists(atPath: s.file("p.txt")))
    }
}
