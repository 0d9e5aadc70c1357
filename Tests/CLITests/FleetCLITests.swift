import Foundation
import Testing
import TraceFormat

/// `fingerprint`, `gen fleet`, `place` and `convert --from elf-dump` as a user runs them
/// (docs/FLEET.md).
@Suite("Fleet commands")
struct FleetCLITests {
    static func scratch() throws -> String {
        let d = NSTemporaryDirectory() + "tracetool-fleetcli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func json(_ s: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    /// The bundled traces, their saving by exact fingerprints, by k = 4096 sketches, and by a
    /// replay whose scan visits every page (docs/FLEET.md, "How good the estimates are").
    @Test(
        "Fingerprints against exact replay on every bundled trace: exact sketches give the replay's saving; k = 4096 within three standard errors",
        arguments: [
            "sample.mtr.zst", "qemu4vm.mtr.zst", "capture-4vm.mtr.zst", "capture-identical5.mtr.zst",
            "capture-4vm-sized.mtr.zst", "capture-identical5-sized.mtr.zst", "server-mix.mtr.zst",
            "server-identical5.mtr.zst",
        ])
    func estimates(_ name: String) throws {
        let trace = CLI.packageRoot + "/traces/" + name
        func group(_ args: [String]) throws -> [String: Any] {
            let r = try CLI.run(["fingerprint", trace, "--format", "json", "--pairs", "0"] + args)
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(try Self.json(CLI.unstamped(r.stdout))["group"] as? [String: Any])
        }
        let exact = try group(["--k", "1048576"]), sketched = try group([])
        // The default policy, settled for two full passes of the scan over the largest VM at the
        // rate each VM gets (min(50, 200 / VMs) pages/s): every duplicate found, whatever the
        // trace left half-scanned.
        let header = try TraceFile.open(trace).header
        let rate = min(50, 200 / Double(header.vms.count))
        let settle = Int(2 * Double(header.vms.map(\.pages).max() ?? 0) / rate) + 60
        let replay = try CLI.run(["replay", trace, "--settle", "\(settle)s", "--format", "json", "--quiet"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let sharing = try #require(try Self.json(CLI.unstamped(replay.stdout))["sharing"] as? [String: Any])
        let replayed = try #require(sharing["savedPages"] as? Double)
        let e = try #require(exact["savedPages"] as? Double), s = try #require(sketched["savedPages"] as? Double)
        let held = try #require(exact["heldPages"] as? Double),
            footprint = try #require(exact["footprintPages"] as? Double)
        #expect(exact["exact"] as? Bool == true)
        #expect(e == replayed, "\(name): exact fingerprints save \(e) pages, the replay \(replayed)")
        // The sketch estimates distinct contents; its error lands on the footprint.
        let bound = 3 * footprint / (4096 - 2).squareRoot()
        print(
            "\(name): held \(Int(held)) pages; saved: replay \(Int(replayed)), exact \(Int(e)), k=4096 \(String(format: "%.0f", s)) (error \(String(format: "%+.2f", 100 * (s - e) / held))% of held, bound ±\(String(format: "%.2f", 100 * bound / held))%)"
        )
        #expect(abs(s - e) <= bound)
    }

    @Test("gen fleet: same seed, same bytes; a VM starts as its template was at its shift; private contents as asked")
    func genFleet() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let template = CLI.packageRoot + "/traces/capture-identical5.mtr.zst"
        func gen(_ out: String, _ extra: [String]) throws {
            let r = try CLI.run(
                ["gen", "fleet", out, "--template", template, "--vms", "4", "--seed", "7", "--duration", "30s"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
        }
        try gen(d + "/a", ["--private-fraction", "0"])
        try gen(d + "/b", ["--private-fraction", "0"])
        try gen(d + "/c", ["--private-fraction", "1"])
        try gen(d + "/p", ["--private-fraction", "0.25"])
        let tsv = try String(contentsOfFile: d + "/a/fleet.tsv", encoding: .utf8)
        let rows = tsv.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.count == 4)
        for row in rows {
            let file = row[1]
            #expect(
                FileManager.default.contents(atPath: d + "/a/" + file)
                    == FileManager.default.contents(atPath: d + "/b/" + file))
            let (header, _) = try TraceFile.validate(d + "/a/" + file)
            #expect(header.vms.count == 1 && header.vms[0].name == row[2])
            #expect(header.capture.source == "gen-fleet" && header.capture.details?["template.name"] == row[5])
            // At time 0 the VM holds what its template held at its shift.
            let shift = try #require(header.capture.details?["shiftMicros"])
            func fp(_ args: [String]) throws -> [String: Any] {
                let r = try CLI.run(["fingerprint", "--format", "json", "--pairs", "0", "--k", "1048576"] + args)
                #expect(r.status == 0, "\(r.stderr)")
                return try #require(
                    (try Self.json(CLI.unstamped(r.stdout))["vms"] as? [[String: Any]])?.first {
                        $0["name"] as? String == row[5] || $0["name"] as? String == row[2]
                    })
            }
            let fleetVM = try fp([d + "/a/" + file, "--at", "0s"])
            let templateVM = try fp([template, "--at", shift + "us"])
            for key in ["contentPages", "zeroPages", "unknownPages", "distinctContents", "heldPages"] {
                #expect(fleetVM[key] as? Int == templateVM[key] as? Int, "\(file) \(key)")
            }
            // With every content private, no digest of the template is left.
            let c0 = try FleetCLITests.digests(d + "/c/" + file), t0 = try FleetCLITests.digests(template)
            #expect(c0.isDisjoint(with: t0))
            // A quarter private: about three quarters of its distinct digests are the template's.
            let p = try FleetCLITests.digests(d + "/p/" + file), a = try FleetCLITests.digests(d + "/a/" + file)
            let kept = Double(p.intersection(a).count) / Double(a.count)
            #expect(abs(kept - 0.75) < 0.03, "\(file): \(kept) of its digests kept")
        }
        // Refusals: one line each.
        for (args, expected) in [
            (["gen", "fleet", d + "/a", "--template", template], "not empty"),
            (["gen", "fleet", d + "/n"], "at least one --template"),
            (["gen", "fleet", d + "/n", "--template", template, "--private-fraction", "2"], "between 0 and 1"),
            (["gen", "fleet", d + "/n", "--template", template, "--pages", "5"], "does not use --pages"),
            (["gen", "mix", d + "/m.mtr.zst", "--template", template], "options of gen fleet"),
        ] {
            let r = try CLI.run(args)
            #expect(
                r.status == CLI.usage && r.stderr.contains(expected) && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.stderr)")
        }
    }

