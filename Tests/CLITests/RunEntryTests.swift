@testable import Analyzer
import Foundation
import Replay
import Testing

/// Every command replays through one entry point (`ReplayRunner`), so one run — a trace, a
/// policy, a host, a settle — gives the same report whichever command ran it.
@Suite("One replay entry point")
struct RunEntryTests {
    static let trace = CLI.packageRoot + "/traces/capture-4vm.mtr.zst"

    static func report(_ json: Data) throws -> String {
        ReplayReportRenderer.json(try JSONDecoder().decode(ReplayReport.self, from: json))
    }

    @Test(
        "The same run through replay, compare (beside another policy), a study and reproduce: byte-identical JSON reports"
    )
    func sameReportEverywhere() throws {
        let s = Scratch()
        // reproduce's run: esx at overcommit 2, no settle, named after the trace's file.
        let replay = try CLI.run([
            "replay", Self.trace, "--policy", "esx", "--overcommit", "2", "--format", "json", "--quiet",
        ])
        #expect(replay.status == 0, "\(replay.stderr)")

        let compare = try CLI.run([
            "compare", Self.trace, "--policy", "esx", "--policy", "swap-only", "--overcommit", "2", "--format", "json",
            "--quiet",
        ])
        #expect(compare.status == 0, "\(compare.stderr)")
        let runs =
            (try JSONSerialization.jsonObject(with: Data(compare.stdout.utf8)) as! [String: Any])["runs"] as! [Any]
        #expect(try Self.report(JSONSerialization.data(withJSONObject: runs[0])) == CLI.unstamped(replay.stdout))

        let study = """
            {"traces": ["\(Self.trace)"], "policies": ["esx"], "host": {"overcommit": 2}, "output": "\(s.file("out"))"}
            """
        try Data(study.utf8).write(to: URL(fileURLWithPath: s.file("s.json")))
        let st = try CLI.run(["study", "local", s.file("s.json"), "--jobs", "2", "--quiet"])
        #expect(st.status == 0, "\(st.stderr)")
        let cell = try JSONDecoder().decode(
            StudyCellResult.self, from: Data(contentsOf: URL(fileURLWithPath: s.file("out/cells/0.json"))))
        #expect(ReplayReportRenderer.json(cell.report!) == CLI.unstamped(replay.stdout))

        let plan = ReproductionPlan(ReproductionSettings.make(quick: false))
        let run = plan.runs[plan.index["pressure-capture-4vm.mtr.zst-esx"]!]
        #expect(run.policyName == "esx")
        let outcome = try ReproductionRunner.replay(path: Self.trace, run)
        #expect(ReplayReportRenderer.json(outcome.report!) == CLI.unstamped(replay.stdout))
    }
}
