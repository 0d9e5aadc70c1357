import Foundation
import Testing
import TraceFormat

/// `tracetool --version` and the build every report names (docs/REPORT.md "The build").
@Suite("The build: --version and report headers")
struct BuildInfoTests {
    static let sample = CLI.packageRoot + "/traces/sample.mtr.zst"

    @Test("--version gives the version, commit, build date, and the format and schema versions")
    func version() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "tracetool \(BuildInfo.version)")
        #expect(lines.contains("commit        \(BuildInfo.commit)"))
        #expect(lines.contains("built         \(BuildInfo.date)"))
        #expect(
            lines.contains(
                "binary traces read version 1–\(TraceFormatVersion.current), write version \(TraceFormatVersion.current)"
            ))
        #expect(lines.contains { $0.hasPrefix("reports       replay/compare schema 3, plan schema 1, stats schema 5") })
        #expect(!BuildInfo.commit.isEmpty && !BuildInfo.date.isEmpty)
    }

    @Test("Every report names its build: text first line, JSON tool member, HTML and Markdown a line; CSV untouched")
    func stamps() throws {
        let s = Scratch()
        let line = BuildInfo.reportLine
        let text = try CLI.run(["replay", Self.sample, "--until", "10s", "--quiet"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix(line + "\ntrace "))
        for args in [
            ["replay", Self.sample, "--until", "10s", "--format", "json", "--html", s.file("r.html")],
            ["compare", Self.sample, "--policy", "esx", "--policy", "ksm", "--until", "10s", "--format", "json"],
            ["stats", Self.sample, "--format", "json"],
        ] {
            let r = try CLI.run(args + (args[0] == "stats" ? [] : ["--quiet"]))
            #expect(r.status == 0, "\(args): \(r.stderr)")
            let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let tool = doc?["tool"] as? [String: String]
            #expect(
                tool == [
                    "name": "tracetool", "version": BuildInfo.version, "commit": BuildInfo.commit,
                    "builtDate": BuildInfo.date,
                ],
                "\(args)")
            // Without the stamp the JSON is what it was: still one object, `tool` gone.
            let bare = try JSONSerialization.jsonObject(with: Data(CLI.unstamped(r.stdout).utf8)) as? [String: Any]
            #expect(bare?["tool"] == nil && bare?.count == (doc?.count ?? 0) - 1)
        }
        let html = try String(contentsOfFile: s.file("r.html"), encoding: .utf8)
        #expect(html.contains("<body><p class=\"build\">\(line)</p>"))
        let csv = try CLI.run([
            "compare", Self.sample, "--policy", "esx", "--until", "10s", "--format", "csv", "--quiet",
        ])
        #expect(csv.stdout.hasPrefix("policy,host_mib,"))
    }
}