    /// The distinct non-zero digests of a trace.
    static func digests(_ path: String) throws -> Set<UInt64> {
        let r = try TraceFile.open(path)
        var out = Set<UInt64>(), batch: [TraceRecord] = []
        while try r.next(into: &batch) {
            for x in batch where x.kind == .content && x.hash.rawValue != 0 { out.insert(x.hash.rawValue) }
        }
        return out
    }

    @Test(
        "place on a small fleet: both placements, every host replayed, the sharing-aware one uses fewer hosts; the same report twice"
    )
    func place() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let t = CLI.packageRoot + "/traces/"
        let g = try CLI.run([
            "gen", "fleet", d + "/fleet", "--template", t + "capture-identical5.mtr.zst", "--template",
            t + "capture-4vm.mtr.zst",
            "--vms", "12", "--seed", "3", "--duration", "20s",
        ])
        #expect(g.status == 0, "\(g.stderr)")
        var reports: [String] = []
        for out in ["p1", "p2"] {
            let r = try CLI.run([
                "place", d + "/fleet", "--host-memory", "640MiB", "-o", d + "/" + out, "--format", "json", "--quiet",
            ])
            #expect(r.status == 0, "\(r.stderr)")
            reports.append(CLI.unstamped(r.stdout))
            #expect(FileManager.default.fileExists(atPath: d + "/" + out + "/study/merged.csv"))
            #expect(FileManager.default.fileExists(atPath: d + "/" + out + "/report.json"))
        }
        #expect(reports[0] == reports[1])
        let j = try Self.json(reports[0])
        let ps = try #require(j["placements"] as? [[String: Any]])
        #expect(ps.map { $0["method"] as? String } == ["ffd", "sharing-aware"])
        let ffdHosts = try #require(ps[0]["hosts"] as? Int), awareHosts = try #require(ps[1]["hosts"] as? Int)
        #expect(awareHosts < ffdHosts)
        for p in ps {
            for h in try #require(p["hostList"] as? [[String: Any]]) {
                let r = try #require(h["replayed"] as? [String: Any])
                let est = try #require(h["estimatedSavedMiB"] as? Double), got = try #require(r["savedMiB"] as? Double)
                // Each host's replayed saving within 15% of its estimate, and no VM slowed by more than 1%.
                #expect(
                    abs(got - est) <= 0.1 * est, "\(p["method"]!) host \(h["id"]!): estimated \(est), replayed \(got)"
                )
                #expect((r["worstVMSlowdown"] as? Double ?? 1) < 0.01)
                #expect(r["refusedVMs"] as? Int == 0 && r["scanUnfinishedVMs"] as? Int == 0)
            }
        }
        // Each VM on exactly one host, in both.
        for p in ps {
            let names = try #require(p["hostList"] as? [[String: Any]]).flatMap { $0["vms"] as? [String] ?? [] }
            #expect(names.count == 12 && Set(names).count == 12)
        }
        // --no-replay leaves a study that `study plan` reads: one cell per host.
        let n = try CLI.run([
            "place", d + "/fleet", "--host-memory", "640MiB", "-o", d + "/p3", "--no-replay", "--quiet",
        ])
        #expect(n.status == 0 && n.stdout.contains("not replayed"), "\(n.stderr)")
        let plan = try CLI.run(["study", "plan", d + "/p3/study.json"])
        let cells = plan.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(plan.status == 0 && cells.count == ffdHosts + awareHosts, "\(plan.stdout)\(plan.stderr)")
        // Refusals.
        for (args, expected, status) in [
            (["place", d + "/fleet", "--host-memory", "1MiB", "-o", d + "/p4"], "no room for a VM", CLI.usage),
            (["place", d + "/fleet", "--host-memory", "640", "-o", d + "/p4"], "--host-memory", CLI.usage),
            (
                ["place", d + "/fleet", "--host-memory", "1GiB", "-o", d + "/fleet/vm0000.mtr.zst"], "not a folder",
                CLI.usage
            ),
            (
                ["place", d + "/fleet", d + "/fleet", "--host-memory", "1GiB", "-o", d + "/p5"], "listed twice",
                CLI.usage
            ),
            (["place", d + "/empty", "--host-memory", "1GiB", "-o", d + "/p6"], "cannot open", CLI.failure),
        ] {
            let r = try CLI.run(args)
            #expect(
                r.status == status && r.stderr.contains(expected) && r.stderr.split(separator: "\n").count == 1,
                "\(args): \(r.stderr)")
        }
    }

    @Test("fingerprint: a file written and read back gives the same report; inputs of different k refused")
    func fingerprintFile() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let t = CLI.packageRoot + "/traces/capture-4vm.mtr.zst"
        let a = try CLI.run(["fingerprint", t, "-o", d + "/fp.json"])
        let b = try CLI.run(["fingerprint", d + "/fp.json"])
        #expect(a.status == 0 && b.status == 0)
        #expect(CLI.unstamped(a.stdout) == CLI.unstamped(b.stdout))
        let c = try CLI.run(["fingerprint", d + "/fp.json", "--k", "64"])
        #expect(c.status == CLI.failure && c.stderr.contains("give --k 4096"))
        let at = try CLI.run(["fingerprint", d + "/fp.json", "--at", "10s"])
        #expect(at.status == CLI.usage && at.stderr.contains("--at applies to traces"))
        let q = try CLI.run(["fingerprint", CLI.packageRoot + "/traces/qemu4vm.mtr.zst", t])
        #expect(q.status == CLI.failure && q.stderr.contains("digests of different hashes cannot be compared"))
    }
}
