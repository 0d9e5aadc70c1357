import Foundation
import Testing

/// `tracetool study`: plan, run, local, merge and the skip of cells already done, on small
/// studies of real trace files; the Slurm path in a gated test.
@Suite("Studies")
struct StudyTests {
    static func write(_ s: Scratch, _ name: String, _ json: String) -> String {
        let p = s.file(name)
        #expect(FileManager.default.createFile(atPath: p, contents: Data(json.utf8)))
        return p
    }

    static func cellFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cells")) ?? []).filter { $0.hasSuffix(".json") }
            .sorted()
    }

    @Test(
        "The example study: study local, and study run --cell I for every cell then study merge, give byte-identical merged CSVs; merged.json holds the same table"
    )
    func example() throws {
        let s = Scratch()
        let study = CLI.packageRoot + "/scripts/study-example.json"
        let plan = try CLI.run(["study", "plan", study])
        #expect(plan.status == 0, "\(plan.stderr)")
        let lines = plan.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        // ≥ 2 traces × ≥ 2 policies × ≥ 2 seeds, ids 0…N−1 in order.
        #expect(lines.count == 8)
        for (i, l) in lines.enumerated() { #expect(l.hasPrefix("\(i) ")) }
        #expect(Set(lines.map { $0.split(separator: " ")[2] }).count == 2)
        #expect(lines.contains { $0.hasSuffix("swap-only seed=2") })

        let local = try CLI.run(["study", "local", study, "--out", s.file("local"), "--quiet"])
        #expect(local.status == 0 && local.stderr.contains("ran 8 cells (0 failed), skipped 0"), "\(local.stderr)")
        #expect(try CLI.run(["study", "merge", study, "--out", s.file("local")]).status == 0)
        for i in 0..<8 {
            let r = try CLI.run(["study", "run", study, "--cell", String(i), "--out", s.file("cells"), "--quiet"])
            #expect(r.status == 0 && r.stderr.contains("ran 1 cells"), "\(r.stderr)")
        }
        let merge = try CLI.run(["study", "merge", study, "--out", s.file("cells")])
        #expect(merge.status == 0 && merge.stderr.contains("merged 8 of 8 cells"), "\(merge.stderr)")
        let a = try String(contentsOfFile: s.file("local/merged.csv"), encoding: .utf8)
        let b = try String(contentsOfFile: s.file("cells/merged.csv"), encoding: .utf8)
        #expect(a == b)
        // Every cell's result file is the same too.
        for f in StudyTests.cellFiles(s.file("local")) {
            #expect(
                FileManager.default.contents(atPath: s.file("local/cells/" + f))
                    == FileManager.default.contents(atPath: s.file("cells/cells/" + f)), "\(f)")
        }
        // The CSV: cell and trace first, then compare's columns; per cell a host row and a row per VM.
        let rows = a.split(separator: "\n")
        #expect(rows[0].hasPrefix("cell,trace,policy,host_mib,overcommit_ratio,seed,vm_id,vm_name,"))
        #expect(rows.filter { $0.contains(",all,") }.count == 8)
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.file("local/merged.json"))))
            as! [String: Any]
        #expect((json["rows"] as! [[Any]]).count == rows.count - 1)
        #expect((json["columns"] as! [String]).joined(separator: ",") == rows[0])
        #expect((json["missing"] as! [Any]).isEmpty)
        let html = try String(contentsOfFile: s.file("local/report.html"), encoding: .utf8)
        #expect(html.contains("tracetool study: 8 of 8 cells"))
        #expect(HTMLPage(html).problems().isEmpty, "\(HTMLPage(html).problems().prefix(3))")
    }

    @Test(
        "Reruns do only what is missing: a deleted result is redone, a changed input redoes all, a missing cell is listed by merge with exit 1"
    )
    func skipAndMissing() throws {
        let s = Scratch()
        try FileManager.default.copyItem(
            atPath: CLI.packageRoot + "/traces/sample.mtr.zst", toPath: s.file("a.mtr.zst"))
        #expect(
            try CLI.run([
                "gen", "mix", s.file("b.mtr.zst"), "--vms", "2", "--pages", "512", "--records", "20000", "--seed", "4",
            ]).status == 0)
        let body =
            #"{"traces": ["*.mtr.zst"], "policies": ["esx", "swap-only"], "sweep": [{"key": "idleTax", "values": [0, 0.5]}], "host": {"overcommit": 1.5}, "output": "res", "settle": "SETTLE"}"#
        let study = StudyTests.write(s, "s.json", body.replacingOccurrences(of: "SETTLE", with: "10s"))
        let plan = try CLI.run(["study", "plan", study]).stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(plan.count == 8)
        #expect(
            plan[0].contains(" a.mtr.zst esx idleTax=0") && plan[7].contains(" b.mtr.zst swap-only idleTax=0.5"),
            "\(plan)")
        var r = try CLI.run(["study", "run", study, "--cells", "0..3", "--quiet"])
        #expect(r.status == 0 && r.stderr.contains("ran 4 cells"))
        // `run` hashes only its cells' traces; the hash it records is the one `plan` prints.
        let cell0 =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.file("res/cells/0.json"))))
            as! [String: Any]
        #expect(cell0["inputHash"] as? String == String(plan[0].split(separator: " ")[1]))
        #expect(try CLI.run(["study", "run", study, "--cells", "0..100000"]).stderr.contains("at most 100000 cells"))
        // Merge with half the cells: the others are listed, the status is 1, the outputs are written.
        r = try CLI.run(["study", "merge", study])
        #expect(
            r.status == 1 && r.stderr.contains("merged 4 of 8 cells") && r.stderr.contains("4 missing")
                && r.stderr.contains("cell 4 (b.mtr.zst, esx idleTax=0) missing: not run"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("and 1 more"))
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.file("res/merged.json"))))
            as! [String: Any]
        #expect((json["missing"] as! [[String: Any]]).map { $0["cell"] as! Int } == [4, 5, 6, 7])
        #expect(
            try String(contentsOfFile: s.file("res/report.html"), encoding: .utf8).contains(
                "4 of 8 cells have no result"))
        r = try CLI.run(["study", "local", study, "--quiet"])
        #expect(r.stderr.contains("ran 4 cells (0 failed), skipped 4 already done"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: s.file("res/cells/2.json"))
        r = try CLI.run(["study", "local", study, "--quiet"])
        #expect(r.stderr.contains("ran 1 cells (0 failed), skipped 7"), "\(r.stderr)")
        // Another settle changes every cell's input hash: all are run again.
        let before = try CLI.run(["study", "plan", study]).stdout
        #expect(
            FileManager.default.createFile(
                atPath: study, contents: Data(body.replacingOccurrences(of: "SETTLE", with: "20s").utf8)))
        let after = try CLI.run(["study", "plan", study]).stdout
        #expect(
            zip(before.split(separator: "\n").dropFirst(), after.split(separator: "\n").dropFirst()).allSatisfy {
                $0.split(separator: " ")[1] != $1.split(separator: " ")[1]
            })
        r = try CLI.run(["study", "merge", study])
        #expect(r.status == 1 && r.stderr.contains("missing: stale"), "\(r.stderr)")
        r = try CLI.run(["study", "local", study, "--quiet"])
        #expect(r.stderr.contains("ran 8 cells (0 failed), skipped 0"), "\(r.stderr)")
        #expect(try CLI.run(["study", "merge", study]).status == 0)
    }

    @Test(
        "Killed midway (SIGKILL after the first results), a rerun finishes only the missing cells, and the merge equals an uninterrupted run's"
    )
    func killed() throws {
        let s = Scratch()
        // Two traces: the first trace's cells finish in one pass, the second is long enough to kill.
        #expect(
            try CLI.run([
                "gen", "mix", s.file("a.mtr.zst"), "--vms", "2", "--pages", "512", "--records", "20000", "--seed", "1",
            ]).status == 0)
        #expect(
            try CLI.run([
                "gen", "mix", s.file("b.mtr.zst"), "--vms", "8", "--pages", "16384", "--records", "3000000", "--seed",
                "2",
            ]).status == 0)
        let study = StudyTests.write(
            s, "s.json",
            #"{"traces": ["a.mtr.zst", "b.mtr.zst"], "policies": ["esx", "swap-only"], "seeds": [1, 2], "host": {"overcommit": 1.5}, "output": "res"}"#
        )
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["study", "local", study, "--jobs", "1", "--quiet"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        let dir = s.file("res")
        let deadline = Date().addingTimeInterval(120)
        while StudyTests.cellFiles(dir).isEmpty && p.isRunning && Date() < deadline { usleep(20_000) }
        let killedWhileRunning = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let done = StudyTests.cellFiles(dir).count
        // No temporary file is taken for a result.
        #expect(
            StudyTests.cellFiles(dir).allSatisfy {
                $0.range(of: #"^[0-9]+(\.error)?\.json$"#, options: .regularExpression) != nil
            })
        let r = try CLI.run(["study", "local", study, "--quiet"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("ran \(8 - done) cells (0 failed), skipped \(done) already done"), "\(r.stderr)")
        if killedWhileRunning { #expect(done >= 1 && done < 8, "\(done) results when killed") }
        #expect(try CLI.run(["study", "merge", study]).status == 0)
        #expect(try CLI.run(["study", "local", study, "--out", s.file("whole"), "--quiet"]).status == 0)
        #expect(try CLI.run(["study", "merge", study, "--out", s.file("whole")]).status == 0)
        #expect(
            try String(contentsOfFile: s.file("res/merged.csv"), encoding: .utf8)
                == String(contentsOfFile: s.file("whole/merged.csv"), encoding: .utf8))
    }

    @Test(
        "A cell whose trace is corrupt fails alone: its error file holds the message, the other cells run, merge lists it as failed with exit 1"
    )
    func failedCell() throws {
        let s = Scratch()
        let sample = try Data(contentsOf: URL(fileURLWithPath: CLI.packageRoot + "/traces/sample.mtr.zst"))
        try sample.write(to: URL(fileURLWithPath: s.file("good.mtr.zst")))
        try sample.prefix(300_000).write(to: URL(fileURLWithPath: s.file("bad.mtr.zst")))
        let study = StudyTests.write(
            s, "s.json", #"{"traces": ["bad.mtr.zst", "good.mtr.zst"], "policies": ["esx", "no-tax"], "output": "res"}"#
        )
        let r = try CLI.run(["study", "local", study])
        #expect(r.status == 1 && r.stderr.contains("ran 4 cells (2 failed)"), "\(r.stderr)")
        #expect(StudyTests.cellFiles(s.file("res")) == ["0.error.json", "1.error.json", "2.json", "3.json"])
        let m = try CLI.run(["study", "merge", study])
        #expect(
            m.status == 1 && m.stderr.contains("cell 0 (bad.mtr.zst, esx) missing: failed: bad.mtr.zst: ")
                && m.stderr.contains("truncated"), "\(m.stderr)")
        #expect(m.stderr.contains("merged 2 of 4 cells"))
    }

    @Test("Bad study files and options: one line naming the key, exit 64")
    func badStudies() throws {
        let s = Scratch()
        try FileManager.default.copyItem(
            atPath: CLI.packageRoot + "/traces/sample.mtr.zst", toPath: s.file("a.mtr.zst"))
        try FileManager.default.createDirectory(atPath: s.file("dir.mtr.zst"), withIntermediateDirectories: true)
        let cases: [(String, String)] = [
            (#"{"traces": ["a.mtr.zst"], "polices": ["esx"]}"#, "unknown key \"polices\""),
            (#"{"policies": ["esx"]}"#, "\"traces\" is missing"),
            (#"{"traces": ["none*.mtr.zst"]}"#, "matches no file"),
            (#"{"traces": ["none.mtr.zst"]}"#, "trace none.mtr.zst: no such file"),
            (#"{"traces": ["dir.mtr.zst"]}"#, "a directory, not a trace file"),
            (#"{"traces": ["a.mtr.zst"], "policies": ["nosuch"]}"#, "policies[0] nosuch"),
            (#"{"traces": ["a.mtr.zst"], "sweep": [{"key": "idleTax", "values": [2]}]}"#, "idleTax"),
            (#"{"traces": ["a.mtr.zst"], "sweep": [{"key": "bogus", "values": [1]}]}"#, "not a knob"),
            (#"{"traces": ["a.mtr.zst"], "seeds": [1, 1]}"#, "lists a seed twice"),
            (#"{"traces": ["a.mtr.zst"], "seeds": [-1]}"#, "unsigned integers"),
            (#"{"traces": ["a.mtr.zst"], "settle": "soon"}"#, "\"settle\" must be a duration"),
            (#"{"traces": ["a.mtr.zst"], "host": {"memory": "1GiB", "overcommit": 2}}"#, "not both"),
            (
                #"{"traces": ["a.mtr.zst"], "sweep": [{"key": "seed", "values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, {"key": "idleTax", "values": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.71, 0.72]}, {"key": "shareScanVM", "values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}, {"key": "overcommit", "values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, {"key": "samplePeriod", "values": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}]}"#,
                "more than 100000"
            ),
            ("[1, 2]", "must be a JSON object"),
            ("{", "not JSON"),
        ]
        for (i, (body, message)) in cases.enumerated() {
            let study = StudyTests.write(s, "s\(i).json", body)
            let r = try CLI.run(["study", "plan", study])
            #expect(
                r.status == CLI.usage && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                "\(body): \(r.stderr)")
        }
        let ok = StudyTests.write(s, "ok.json", #"{"traces": ["a.mtr.zst"], "output": "res"}"#)
        for (args, message) in [
            (["study", "run", ok], "name the cells"), (["study", "run", ok, "--cell", "1"], "no cell 1"),
            (["study", "run", ok, "--cells", "3..1"], "expected I..J"),
            (["study", "run", ok, "--cell-from-env"], "neither SLURM_ARRAY_TASK_ID"),
        ] {
            let r = try CLI.run(args)
            #expect(r.status == CLI.usage && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        // A trace where the results go (OUT/cells/, or a file the merge writes): refused before any work.
        try FileManager.default.createDirectory(atPath: s.file("out/cells"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: s.file("a.mtr.zst"), toPath: s.file("out/cells/a.mtr.zst"))
        try FileManager.default.copyItem(atPath: s.file("a.mtr.zst"), toPath: s.file("out/report.html"))
        for (body, message) in [
            (#"{"traces": ["out/cells/a.mtr.zst"], "output": "out"}"#, "where the study writes its results"),
            (#"{"traces": ["out/report.html"], "output": "./out/../out"}"#, "one of the files the merge writes"),
        ] {
            let study = StudyTests.write(s, "inside.json", body)
            for cmd in ["local", "merge"] {
                let r = try CLI.run(["study", cmd, study])
                #expect(
                    r.status == CLI.usage && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1,
                    "\(body): \(r.stderr)")
            }
        }
        #expect(
            FileManager.default.contents(atPath: s.file("out/report.html"))
                == FileManager.default.contents(atPath: s.file("a.mtr.zst")))
        // The output folder is a file: refused before any work.
        #expect(FileManager.default.createFile(atPath: s.file("res"), contents: Data()))
        let r = try CLI.run(["study", "local", ok])
        #expect(r.status == CLI.usage && r.stderr.contains("not a folder"), "\(r.stderr)")
    }

    @Test(
        "On a real Slurm (TRACETOOL_SLURM_TESTS=1): the example study as an array job and a dependent merge equals study local byte for byte",
        .enabled(if: ProcessInfo.processInfo.environment["TRACETOOL_SLURM_TESTS"] == "1"))
    func slurm() throws {
        let (status, text) = try CLI.script("slurm-local.sh")
        #expect(status == 0, "\(text.suffix(2000))")
        #expect(text.contains("gave the same merged.csv as study local"))
    }
}
