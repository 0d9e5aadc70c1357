import Foundation
import Testing

/// `compare --sweep` repeated: a grid in a documented order, with replay's options.
@Suite("compare: sweep grids and replay's options")
struct CompareGridTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    @Test("Two sweeps give policies × cells runs, the last sweep varying fastest; --set, --seed and --vm apply to every run")
    func grid() throws {
        let r = try CLI.run(["compare", Self.sample, "--policy", "esx", "--policy", "no-tax", "--sweep", "overcommit=1,2",
                             "--sweep", "seed=1,2,3", "--set", "hashBits=32", "--vm", "0:shares=5000", "--until", "20s",
                             "--format", "json", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let runs = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["policies"] as! [[String: Any]]
        var expected: [String] = []
        for p in ["esx", "no-tax"] {
            for o in ["1", "2"] { for s in ["1", "2", "3"] { expected.append("\(p) + hashBits=32 overcommit=\(o) seed=\(s)") } }
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
        let one = try CLI.run(["compare", Self.sample, "--sweep", "overcommit=1,2", "--sweep", "idleTax=0,0.75", "--until", "20s",
                               "--format", "csv", "--jobs", "1", "--quiet"])
        let two = try CLI.run(["compare", Self.sample, "--sweep", "overcommit=1,2", "--sweep", "idleTax=0,0.75", "--until", "20s",
                               "--format", "csv", "--jobs", "2", "--quiet"])
        #expect(one.status == 0 && one.stdout == two.stdout && one.stdout.split(separator: "\n").count == 5)
    }

    @Test("compare --timeline: one long CSV; each run's rows are replay's --timeline rows for that run")
    func longTimeline() throws {
        let s = Scratch()
        let c = try CLI.run(["compare", Self.sample, "--policy", "esx", "--policy", "no-tax", "--sweep", "overcommit=1,2",
                             "--timeline", s.file("c.csv"), "--timeline-interval", "30s", "--quiet"])
        #expect(c.status == 0, "\(c.stderr)")
        let lines = try String(contentsOfFile: s.file("c.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("policy,overcommit,time_s,vm,"))
        for (policy, oc) in [("esx", "1"), ("no-tax", "2")] {
            let r = try CLI.run(["replay", Self.sample, "--policy", policy, "--overcommit", oc, "--timeline", s.file("r.csv"),
                                 "--timeline-interval", "30s", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let replayRows = try String(contentsOfFile: s.file("r.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
            let slice = lines.dropFirst().filter { $0.hasPrefix("\(policy),\(oc),") }.map { String($0.dropFirst(policy.count + oc.count + 2)) }
            #expect(!slice.isEmpty && slice == replayRows, "\(policy) overcommit=\(oc)")
        }
        #expect(lines.count == 1 + 4 * (lines.count - 1) / 4)
    }

    @Test("A key swept twice, a host size both swept and fixed, an unknown key: one line, exit 64")
    func refusals() throws {
        for (args, message) in [(["--sweep", "overcommit=1", "--sweep", "overcommit=2"], "given twice"),
                                (["--sweep", "overcommit=1,2", "--host-memory", "1GiB"], "both set the host's memory"),
                                (["--sweep", "overcommit=1", "--sweep", "host-memory=1GiB"], "sweep one"),
                                (["--sweep", "seed=1,2", "--seed", "3"], "both set the seed"),
                                (["--sweep", "bogus=1"], "not a knob"),
                                (["--sweep", "idleTax=0,,1"], "an empty value"),
                                (["--sweep", "seed=-1"], "not an unsigned integer")] {
            let r = try CLI.run(["compare", Self.sample, "--quiet"] + args)
            #expect(r.status == CLI.usage && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
